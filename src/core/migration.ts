/**
 * The SQL that makes tables tenant-scoped: roles, grants, the registry, ENABLE and FORCE row level
 * security, the policies, the tenant index and the non-empty check. `up` is idempotent (running
 * it twice is harmless); `down` removes what `up` added and never a row of data.
 *
 * Only names from configuration and from the schema appear in this SQL, never a tenant id; the
 * `DO` blocks hold names that {@link resolveOptions} or {@link tableSpec} checked.
 *
 * @module
 */
import { TenantError } from './errors.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from './options.js'
import { createPolicySql, dropPolicySql, POLICY_NAMES, tenantPolicies } from './policy.js'
import { qualified, quoteIdent, quoteLiteral } from './quote.js'
import { byteLength, MAX_IDENTIFIER_BYTES, type TenantColumnType } from './tenant-id.js'

/** A tenant-scoped table, as any ORM adapter describes it. */
export interface TableSpec {
  readonly schema: string
  readonly name: string
  readonly column: string
  readonly type: TenantColumnType
  readonly length?: number | undefined
}

/** The result of `migrationSql`. */
export interface MigrationSql {
  /** Everything the tables need. Idempotent. */
  readonly up: string
  /** Removes what `up` added; keeps every row (a non-empty registry table is kept too). */
  readonly down: string
}

/** Builds the migration for the given tables. */
export function buildMigration(tables: readonly TableSpec[], options?: TenantOptions): MigrationSql {
  const { up, down } = blocks(tables, options)
  const text = (parts: readonly (readonly string[])[]) => parts.map((b) => b.join('\n')).join('\n\n') + '\n'
  return Object.freeze({ up: text(up), down: text(down) })
}

/** A migration as lists of single SQL statements, in order (a comment rides with the statement
 * after it). For migration tools that run one statement at a time, such as drizzle's migrator,
 * whose chunks PGlite sends as single prepared statements. */
export interface MigrationStatements {
  readonly up: readonly string[]
  readonly down: readonly string[]
}

/**
 * {@link buildMigration} as single statements: the same SQL in the same order.
 *
 * @example
 * ```ts
 * const { up } = migrationStatements([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }])
 * for (const statement of up) await client.query(statement)
 * ```
 */
export function migrationStatements(tables: readonly TableSpec[], options?: TenantOptions): MigrationStatements {
  const { up, down } = blocks(tables, options)
  return Object.freeze({ up: single(up.flat()), down: single(down.flat()) })
}

/** Options of {@link tableStatements}. */
export interface TableStatementsOptions {
  /** Also grant the table's schema as the full setup does (`USAGE`, all tables and sequences,
   * default privileges): for a table in a schema the setup did not cover yet. Default false. */
  readonly schemaGrants?: boolean
}

/**
 * What one more table needs once the setup of {@link buildMigration} (roles, grants, registry)
 * exists: `up` grants the table and its own sequences to both roles, then enables and forces row
 * level security and (re)creates the policies, the tenant index if missing and the non-empty
 * check; `down` removes that table's part as {@link buildMigration}'s `down` does (the grants
 * stay, like those of every other table in the schema). Both are idempotent; single statements.
 *
 * @example
 * ```ts
 * const { up } = tableStatements({ schema: 'public', name: 'invoices', column: 'tenant', type: 'text' })
 * ```
 */
export function tableStatements(table: TableSpec, options?: TenantOptions, config: TableStatementsOptions = {}): MigrationStatements {
  const o = resolveOptions(options)
  checkSpec(table)
  const up = [...(config.schemaGrants ? grants(o, table.schema) : []), ...tableGrants(o, table), ...tableUp(o, table)]
  return Object.freeze({ up: single(up), down: single(tableDown(o, table)) })
}

/** The migration as blocks of statements: what `buildMigration` prints a blank line between. */
function blocks(tables: readonly TableSpec[], options: TenantOptions | undefined): { up: string[][]; down: string[][] } {
  const o = resolveOptions(options)
  for (const table of tables) checkSpec(table)
  const schemas = [...new Set([o.schema, ...tables.map((t) => t.schema)])]
  const up = [
    [header(o, 'up')],
    [roles(o)],
    ...schemas.map((schema) => grants(o, schema)),
    ...(o.strategy === 'setting' ? [registry(o)] : []),
    ...tables.map((table) => tableUp(o, table)),
  ]
  const down = [
    [header(o, 'down')],
    ...tables.map((table) => tableDown(o, table)),
    ...(o.strategy === 'setting' ? [registryDown(o)] : []),
    ...schemas.map((schema) => revokes(o, schema)),
    [rolesDown(o)],
  ]
  return { up, down }
}

/** Joins each comment-only line to the statement after it. */
function single(parts: readonly string[]): string[] {
  const out: string[] = []
  let comments: string[] = []
  for (const part of parts) {
    if (part.startsWith('--') && !part.includes('\n')) {
      comments.push(part)
      continue
    }
    out.push([...comments, part].join('\n'))
    comments = []
  }
  return out
}

function checkSpec(table: TableSpec): void {
  const names = [['schema', table.schema], ['table', table.name], ['column', table.column]] as const
  refuseControlCharacters(`Table ${JSON.stringify(table.name)}`, names)
  for (const [what, name] of names) {
    // `$` could end a DO block's body.
    if (name.includes('$')) {
      throw new TenantError('INVALID_OPTIONS', `Table ${JSON.stringify(table.name)}: names with $ are not supported: rename the ${what}.`)
    }
  }
}

/** Refuses a schema, table or column name holding a control character: a newline above all
 * would end a `--` comment line and let the rest of the name run as SQL. `context` starts the
 * message, e.g. `withRls("todos")`. */
export function refuseControlCharacters(context: string, names: readonly (readonly [what: string, name: string])[]): void {
  for (const [what, name] of names) {
    if (/[\u0000-\u001f\u007f]/.test(name)) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `${context}: the ${what} name ${JSON.stringify(name)} holds a control character ` +
          '(U+0000–U+001F, U+007F), which pg-tenants does not put into SQL: rename it.',
      )
    }
  }
}

/** A `--` comment line: every control or line-breaking character escaped, so that no name can
 * end the comment, whatever a caller checked before. */
export function sqlComment(text: string): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return `-- ${safe}`
}

function header(o: ResolvedOptions, direction: string): string {
  return sqlComment(`pg-tenants ${direction}: strategy '${o.strategy}', tenant role ${quoteIdent(o.tenantRole)}, admin role ${quoteIdent(o.adminRole)}`)
}

/** PostgreSQL 16 and later give a CREATEROLE creator only ADMIN on the roles it creates, so the
 * login must grant itself SET (and refuse INHERIT: it needs no privileges of the tenant role). */
function roles(o: ResolvedOptions): string {
  const names = [o.tenantRole, o.adminRole]
  const create = names
    .map((r) => `  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${quoteLiteral(r)}) THEN\n    CREATE ROLE ${quoteIdent(r)} NOLOGIN;\n  END IF;`)
    .join('\n')
  const list = names.map(quoteIdent).join(', ')
  return `DO $pg_tenants$
BEGIN
${create}
  IF current_setting('server_version_num')::int >= 160000 THEN
    EXECUTE ${quoteLiteral(`GRANT ${list} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE`)};
  ELSE
    EXECUTE ${quoteLiteral(`GRANT ${list} TO CURRENT_USER`)};
  END IF;
END
$pg_tenants$;`
}

function grants(o: ResolvedOptions, schema: string): string[] {
  const s = quoteIdent(schema)
  const to = `${quoteIdent(o.tenantRole)}, ${quoteIdent(o.adminRole)}`
  return [
    `GRANT USAGE ON SCHEMA ${s} TO ${to};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${to};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${to};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${to};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${to};`,
  ]
}

/** The grants of one table and of the sequences it owns (serial, identity), as the schema-wide
 * grants of the setup would give them: for a table created after the setup by another role than
 * the one whose default privileges the setup set. */
function tableGrants(o: ResolvedOptions, table: TableSpec): string[] {
  const t = qualified(table.schema, table.name)
  return [
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ${quoteIdent(o.tenantRole)}, ${quoteIdent(o.adminRole)};`,
    `DO $pg_tenants$
DECLARE s regclass;
BEGIN
  FOR s IN
    SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
    WHERE d.classid = 'pg_class'::regclass AND d.refobjid = ${quoteLiteral(t)}::regclass AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
  LOOP
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO %I, %I', s, ${quoteLiteral(o.tenantRole)}, ${quoteLiteral(o.adminRole)});
  END LOOP;
END
$pg_tenants$;`,
  ]
}

function revokes(o: ResolvedOptions, schema: string): string[] {
  const s = quoteIdent(schema)
  const from = `${quoteIdent(o.tenantRole)}, ${quoteIdent(o.adminRole)}`
  return [
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE USAGE, SELECT ON SEQUENCES FROM ${from};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM ${from};`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${from};`,
    `REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${from};`,
    `REVOKE USAGE ON SCHEMA ${s} FROM ${from};`,
  ]
}

/** The tenant roles never see the registry: listing tenants is an admin's business. */
function registry(o: ResolvedOptions): string[] {
  const table = qualified(o.schema, o.registryTable)
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (\n  id text PRIMARY KEY CHECK (id <> ''),\n  created_at timestamptz NOT NULL DEFAULT now()\n);`,
    `REVOKE ALL ON ${table} FROM ${quoteIdent(o.tenantRole)};`,
  ]
}

function registryDown(o: ResolvedOptions): string[] {
  const table = qualified(o.schema, o.registryTable)
  return [`DO $pg_tenants$
BEGIN
  IF to_regclass(${quoteLiteral(table)}) IS NOT NULL THEN
    IF EXISTS (SELECT FROM ${table}) THEN
      RAISE NOTICE 'pg-tenants: kept % because it still lists tenants', ${quoteLiteral(table)};
    ELSE
      DROP TABLE ${table};
    END IF;
  END IF;
END
$pg_tenants$;`]
}

/** Drops the two roles, except a `role`-strategy tenant role that still has tenants as members:
 * dropping it would silently cut every tenant off its grants, for good (like the registry in
 * the `setting` strategy, tenants are kept). */
function rolesDown(o: ResolvedOptions): string {
  const keepTenantRole =
    o.strategy === 'role'
      ? `    IF r = ${quoteLiteral(o.tenantRole)} AND EXISTS (
      SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles t ON t.oid = m.member
      WHERE g.rolname = r AND starts_with(t.rolname::text, ${quoteLiteral(o.rolePrefix)})
    ) THEN
      RAISE NOTICE 'pg-tenants: kept role % because tenant roles are members of it', r;
      CONTINUE;
    END IF;
`
      : ''
  const roles = [o.tenantRole, o.adminRole].map(quoteLiteral).join(', ')
  return `DO $pg_tenants$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY[${roles}] LOOP
${keepTenantRole}    BEGIN
      EXECUTE format('DROP ROLE IF EXISTS %I', r);
    EXCEPTION WHEN dependent_objects_still_exist THEN
      RAISE NOTICE 'pg-tenants: kept role % because other databases still use it', r;
    END;
  END LOOP;
END
$pg_tenants$;`
}

/** Derived object names, kept within PostgreSQL's 63-byte identifier limit. */
export function derivedNames(table: TableSpec): { index: string; check: string } {
  // Prefixed, so that `down` never drops an index or check of the user's that merely follows the
  // usual naming convention.
  return { index: shorten(`pgt_${table.name}_${table.column}_idx`), check: shorten(`pgt_${table.name}_${table.column}_not_empty`) }
}

function shorten(name: string): string {
  if (byteLength(name) <= MAX_IDENTIFIER_BYTES) return name
  let hash = 0
  for (const ch of name) hash = (Math.imul(hash, 31) + ch.codePointAt(0)!) >>> 0
  const tag = `_${hash.toString(36)}`
  let head = name
  while (byteLength(head) + tag.length > MAX_IDENTIFIER_BYTES) head = head.slice(0, -1)
  return head + tag
}

function tableUp(o: ResolvedOptions, table: TableSpec): string[] {
  const t = qualified(table.schema, table.name)
  const { index, check } = derivedNames(table)
  const regclass = quoteLiteral(t)
  const statements = [
    sqlComment(`${t}: tenant column ${quoteIdent(table.column)} (${table.type})`),
    `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;`,
    // The same policies as data (policy.ts), which `check` compares the live ones with.
    ...tenantPolicies(o, table.column, table.type).flatMap((p) => [dropPolicySql(p, t), createPolicySql(p, t)]),
    // An index led by the tenant column already serves the policy; only add one when none does.
    `DO $pg_tenants$
BEGIN
  IF NOT EXISTS (
    SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = ${regclass}::regclass AND a.attname = ${quoteLiteral(table.column)}
  ) THEN
    CREATE INDEX ${quoteIdent(index)} ON ${t} (${quoteIdent(table.column)});
  END IF;
END
$pg_tenants$;`,
  ]
  if (table.type === 'text' || table.type === 'varchar') {
    // An empty tenant must never exist: it is what an unset setting would look like.
    statements.push(`DO $pg_tenants$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = ${regclass}::regclass AND conname = ${quoteLiteral(check)}) THEN
    ALTER TABLE ${t} ADD CONSTRAINT ${quoteIdent(check)} CHECK (${quoteIdent(table.column)} <> '');
  END IF;
END
$pg_tenants$;`)
  }
  return statements
}

function tableDown(o: ResolvedOptions, table: TableSpec): string[] {
  const t = qualified(table.schema, table.name)
  const { index, check } = derivedNames(table)
  return [
    sqlComment(t),
    ...Object.values(POLICY_NAMES).map((name) => `DROP POLICY IF EXISTS ${name} ON ${t};`),
    `ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(check)};`,
    `DROP INDEX IF EXISTS ${qualified(table.schema, index)};`,
  ]
}
