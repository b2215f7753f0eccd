/**
 * Which tables a check looks at: the app's `withRls` tables when it passes them, else every table
 * with a tenant column or a `pg_tenants_*` policy. Each comes back with what the other checks
 * need from `pg_class` and `pg_attribute`.
 *
 * @module
 */
import type { TableSpec } from '../core/migration.js'
import type { ResolvedOptions } from '../core/options.js'
import { POLICY_NAMES } from '../core/policy.js'
import { qualified, quoteIdent } from '../core/quote.js'
import type { TenantColumnType } from '../core/tenant-id.js'
import type { CheckDb } from './session.js'
import { finding, MIGRATE, MIGRATION_SQL, type Found } from './finding.js'

/** A tenant table as found in the database. */
export interface TenantTable {
  /** The spec the expected policies are built from (the schema filled in). */
  readonly spec: TableSpec
  /** `schema.name`, for messages. */
  readonly label: string
  /** `"schema"."name"`, for SQL. */
  readonly sql: string
  readonly oid: string
  /** The tenant column's attribute number. */
  readonly attnum: number
  /** The tenant column's type as PostgreSQL spells it (`character varying(40)`). */
  readonly columnType: string
  readonly owner: string
  readonly rls: boolean
  readonly force: boolean
  /** False when the live column does not match the spec: its policies cannot be compared. */
  readonly comparable: boolean
  /** Found by discovery although tables were given: the tenant role may use it, and it has a
   * tenant column or pg_tenants policies, but it is not among them. */
  readonly undeclared: boolean
  /** The tables it is a partition of, nearest first (none for a table that is no partition). */
  readonly ancestors: readonly string[]
}

const COLUMNS = `c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls,
  c.relforcerowsecurity AS force, pg_get_userbyid(c.relowner)::text AS owner,
  ARRAY(WITH RECURSIVE up(oid, depth) AS (
          SELECT i.inhparent, 1 FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition
          UNION ALL
          SELECT i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.oid JOIN pg_class p ON p.oid = up.oid
          WHERE p.relispartition AND up.depth < 64)
        SELECT oid::text FROM up ORDER BY depth)::text[] AS ancestors`

/**
 * Resolves the given specs (reporting the missing ones) or discovers tenant tables. With specs,
 * discovery still looks for the tables they leave out that the tenant role may use: a table taken
 * out of `withRls` keeps its grants, and its rows would be shared by every tenant.
 */
export async function loadTables(
  db: CheckDb,
  o: ResolvedOptions,
  specs: readonly TableSpec[] | undefined,
  discovery: { column: string; schemas: readonly string[] | undefined },
  found: Found,
): Promise<TenantTable[]> {
  if (!specs) return discover(db, { ...discovery, columns: [discovery.column] }, found)
  const declared = await resolveSpecs(db, o, specs, found)
  const columns = [...new Set([discovery.column, ...specs.map((s) => s.column)])]
  const undeclared = await discover(db, { ...discovery, columns, usedBy: o.tenantRole, except: declared.map((t) => t.oid) }, found)
  // A declared partition of another tenant table is checked as that table's partition.
  const oids = new Set([...declared, ...undeclared].map((t) => t.oid))
  return [...declared.filter((t) => !t.ancestors.some((a) => oids.has(a))), ...undeclared]
}

/** Discovery's options: with `usedBy`, only tables that role has a DML privilege on, other than
 * `except`; they come back `undeclared`. */
interface Discovery {
  readonly column: string
  readonly columns: readonly string[]
  readonly schemas: readonly string[] | undefined
  readonly usedBy?: string
  readonly except?: readonly string[]
}

async function resolveSpecs(db: CheckDb, o: ResolvedOptions, specs: readonly TableSpec[], found: Found): Promise<TenantTable[]> {
  const wanted = specs.map((s, ord) => ({ ord, schema: s.schema || o.schema, name: s.name, col: s.column }))
  const rows = await db.rows(
    `SELECT s.ord, ${COLUMNS}, a.attnum::int AS attnum, format_type(a.atttypid, a.atttypmod) AS column_type
     FROM json_to_recordset($1::json) AS s(ord int, schema text, name text, col text)
     LEFT JOIN pg_namespace n ON n.nspname = s.schema
     LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.col AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY s.ord`,
    [JSON.stringify(wanted)],
  )
  const tables: TenantTable[] = []
  for (const row of rows) {
    const want = wanted[Number(row['ord'])]!
    const spec: TableSpec = { ...specs[want.ord]!, schema: want.schema }
    const label = `${spec.schema}.${spec.name}`
    const sql = qualified(spec.schema, spec.name)
    if (row['oid'] === null) {
      found.push(
        finding(
          'TABLE_MISSING',
          'error',
          label,
          `the schema declares this tenant table but the database has no such table, so nothing protects it yet`,
          `-- create the table and its part of the migration: with drizzle-kit, \`npx drizzle-kit generate && npx pg-tenants generate --schema <file> --out <drizzle folder> && npx drizzle-kit migrate\`; otherwise create it (your ORM's migration), then apply ${MIGRATION_SQL}`,
        ),
      )
      continue
    }
    if (row['attnum'] === null) {
      found.push(
        finding(
          'TENANT_COLUMN_MISSING',
          'error',
          label,
          `tenant column "${spec.column}" does not exist, so no tenant policy can work on this table`,
          `ALTER TABLE ${sql} ADD COLUMN ${quoteIdent(spec.column)} ${spec.type === 'varchar' ? `varchar${spec.length ? `(${spec.length})` : ''}` : spec.type} NOT NULL; -- then ${MIGRATE}`,
        ),
      )
      continue
    }
    const columnType = String(row['column_type'])
    const live = tenantType(columnType)
    const comparable = live === spec.type
    if (!comparable) {
      found.push(
        finding(
          'TENANT_COLUMN_MISMATCH',
          'error',
          label,
          `tenant column "${spec.column}" is ${columnType} in the database but ${spec.type} in the schema; the policies are built for ${spec.type}`,
          `-- make the column and the schema agree (ALTER TABLE ${sql} ALTER COLUMN ${quoteIdent(spec.column)} TYPE ${spec.type} …, or fix the schema), then ${MIGRATE}`,
        ),
      )
    }
    tables.push(toTable(row, spec, comparable))
  }
  return tables
}

async function discover(db: CheckDb, discovery: Discovery, found: Found): Promise<TenantTable[]> {
  // The tenant column of a table with our policies is the column they depend on (CREATE POLICY
  // records it in pg_depend), whatever it is called; otherwise the column named `column`.
  const rows = await db.rows(
    `SELECT ${COLUMNS}, coalesce(pa.attnum, a.attnum)::int AS attnum, coalesce(pa.attname, a.attname)::text AS col,
       format_type(coalesce(pa.atttypid, a.atttypid), coalesce(pa.atttypmod, a.atttypmod)) AS column_type
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN LATERAL (
       SELECT att.attnum, att.attname, att.atttypid, att.atttypmod FROM pg_policy p
       JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
         AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.refobjsubid > 0
       JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum = d.refobjsubid
       WHERE p.polrelid = c.oid AND p.polname IN ($3, $4)
       ORDER BY p.polname DESC, att.attnum LIMIT 1
     ) pa ON true
     LEFT JOIN LATERAL (
       SELECT att.attnum, att.attname, att.atttypid, att.atttypmod FROM pg_attribute att
       WHERE att.attrelid = c.oid AND att.attname IN (SELECT json_array_elements_text($1::json)) AND att.attnum > 0 AND NOT att.attisdropped
       ORDER BY att.attnum LIMIT 1
     ) a ON true
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
       AND ($2::json IS NULL OR n.nspname IN (SELECT json_array_elements_text($2::json)))
       AND (a.attnum IS NOT NULL OR pa.attnum IS NOT NULL
         OR EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND starts_with(p.polname::text, 'pg_tenants_')))
       AND ($5::text IS NULL OR (
         c.oid NOT IN (SELECT json_array_elements_text($6::json)::oid)
         -- (without USAGE on the schema the tenant role cannot reach the table, whatever its grants)
         AND EXISTS (SELECT FROM pg_roles u WHERE u.rolname = $5 AND has_schema_privilege(u.oid, n.oid, 'USAGE') AND (has_table_privilege(u.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
           -- a grant on some columns only is as much a way in
           OR has_any_column_privilege(u.oid, c.oid, 'SELECT, INSERT, UPDATE')))))
     ORDER BY n.nspname, c.relname`,
    [
      JSON.stringify(discovery.columns),
      discovery.schemas ? JSON.stringify(discovery.schemas) : null,
      POLICY_NAMES.isolation,
      POLICY_NAMES.access,
      discovery.usedBy ?? null,
      JSON.stringify(discovery.except ?? []),
    ],
  )
  const undeclared = discovery.usedBy !== undefined
  if (rows.length === 0 && !undeclared) {
    // A check that looked at nothing must not pass as if all were well.
    const where = discovery.schemas ? ` in ${discovery.schemas.join(', ')}` : ''
    found.push(
      finding(
        'NO_TENANT_TABLES',
        'warning',
        'database',
        `no table${where} has a "${discovery.column}" column or a pg_tenants_* policy, so no table was checked`,
        '-- pass the tables (--schema <file>, or tables: [...]) or the tenant column (--column, or column: ...)',
      ),
    )
  }
  const tables: TenantTable[] = []
  for (const row of rows) {
    const schema = String(row['schema'])
    const name = String(row['name'])
    const label = `${schema}.${name}`
    if (row['attnum'] === null) {
      found.push(
        finding(
          'TENANT_COLUMN_MISSING',
          'error',
          label,
          `has pg_tenants policies but no column ${discovery.columns.map((c) => `"${c}"`).join(' or ')} and none that the policies refer to`,
          `-- if it is a tenant table: ${MIGRATE}; if not, drop its pg_tenants_* policies`,
        ),
      )
      continue
    }
    const columnType = String(row['column_type'])
    const type = tenantType(columnType)
    if (!type) {
      found.push(
        finding(
          'TENANT_COLUMN_MISMATCH',
          'error',
          label,
          `tenant column "${String(row['col'])}" is ${columnType}; pg-tenants supports text, varchar, integer, bigint and uuid`,
          `-- change the column's type, or pass the tables to check explicitly if this is not a tenant table`,
        ),
      )
      continue
    }
    const length = /\((\d+)\)$/.exec(columnType)?.[1]
    const spec: TableSpec = { schema, name, column: String(row['col']), type, length: length === undefined ? undefined : Number(length) }
    tables.push(toTable(row, spec, true, undeclared))
  }
  return tables
}

/** A table from a catalog row (oid, attnum, column_type, owner, rls, force) and its spec. */
export function toTable(row: Record<string, unknown>, spec: TableSpec, comparable: boolean, undeclared = false): TenantTable {
  return {
    spec,
    label: `${spec.schema}.${spec.name}`,
    sql: qualified(spec.schema, spec.name),
    oid: String(row['oid']),
    attnum: Number(row['attnum']),
    columnType: String(row['column_type']),
    owner: String(row['owner']),
    rls: row['rls'] === true,
    force: row['force'] === true,
    comparable,
    undeclared,
    ancestors: (row['ancestors'] as string[] | null) ?? [],
  }
}

/** The tenant column type a PostgreSQL type name stands for, if any. */
export function tenantType(columnType: string): TenantColumnType | undefined {
  if (/^character varying(\(\d+\))?$/.test(columnType)) return 'varchar'
  const types: Record<string, TenantColumnType> = { text: 'text', integer: 'integer', bigint: 'bigint', uuid: 'uuid' }
  return types[columnType]
}
