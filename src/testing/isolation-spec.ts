/**
 * The ORM-neutral form of a table for `assertTenantIsolation`: a {@link TableSpec} and a builder
 * of one valid row keyed by column name. Any adapter (or none) can describe its tables this way;
 * the kit turns each into SQL with every name quoted and every value a bind parameter.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import { refuseControlCharacters, type TableSpec } from '../core/migration.js'
import { qualified, quoteIdent } from '../core/quote.js'
import type { TenantColumnType, TenantId } from '../core/tenant-id.js'
import { columnValue } from './check-tenants.js'

/**
 * The probe rows already seeded for the same tenant, one per table, as the database returned
 * them (`RETURNING *`): keyed by table name (`seeded.posts`) and by `schema.table`
 * (`seeded['public.posts']`; a name two tables share is only there). A `{ spec, row }` table's row
 * is keyed by column name; a Drizzle table's row by property, its values read back through the
 * columns. Parents are seeded before their children (foreign keys between the checked tables
 * decide the order; otherwise the order given), so a child's row can use its parent's keys.
 *
 * @example
 * ```ts
 * import type { IsolationTableSpec, SeededRows } from 'pg-tenants/testing'
 *
 * const postOf = (seeded: SeededRows) => seeded.posts?.id // the post seeded for the same tenant
 *
 * export const comments: IsolationTableSpec = {
 *   spec: { schema: 'public', name: 'comments', column: 'tenant', type: 'text' },
 *   row: (tenant, seeded) => ({ tenant, post_id: postOf(seeded), body: 'probe' }),
 * }
 * ```
 */
export type SeededRows = Readonly<Record<string, Readonly<Record<string, unknown>>>>

/**
 * Builds one valid row of a table for `tenant`. With `{ spec, row }` the keys are column names
 * and `tenant` is a number for an integer or bigint tenant column, a string otherwise; with a
 * Drizzle `{ table, row }` the keys are the table's property keys and a `mode: 'bigint'` column
 * gets a bigint. A value left `undefined` is left out, so the column's default applies.
 * `seeded` holds the rows seeded so far for the same tenant ({@link SeededRows}).
 *
 * @example
 * ```ts
 * import type { IsolationRow } from 'pg-tenants/testing'
 *
 * const row: IsolationRow = (tenant) => ({ tenant_id: tenant, title: 'probe' })
 * const comment: IsolationRow = (tenant, seeded) => ({ tenant_id: tenant, post_id: seeded.posts?.id, body: 'probe' })
 * ```
 */
export type IsolationRow = (tenant: TenantId, seeded: SeededRows) => Record<string, unknown>

/**
 * A table to check, described without any ORM: its {@link TableSpec} (an empty `schema` means the
 * manager's schema) and, unless a row holding only the tenant column is valid, a row builder.
 *
 * @example
 * ```ts
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation, type IsolationTableSpec } from 'pg-tenants/testing'
 *
 * declare const manager: AnyPostgresManager
 *
 * const todos: IsolationTableSpec = {
 *   spec: { schema: 'public', name: 'todos', column: 'tenant_id', type: 'uuid' },
 *   row: (tenant) => ({ tenant_id: tenant, title: 'probe' }),
 * }
 * await assertTenantIsolation(manager, { tables: [todos] })
 * ```
 */
export interface IsolationTableSpec {
  /** The table and its tenant column. */
  readonly spec: TableSpec
  /** Builds the probe row, keyed by column name. Default: the tenant column alone. */
  readonly row?: IsolationRow | undefined
}

/** A spec entry as the Drizzle conversion makes it: rows read back keyed by property. */
export interface ConvertedTableSpec extends IsolationTableSpec {
  /** The seeded row as the row builders of other tables get it. */
  readonly reported: (row: Readonly<Record<string, unknown>>) => Record<string, unknown>
}

/** One SQL statement and its bind parameters. */
export interface Statement {
  readonly sql: string
  readonly params: readonly unknown[]
}

/** A table as the probes use it. */
export interface IsolationTarget {
  readonly spec: TableSpec
  /** `schema.table`, for messages and the summary. */
  readonly name: string
  /** The quoted `"schema"."table"`. */
  readonly table: string
  /** The quoted tenant column. */
  readonly column: string
  /** How to pass a row builder, for the seed failure's hint. */
  readonly hint: string
  /** The INSERT of one row for the tenant whose canonical text is `tenant`; `RETURNING *` when
   * `returning` (the seed, not the probe: RETURNING would bring SELECT policies into play). */
  insert(tenant: string, seeded: SeededRows, returning?: boolean): Statement
  /** A returned row as the row builders get it. */
  report(row: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>>
}

const TYPES: readonly TenantColumnType[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']

/** True for `{ spec, … }` as an object literal (a Drizzle table is never a plain object). */
export function isSpecEntry(entry: unknown): entry is IsolationTableSpec {
  if (typeof entry !== 'object' || entry === null || !Object.hasOwn(entry, 'spec')) return false
  const proto: unknown = Object.getPrototypeOf(entry)
  return proto === Object.prototype || proto === null
}

/** Checks an entry and builds its probe SQL; `hint` names the form it came in. */
export function isolationTarget(entry: IsolationTableSpec | ConvertedTableSpec, defaultSchema: string, hint = '{ spec, row }'): IsolationTarget {
  const spec = checkedSpec(entry.spec, defaultSchema)
  const row = entry.row
  if (row !== undefined && typeof row !== 'function') {
    throw new TenantError('INVALID_OPTIONS', `assertTenantIsolation: the row of table ${spec.name} must be a function (tenant, seeded) => row.`)
  }
  const table = qualified(spec.schema, spec.name)
  const build: IsolationRow = row ?? ((tenant) => ({ [spec.column]: tenant }))
  const reported = 'reported' in entry ? entry.reported : (r: Readonly<Record<string, unknown>>) => ({ ...r })
  return {
    spec,
    name: `${spec.schema}.${spec.name}`,
    table,
    column: quoteIdent(spec.column),
    hint,
    insert: (tenant, seeded, returning = false) => insertStatement(table, spec.name, build(columnValue(tenant, spec, false), seeded), returning),
    report: (r) => Object.freeze(reported(r)),
  }
}

function checkedSpec(spec: unknown, defaultSchema: string): TableSpec {
  const s = (typeof spec === 'object' && spec !== null ? spec : {}) as Partial<Record<keyof TableSpec, unknown>>
  const named = (value: unknown) => typeof value === 'string' && value !== ''
  if (!named(s.name) || !named(s.column) || (s.schema !== undefined && typeof s.schema !== 'string')) {
    throw new TenantError('INVALID_OPTIONS', `assertTenantIsolation: ${JSON.stringify(spec)} is not a table spec: pass { schema, name, column, type }.`)
  }
  if (!TYPES.includes(s.type as TenantColumnType)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `assertTenantIsolation: table ${String(s.name)} has tenant column type ${JSON.stringify(s.type)}; use ${TYPES.join(', ')}.`,
    )
  }
  const full = { ...(spec as TableSpec), schema: s.schema || defaultSchema }
  refuseControlCharacters(`assertTenantIsolation(${JSON.stringify(full.name)})`, [
    ['schema', full.schema],
    ['table', full.name],
    ['column', full.column],
  ])
  return full
}

function insertStatement(table: string, name: string, row: unknown, returning: boolean): Statement {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new TypeError(`the row builder of ${name} returned ${row === null ? 'null' : typeof row}, not an object of column values`)
  }
  const tail = returning ? ' RETURNING *' : ''
  const entries = Object.entries(row as Record<string, unknown>).filter(([, value]) => value !== undefined)
  if (entries.length === 0) return { sql: `INSERT INTO ${table} DEFAULT VALUES${tail}`, params: [] }
  const columns = entries.map(([column]) => quoteIdent(column)).join(', ')
  const values = entries.map((_, i) => `$${i + 1}`).join(', ')
  return { sql: `INSERT INTO ${table} (${columns}) VALUES (${values})${tail}`, params: entries.map(([, value]) => value) }
}
