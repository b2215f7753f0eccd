/**
 * `withRls(table)`: marks a Drizzle table as tenant-scoped and records its tenant column.
 *
 * @module
 */
import { is } from 'drizzle-orm'
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core'
import type { TableSpec } from '../core/migration.js'
import type { TenantColumnInfo, TenantColumnType } from '../core/tenant-id.js'

/** Options of {@link withRls}. */
export interface WithRlsOptions {
  /** The tenant column: its property key or its database name. Default `'tenant'`. */
  column?: string
}

const marks = new WeakMap<PgTable, TableSpec>()

/**
 * Marks a Drizzle pg table as tenant-scoped and returns the same table. Its tenant column must
 * be text, varchar, integer, bigint or uuid.
 *
 * @example
 * ```ts
 * export const todos = withRls(pgTable('todos', {
 *   id: serial('id').primaryKey(),
 *   title: text('title').notNull(),
 *   tenant: text('tenant').notNull(),
 * }))
 * ```
 */
export function withRls<TTable extends PgTable>(table: TTable, options: WithRlsOptions = {}): TTable {
  const { column = 'tenant' } = options
  if (!is(table, PgTable)) {
    throw new TypeError(
      'withRls() expects a Drizzle PostgreSQL table, as made by pgTable() from drizzle-orm/pg-core.',
    )
  }
  const config = getTableConfig(table)
  const columns = Object.entries(table as unknown as Record<string, unknown>)
  const found =
    columns.find(([key]) => key === column)?.[1] ?? config.columns.find((c) => c.name === column)
  const target = config.columns.find((c) => c === found)
  if (!target) {
    const names = config.columns.map((c) => c.name).join(', ')
    throw new TypeError(
      `withRls(${config.name}): no column ${JSON.stringify(column)} (columns: ${names}). ` +
        `Add one, or pass { column: 'yourTenantColumn' }.`,
    )
  }
  const sqlType = target.getSQLType().toLowerCase()
  const info = columnInfo(sqlType)
  if (!info) {
    throw new TypeError(
      `withRls(${config.name}): tenant column ${JSON.stringify(target.name)} is ${sqlType}; use text, ` +
        'varchar, integer, bigint or uuid.',
    )
  }
  marks.set(table, Object.freeze({
    schema: config.schema ?? '',
    name: config.name,
    column: target.name,
    type: info.type,
    length: info.length,
  }))
  return table
}

function columnInfo(sqlType: string): TenantColumnInfo | undefined {
  const varchar = /^(?:varchar|character varying)(?:\((\d+)\))?$/.exec(sqlType)
  if (varchar) return { type: 'varchar', length: varchar[1] === undefined ? undefined : Number(varchar[1]) }
  const types: Record<string, TenantColumnType> = { text: 'text', integer: 'integer', bigint: 'bigint', uuid: 'uuid' }
  const type = types[sqlType]
  return type ? { type } : undefined
}

/** The spec of a table marked with {@link withRls}, or undefined. An empty `schema` means the
 * manager's default schema. */
export function rlsSpec(table: unknown): TableSpec | undefined {
  return typeof table === 'object' && table !== null ? marks.get(table as PgTable) : undefined
}

/** The spec of a marked table with its schema filled in; throws a TypeError for others. */
export function requireRlsSpec(table: unknown, defaultSchema: string): TableSpec {
  const spec = rlsSpec(table)
  if (!spec) {
    const name = is(table, PgTable) ? getTableConfig(table as PgTable).name : String(table)
    throw new TypeError(`Table ${name} is not tenant-scoped: wrap it in withRls(...) first.`)
  }
  return spec.schema ? spec : { ...spec, schema: defaultSchema }
}
