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

/**
 * A tenant-scoped table, as any ORM adapter describes it.
 *
 * @example
 * ```ts
 * import type { TableSpec } from 'pg-tenants'
 *
 * export const todos: TableSpec = { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }
 * ```
 */
export interface TableSpec {
  /** The table's schema, unquoted. */
  readonly schema: string
  /** The table's name, unquoted. */
  readonly name: string
  /** The tenant column's name in the database, unquoted. */
  readonly column: string
  /** The tenant column's type. */
  readonly type: TenantColumnType
  /** The `n` of a `varchar(n)` tenant column. */
  readonly length?: number | undefined
}

/**
 * The result of `migrationSql`.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs'
 * import { buildMigration, type MigrationSql } from 'pg-tenants'
 *
 * const migration: MigrationSql = buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }])
 * writeFileSync('migrations/0002_tenants.up.sql', migration.up)
 * writeFileSync('migrations/0002_tenants.down.sql', migration.down)
 * ```
 */
export interface MigrationSql {
  /** Everything the tables need. Idempotent. */
  readonly up: string
  /** Removes what `up` added; keeps every row (a non-empty registry table is kept too). */
  readonly down: string
}

/**
 * The migration for the given tables, as two SQL strings: the roles, the grants, the registry
 * table (`setting` strategy), ENABLE and FORCE row level security, the policies, the tenant index
 * and (for text) a non-empty check. The ORM-neutral form of `migrationSql` from
 * `pg-tenants/drizzle`. Throws `TenantError('INVALID_OPTIONS')` for bad options or names.
 *
 * @example
 * ```ts
 * import type { Pool } from 'pg'
 * import { buildMigration } from 'pg-tenants'
 *
 * declare const pool: Pool
 *
 * const { up } = buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }])
 * await pool.query(up) // one multi-statement message: one transaction
 * ```
 */
export function buildMigration(tables: readonly TableSpec[], options?: TenantOptions): MigrationSql {
  const { up, down } = blocks(tables, options)
  const text = (parts: readonly (readonly string[])[]) => parts.map((b) => b.join('\n')).join('\n\n') + '\n'
  return Object.freeze({ up: text(up), down: text(down) })
}

/**
 * A migration as lists of single SQL statements, in order (a comment rides with the statement
 * after it). For migration tools that run one statement at a time, such as drizzle's migrator,
 * whose chunks PGlite sends as single prepared statements.
 *
 * @example
 * ```ts
 * import type { PoolClient } from 'pg'
 * import { migrationStatements, type MigrationStatements } from 'pg-tenants'
 *
 * declare const client: PoolClient
 *
 * async function revert(migration: MigrationStatements): Promise<void> {
 *   await client.query('BEGIN')
 *   for (const statement of migration.down) await client.query(statement)
 *   await client.query('COMMIT')
 * }
 * await revert(migrationStatements([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }]))
 * ```
 */
export interface MigrationStatements {
  /** The statements of `up`, in order. */
  readonly up: readonly string[]
  /** The statements of `down`, in order. */
  readonly down: readonly string[]
}

/**
 * {@link buildMigration} as single statements: the same SQL in the same order.
 *
 * @example
 * ```ts
 * import type { Client } from 'pg'
 * import { migrationStatements } from 'pg-tenants'
 *
 * declare const client: Client
 *
 * const { up } = migrationStatements([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }])
 * await client.query('BEGIN') // one transaction: the first statement's lock serialises migrations
 * for (const statement of up) await client.query(statement)
 * await client.query('COMMIT')
 * ```
 */
export function migrationStatements(tables: readonly TableSpec[], options?: TenantOptions): MigrationStatements {
  const { up, down } = blocks(tables, options)
  return Object.freeze({ up: single(up.flat()), down: single(down.flat()) })
}

/**
 * Options of {@link tableStatements}.
 *
 * @example
 * ```ts
 * import { tableStatements, type TableStatementsOptions } from 'pg-tenants'
 *
 * const config: TableStatementsOptions = { schemaGrants: true } // schema billing: the setup did not cover it yet
 * const { up } = tableStatements({ schema: 'billing', name: 'invoices', column: 'tenant', type: 'text' }, {}, config)
 * ```
 */
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
 * import { tableStatements } from 'pg-tenants'
 *
 * const { up } = tableStatements({ schema: 'public', name: 'invoices', column: 'tenant', type: 'text' })
 * ```
 */
export function tableStatements(table: TableSpec, options?: TenantOptions, config: TableStatementsOptions = {}): MigrationStatements {
  const o = resolveOptions(options)
  checkSpec(table)
  refuseSharedTenantTables(o, [table])
  const up = [
    LOCK,
    ...(o.citus ? [] : [refuseCitusTables([table])]),
    ...(config.schemaGrants ? grants(o, table.schema) : []),
    ...tableGrants(o, table),
    ...tableUp(o, table),
  ]
  return Object.freeze({ up: single(up), down: single([LOCK, ...tableDown(o, table)]) })
}

/**
 * The grants of the declared {@link TenantOptions.sharedTables}, alone: for a migration tool that
 * writes them when the declaration changes. `up` sets each table's privileges for the tenant role
 * to exactly what is declared (`read`: SELECT; `write`: SELECT, INSERT, UPDATE, DELETE and the
 * table's own sequences; `none`: nothing); `down` revokes them. Single statements.
 *
 * @example
 * ```ts
 * import { sharedTableStatements } from 'pg-tenants'
 *
 * const { up } = sharedTableStatements({ sharedTables: { plans: 'read' } })
 * ```
 */
export function sharedTableStatements(options?: TenantOptions): MigrationStatements {
  const o = resolveOptions(options)
  const down = o.sharedTables.map((t) => `REVOKE ALL ON ${qualified(t.schema, t.name)} FROM ${quoteIdent(o.tenantRole)};`)
  return Object.freeze({ up: single(o.sharedTables.length > 0 ? [LOCK, ...sharedUp(o)] : []), down: single(down.length > 0 ? [LOCK, ...down] : []) })
}

/** Serialises migrations of one database: two `up` at once otherwise fail with "tuple
 * concurrently updated" on the grants. Held to the end of the transaction the migration runs in
 * (a multi-statement string sent at once is one transaction; drizzle's migrator runs one). The
 * key is a constant of pg-tenants: "pgtenant" in ASCII. */
const LOCK = 'SELECT pg_advisory_xact_lock(8099570433841524340);'

function refuseSharedTenantTables(o: ResolvedOptions, tables: readonly TableSpec[]): void {
  const both = o.sharedTables.find((s) => tables.some((t) => (t.schema || o.schema) === s.schema && t.name === s.name))
  if (both) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `${both.schema}.${both.name} is both a tenant table and in sharedTables: a table is one or the other; remove it from sharedTables (or from the tenant tables).`,
    )
  }
}

/** The migration as blocks of statements: what `buildMigration` prints a blank line between. */
function blocks(tables: readonly TableSpec[], options: TenantOptions | undefined): { up: string[][]; down: string[][] } {
  const o = resolveOptions(options)
  for (const table of tables) checkSpec(table)
  refuseSharedTenantTables(o, tables)
  const schemas = [...new Set([o.schema, ...tables.map((t) => t.schema)])]
  const sharedSchemas = o.sharedTables.filter((t) => !schemas.includes(t.schema)).map((t) => t.schema)
  const up = [
    [header(o, 'up'), LOCK, ...(o.citus ? [] : [refuseCitusTables(tables)])],
    [roles(o)],
    ...schemas.map((schema) => grants(o, schema)),
    ...(o.strategy === 'setting' ? [registry(o)] : []),
    ...tables.map((table) => [...tableGrants(o, table), ...tableUp(o, table)]),
    ...(o.sharedTables.length > 0 ? [sharedUp(o)] : []),
  ]
  const down = [
    [header(o, 'down'), LOCK],
    ...tables.map((table) => tableDown(o, table)),
    ...(o.strategy === 'setting' ? [registryDown(o)] : []),
    ...[...schemas, ...new Set(sharedSchemas)].map((schema) => revokes(o, schema)),
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
  const names = [
    ['schema', table.schema],
    ['table', table.name],
    ['column', table.column],
  ] as const
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
    // eslint-disable-next-line no-control-regex -- control characters are what it refuses
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
  // eslint-disable-next-line no-control-regex -- control characters are what it escapes
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return `-- ${safe}`
}

/** Without Citus mode, refuses tables Citus distributes, before anything changes: Citus would
 * refuse the policies' sub-select with a message that does not say what to do, and re-create the
 * RESTRICTIVE policy as PERMISSIVE on the shards (every row to the login). Reads Citus's catalog
 * only where the extension is installed. */
function refuseCitusTables(tables: readonly TableSpec[]): string {
  const names = tables.map((t) => quoteLiteral(qualified(t.schema, t.name)))
  const list = names.length > 0 ? names.join(', ') : 'NULL'
  return `DO $pg_tenants$
DECLARE t text;
BEGIN
  IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
    SELECT string_agg(logicalrelid::text, ', ') INTO t FROM pg_dist_partition WHERE logicalrelid::oid IN (
      SELECT to_regclass(n)::oid FROM unnest(ARRAY[${list}]::text[]) n);
    IF t IS NOT NULL THEN
      RAISE EXCEPTION 'pg-tenants: % are Citus tables, which need the migration in Citus mode', t
        USING ERRCODE = 'feature_not_supported', HINT = 'Give the migration, the manager and check citus: true (CLI --citus): docs/scale-out.md.';
    END IF;
  END IF;
END
$pg_tenants$;`
}

function header(o: ResolvedOptions, direction: string): string {
  return sqlComment(
    `pg-tenants ${direction}: strategy '${o.strategy}'${o.citus ? ' on Citus' : ''}, tenant role ${quoteIdent(o.tenantRole)}, admin role ${quoteIdent(o.adminRole)}`,
  )
}

/**
 * Creates the two roles, or takes over ones that exist. Roles belong to the whole server, so a
 * `tenants_rls` made for another database would let that database's login into this one's
 * tenants: unless `adoptRoles` is set, an existing role is refused when another database uses it
 * (it has privileges, policies or objects there: pg_shdepend) or, when this database does not use
 * it yet, when it has members other than the migrating login (and, role strategy, tenant roles).
 *
 * PostgreSQL 16 and later give a CREATEROLE creator only ADMIN on the roles it creates, so the
 * login must grant itself SET (and refuse INHERIT: it needs no privileges of the tenant role).
 */
function roles(o: ResolvedOptions): string {
  const names = [o.tenantRole, o.adminRole]
  const list = names.map(quoteIdent).join(', ')
  const tenantMembers =
    o.strategy === 'role' ? ` AND NOT (r = ${quoteLiteral(o.tenantRole)} AND starts_with(m.rolname::text, ${quoteLiteral(o.rolePrefix)}))` : ''
  const refuse = (why: string) =>
    `RAISE EXCEPTION 'pg-tenants: role "%" already exists and ${why}: roles belong to the whole server, and sharing one lets another database''s login into this database''s tenants', r, used
        USING ERRCODE = 'object_in_use',
          HINT = 'Give this database role names of its own (options tenantRole and adminRole; CLI --tenant-role and --admin-role), or set adoptRoles: true (--adopt-roles) if the role is this app''s (a database cloned from this one with CREATE DATABASE … TEMPLATE carries its grants: adopt there).';`
  const adopt = o.adoptRoles
    ? ''
    : `
    ELSE
      -- (A database cloned from this one with CREATE DATABASE … TEMPLATE carries its grants too.)
      SELECT string_agg(DISTINCT quote_ident(db.datname), ', ') INTO used FROM pg_shdepend d JOIN pg_database db ON db.oid = d.dbid
      WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = id AND db.datname <> current_database();
      IF used IS NOT NULL THEN
        ${refuse('database(s) % use it')}
      END IF;
      IF NOT EXISTS (SELECT FROM pg_shdepend d JOIN pg_database db ON db.oid = d.dbid
                     WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = id AND db.datname = current_database()) THEN
        SELECT string_agg(quote_ident(m.rolname), ', ') INTO used FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
        WHERE a.roleid = id AND m.rolname <> current_user${tenantMembers};
        IF used IS NOT NULL THEN
          ${refuse('has members other than you (%), but this database does not use it yet')}
        END IF;
      END IF;`
  const prefixedLogin =
    o.strategy === 'role'
      ? `
  IF starts_with(current_user::text, ${quoteLiteral(o.rolePrefix)}) THEN
    RAISE EXCEPTION 'pg-tenants: the login "%" starts with the tenant role prefix %, so it would be taken for a tenant', current_user, ${quoteLiteral(o.rolePrefix)}
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pick another rolePrefix (--role-prefix), or run the migration as a login with another name.';
  END IF;`
      : ''
  // Citus opens its connections to the workers as the current role, so there the roles must be
  // able to log in (docs/scale-out.md says how to keep them from logging in anywhere else).
  const login = o.citus ? 'LOGIN' : 'NOLOGIN'
  const privilege = o.citus ? 'rolsuper OR rolbypassrls' : 'rolsuper OR rolbypassrls OR rolcanlogin'
  const forbidden = o.citus ? 'SUPERUSER or BYPASSRLS' : 'SUPERUSER, BYPASSRLS or LOGIN'
  const fix = o.citus ? 'NOSUPERUSER NOBYPASSRLS' : 'NOSUPERUSER NOBYPASSRLS NOLOGIN'
  const relogin = o.citus
    ? `
    IF id IS NOT NULL THEN
      EXECUTE format('ALTER ROLE %I LOGIN', r);
    END IF;`
    : ''
  return `DO $pg_tenants$
DECLARE r text; id oid; used text; privileged boolean;
BEGIN${prefixedLogin}
  FOREACH r IN ARRAY ARRAY[${names.map(quoteLiteral).join(', ')}] LOOP
    SELECT oid, ${privilege} INTO id, privileged FROM pg_roles WHERE rolname = r;
    IF id IS NULL THEN
      EXECUTE format('CREATE ROLE %I ${login}', r);
    ELSIF privileged THEN
      -- Row-level security never binds a superuser or BYPASSRLS role, and a LOGIN role can be
      -- connected to directly, past the application: never taken over, adoptRoles or not.
      RAISE EXCEPTION 'pg-tenants: role "%" already exists and is ${forbidden}, which a tenant or admin role must never be', r
        USING ERRCODE = 'object_in_use',
          HINT = 'Give this database role names of its own (options tenantRole and adminRole; CLI --tenant-role and --admin-role), or, if the role is this app''s, ALTER ROLE … ${fix} first.';${adopt}
    END IF;${relogin}
  END LOOP;
  IF current_setting('server_version_num')::int >= 160000 THEN
    EXECUTE ${quoteLiteral(`GRANT ${list} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE`)};
  ELSE
    EXECUTE ${quoteLiteral(`GRANT ${list} TO CURRENT_USER`)};
  END IF;
END
$pg_tenants$;`
}

/** The schema's grants. The admin role may use every table of the schema, now and later. The
 * tenant role gets USAGE only: its table grants are per tenant table and per declared shared
 * table, so a table that is neither (`plans`, `api_keys`, a partition created later) is closed to
 * tenants until it is declared. Older setups gave the tenant role default privileges on future
 * tables: revoked here (existing grants on other tables are left alone; `check` reports them as
 * SHARED_TABLE_UNDECLARED). */
function grants(o: ResolvedOptions, schema: string): string[] {
  const s = quoteIdent(schema)
  const tenant = quoteIdent(o.tenantRole)
  const admin = quoteIdent(o.adminRole)
  return [
    `GRANT USAGE ON SCHEMA ${s} TO ${tenant}, ${admin};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${admin};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${admin};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${admin};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${admin};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE ALL ON TABLES FROM ${tenant};`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE ALL ON SEQUENCES FROM ${tenant};`,
  ]
}

/** Each declared shared table gets exactly its declared privileges for the tenant role. */
function sharedUp(o: ResolvedOptions): string[] {
  const tenant = quoteIdent(o.tenantRole)
  const out: string[] = [sqlComment(`shared tables: what the tenant role may do on them`)]
  for (const schema of new Set(o.sharedTables.filter((t) => t.access !== 'none').map((t) => t.schema))) {
    out.push(`GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${tenant};`)
  }
  for (const table of o.sharedTables) {
    const t = qualified(table.schema, table.name)
    if (table.access === 'none') {
      // A table declared closed may be gone already: nothing to revoke then.
      out.push(
        `DO $pg_tenants$\nBEGIN\n  IF to_regclass(${quoteLiteral(t)}) IS NOT NULL THEN\n    EXECUTE ${quoteLiteral(`REVOKE ALL ON ${t} FROM ${tenant}`)};\n  END IF;\nEND\n$pg_tenants$;`,
      )
      continue
    }
    out.push(`REVOKE ALL ON ${t} FROM ${tenant};`)
    if (table.access === 'read') out.push(`GRANT SELECT ON ${t} TO ${tenant};`)
    if (table.access === 'write') out.push(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ${tenant};`, ownedSequences(t, [o.tenantRole]))
  }
  return out
}

/** The grants of one table and of the sequences it owns (serial, identity), as the schema-wide
 * grants of the setup would give them: for a table created after the setup by another role than
 * the one whose default privileges the setup set. */
function tableGrants(o: ResolvedOptions, table: TableSpec): string[] {
  const t = qualified(table.schema, table.name)
  return [
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ${quoteIdent(o.tenantRole)}, ${quoteIdent(o.adminRole)};`,
    ownedSequences(t, [o.tenantRole, o.adminRole]),
  ]
}

/** USAGE, SELECT on the sequences `table` owns (serial, identity) or its defaults use, to `roles`. */
function ownedSequences(table: string, roles: readonly string[]): string {
  return `DO $pg_tenants$
DECLARE s regclass;
BEGIN
  FOR s IN
    SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
    WHERE d.classid = 'pg_class'::regclass AND d.refobjid = ${quoteLiteral(table)}::regclass AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
    UNION -- and the sequences its column defaults use (DEFAULT nextval('ids')) without owning them
    SELECT d.refobjid::regclass FROM pg_attrdef ad JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
    JOIN pg_class c ON c.oid = d.refobjid
    WHERE ad.adrelid = ${quoteLiteral(table)}::regclass AND d.refclassid = 'pg_class'::regclass AND c.relkind = 'S'
  LOOP
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO ${roles.map(() => '%I').join(', ')}', s, ${roles.map(quoteLiteral).join(', ')});
  END LOOP;
END
$pg_tenants$;`
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

/** The tenant roles never see the registry, nor does anyone else but its owner (the login, which
 * checks a tenant in it as a scope opens) and the admin role: listing tenants is an admin's
 * business. */
function registry(o: ResolvedOptions): string[] {
  const table = qualified(o.schema, o.registryTable)
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (\n  id text PRIMARY KEY CHECK (id <> ''),\n  created_at timestamptz NOT NULL DEFAULT now()\n);`,
    `REVOKE ALL ON ${table} FROM PUBLIC, ${quoteIdent(o.tenantRole)};`,
  ]
}

function registryDown(o: ResolvedOptions): string[] {
  const table = qualified(o.schema, o.registryTable)
  return [
    `DO $pg_tenants$
BEGIN
  IF to_regclass(${quoteLiteral(table)}) IS NOT NULL THEN
    IF EXISTS (SELECT FROM ${table}) THEN
      RAISE NOTICE 'pg-tenants: kept % because it still lists tenants', ${quoteLiteral(table)};
    ELSE
      DROP TABLE ${table};
    END IF;
  END IF;
END
$pg_tenants$;`,
  ]
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
    partitionsUp(o, table),
    // An index led by the tenant column already serves the policy; only add one when none does.
    // A partial index serves only the queries its predicate covers, so it does not count.
    `DO $pg_tenants$
BEGIN
  IF NOT EXISTS (
    SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = ${regclass}::regclass AND a.attname = ${quoteLiteral(table.column)} AND i.indpred IS NULL AND i.indisvalid
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

/** `EXECUTE`s of `statements` (each built for a partition's name) on every partition of `table`,
 * at any depth, as a DO block; nothing for a table that is not partitioned. */
export function onPartitions(table: TableSpec, statements: readonly ((partition: string) => string)[]): string {
  const marker = '\u0000'
  const executes = statements.map((build) => {
    const [before, after = ''] = build(marker).split(marker)
    return `    EXECUTE ${quoteLiteral(before!)} || p::text || ${quoteLiteral(after)};`
  })
  return `DO $pg_tenants$
DECLARE p regclass;
BEGIN
  FOR p IN SELECT relid FROM pg_partition_tree(${quoteLiteral(qualified(table.schema, table.name))}::regclass) WHERE level > 0 LOOP
${executes.join('\n')}
  END LOOP;
END
$pg_tenants$;`
}

/**
 * A query on a partition is not subject to its parent's policies, so each partition (at any
 * depth) gets row level security, FORCE and the same three policies. Partitions created later get
 * none until the migration runs again, but no grant to the tenant role either (its grants are per
 * table, and the migration revokes any a partition has), so a tenant reaches them only through
 * the parent, where the policies apply.
 */
function partitionsUp(o: ResolvedOptions, table: TableSpec): string {
  return onPartitions(table, [
    // A table attached as a partition may carry a grant of its own (an older setup's default
    // privileges): tenants go through the parent.
    (p) => `REVOKE ALL ON ${p} FROM ${quoteIdent(o.tenantRole)}`,
    (p) => `ALTER TABLE ${p} ENABLE ROW LEVEL SECURITY`,
    (p) => `ALTER TABLE ${p} FORCE ROW LEVEL SECURITY`,
    ...tenantPolicies(o, table.column, table.type).flatMap((policy) => [
      (p: string) => dropPolicySql(policy, p).replace(/;$/, ''),
      (p: string) => createPolicySql(policy, p).replace(/;$/, ''),
    ]),
  ])
}

function tableDown(o: ResolvedOptions, table: TableSpec): string[] {
  const t = qualified(table.schema, table.name)
  const { index, check } = derivedNames(table)
  return [
    sqlComment(t),
    onPartitions(table, [
      ...Object.values(POLICY_NAMES).map((name) => (p: string) => `DROP POLICY IF EXISTS ${name} ON ${p}`),
      (p) => `ALTER TABLE ${p} NO FORCE ROW LEVEL SECURITY`,
      (p) => `ALTER TABLE ${p} DISABLE ROW LEVEL SECURITY`,
    ]),
    ...Object.values(POLICY_NAMES).map((name) => `DROP POLICY IF EXISTS ${name} ON ${t};`),
    `ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY;`,
    `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${quoteIdent(check)};`,
    `DROP INDEX IF EXISTS ${qualified(table.schema, index)};`,
  ]
}
