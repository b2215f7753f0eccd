/**
 * The Drizzle form of `assertTenantIsolation`'s tables (`withRls` tables, bare or as
 * `{ table, row }` with rows keyed by property) turned into the ORM-neutral `{ spec, row }` the
 * kit runs on. `pg-tenants/testing` loads this file only when it is given such an entry, so that
 * the kit needs no Drizzle for anyone else.
 *
 * @module
 */
import { getTableColumns, is, type Column } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { TenantError } from '../core/errors.js'
import type { ConvertedTableSpec, IsolationRow } from '../testing/isolation-spec.js'
import { requireRlsSpec } from './with-rls.js'

/**
 * A Drizzle `withRls` table to check, with a builder of one valid row keyed by property. The
 * builder's second argument holds the rows already seeded for the same tenant, keyed by table
 * name, each keyed by property (as `db.insert(t).values(…).returning()` would give it).
 *
 * @example
 * ```ts
 * import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation, type IsolationTable } from 'pg-tenants/testing'
 *
 * declare const manager: AnyPostgresManager
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 * const tags = withRls(pgTable('tags', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 * const posts = withRls(pgTable('posts', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 * const comments = withRls(pgTable('comments', {
 *   id: serial('id').primaryKey(),
 *   postId: integer('post_id').notNull().references(() => posts.id),
 *   body: text('body').notNull(),
 *   tenant: text('tenant').notNull(),
 * }))
 *
 * const entry: IsolationTable = { table: todos, row: (tenant) => ({ title: 'probe', tenant }) }
 * const child: IsolationTable = { table: comments, row: (tenant, seeded) => ({ tenant, postId: seeded.posts?.id, body: 'probe' }) }
 * await assertTenantIsolation(manager, { tables: [entry, tags, posts, child] })
 * ```
 */
export interface IsolationTable<TTable extends PgTable = PgTable> {
  /** The `withRls` table. */
  readonly table: TTable
  /** Builds the probe row, keyed by property. */
  readonly row: IsolationRow
}

/**
 * A table in the Drizzle form: bare, when a row of only its tenant column is valid, or with a
 * row ({@link IsolationTable}).
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls } from 'pg-tenants/drizzle'
 * import type { DrizzleIsolationEntry } from 'pg-tenants/testing'
 *
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 * const tags = withRls(pgTable('tags', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 *
 * export const tables: DrizzleIsolationEntry[] = [tags, { table: todos, row: (tenant) => ({ title: 'probe', tenant }) }]
 * ```
 */
export type DrizzleIsolationEntry = PgTable | IsolationTable

/** The spec of a Drizzle entry, with a row builder that returns what Drizzle's insert would
 * send (keyed by column name, each value through its column's `mapToDriverValue`), and the
 * seeded row read back as Drizzle would read it (keyed by property). */
export function isolationTableSpec(entry: DrizzleIsolationEntry, defaultSchema: string): ConvertedTableSpec {
  const bare = is(entry, PgTable)
  const table: unknown = bare ? entry : (entry as Partial<IsolationTable> | null)?.table
  if (!is(table, PgTable)) {
    throw new TenantError('INVALID_OPTIONS', 'assertTenantIsolation: each entry of tables must be { spec, row? }, a withRls table, or { table, row }.')
  }
  const spec = requireRlsSpec(table, defaultSchema)
  const columns = getTableColumns(table) as Record<string, Column>
  const found = Object.entries(columns).find(([, c]) => c.name === spec.column)
  if (!found) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `assertTenantIsolation: table ${spec.name} has no column ${JSON.stringify(spec.column)}, its withRls tenant column.`,
    )
  }
  const [key, column] = found
  const bigintMode = column.columnType === 'PgBigInt64'
  const build: IsolationRow = bare ? (tenant) => ({ [key]: tenant }) : entry.row
  if (typeof build !== 'function') {
    throw new TenantError('INVALID_OPTIONS', `assertTenantIsolation: the row of table ${spec.name} must be a function (tenant, seeded) => row.`)
  }
  return {
    spec,
    row: (tenant, seeded) => driverRow(spec.name, columns, build(bigintMode ? BigInt(tenant) : tenant, seeded)),
    reported: (row) => propertyRow(columns, row),
  }
}

/** A returned row keyed by property. A text or number goes through the column's
 * `mapFromDriverValue` (a bigint column's digits become a bigint); a value the driver has already
 * parsed (a Date, an object, an array) is left as it is, as Drizzle's own drivers would hand it
 * over. */
function propertyRow(columns: Record<string, Column>, row: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, column] of Object.entries(columns)) {
    if (!Object.hasOwn(row, column.name)) continue
    const value = row[column.name]
    const raw = typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'
    out[key] = raw ? column.mapFromDriverValue(value) : value
  }
  return out
}

/** Mirrors Drizzle's insert: unknown keys and generated columns are left out, a missing value
 * comes from `$defaultFn` (or `$onUpdateFn`), and SQL values are refused (no bind parameter can
 * carry them). */
function driverRow(name: string, columns: Record<string, Column>, row: Record<string, unknown>): Record<string, unknown> {
  if (typeof row !== 'object' || row === null) throw new TypeError(`the row builder of ${name} returned ${row === null ? 'null' : typeof row}, not an object`)
  const out: Record<string, unknown> = {}
  for (const [key, column] of Object.entries(columns)) {
    if (column.generated !== undefined && column.generated.type !== 'byDefault') continue
    let value = row[key]
    if (value === undefined) {
      if (column.defaultFn) value = column.defaultFn()
      else if (!column.default && column.onUpdateFn) value = column.onUpdateFn()
    }
    if (value === undefined) continue
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed: without it tsc fails (TS2339, value is {})
    if (typeof (value as { getSQL?: unknown } | null)?.getSQL === 'function') {
      throw new TypeError(`${name}.${key}: the probe row holds an SQL expression; give a plain value`)
    }
    out[column.name] = value === null ? null : column.mapToDriverValue(value)
  }
  return out
}
