/**
 * `withRls(table)`: marks a Drizzle table as tenant-scoped, records its tenant column, and gives
 * it the one policy drizzle-kit can create with the table, so that `drizzle-kit generate` emits
 * `ENABLE ROW LEVEL SECURITY` and the tenant policy with nothing else to configure.
 *
 * @module
 */
import { is, sql } from 'drizzle-orm'
import { getTableConfig, PgPolicy, pgPolicy, PgTable } from 'drizzle-orm/pg-core'
import { TenantError } from '../core/errors.js'
import { refuseControlCharacters, type TableSpec } from '../core/migration.js'
import { resolveOptions, type ResolvedOptions, type Strategy } from '../core/options.js'
import { POLICY_NAMES, tenantCondition } from '../core/policy.js'
import type { TenantColumnInfo, TenantColumnType } from '../core/tenant-id.js'
import { readMark, RLS_MARK, specOf, type RlsMark } from './mark.js'

/**
 * Options of {@link withRls}.
 *
 * @example
 * ```ts
 * import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type WithRlsOptions } from 'pg-tenants/drizzle'
 *
 * const rls: WithRlsOptions = { column: 'orgId', strategy: 'role', rolePrefix: 'crm_t_' } // as the manager's options
 * export const contacts = withRls(pgTable('contacts', { id: serial('id').primaryKey(), name: text('name'), orgId: integer('org_id').notNull() }), rls)
 * ```
 */
export interface WithRlsOptions {
  /** The tenant column: its property key or its database name. Default `'tenant'`. */
  column?: string
  /** The strategy the table's drizzle-kit policy is written for; must match the manager's.
   * Default `'setting'`. */
  strategy?: Strategy
  /** The per-tenant role prefix (`role` strategy); must match the manager's. Default `'tenant_'`. */
  rolePrefix?: string
  /** The tenant role the policy is bound to; must match the manager's. Default `'tenants_rls'`. */
  tenantRole?: string
}

type ExtraConfigBuilder = (columns: unknown) => unknown
/** drizzle-orm's internal table symbols (`Symbol.for` keys, the same in every copy of it). */
const TABLE_SYMBOLS = (PgTable as unknown as { Symbol: { ExtraConfigBuilder: symbol; ExtraConfigColumns: symbol; EnableRLS: symbol } }).Symbol
/** The table's own extra-config builder, kept so that wrapping twice does not add the policy twice. */
const OWN_EXTRA_CONFIG = Symbol.for('pg-tenants.withRls.ownExtraConfig')

/**
 * Marks a Drizzle pg table as tenant-scoped and returns the same table. Its tenant column must
 * be text, varchar, integer, bigint or uuid. The table gets `ENABLE ROW LEVEL SECURITY` and the
 * permissive tenant policy `pg_tenants_access` in drizzle-kit's view of it; the rest of the setup
 * comes from `pg-tenants generate` (or `migrationSql`).
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls } from 'pg-tenants/drizzle'
 *
 * export const todos = withRls(pgTable('todos', {
 *   id: serial('id').primaryKey(),
 *   title: text('title').notNull(),
 *   tenant: text('tenant').notNull(),
 * }))
 * ```
 */
export function withRls<TTable extends PgTable>(table: TTable, options: WithRlsOptions = {}): TTable {
  const { column = 'tenant', strategy, rolePrefix, tenantRole } = options
  if (!is(table, PgTable)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `withRls() expects a Drizzle PostgreSQL table but got ${describeValue(table)}: pass the table made by ` +
        "pgTable() (or a pgSchema's .table()) from drizzle-orm/pg-core.",
    )
  }
  const policyOptions = policyOptionsOf(strategy, rolePrefix, tenantRole)
  const config = getTableConfig(table)
  const columns = Object.entries(table as unknown as Record<string, unknown>)
  const found = columns.find(([key]) => key === column)?.[1] ?? config.columns.find((c) => c.name === column)
  const target = config.columns.find((c) => c === found)
  if (!target) {
    const names = config.columns.map((c) => c.name).join(', ')
    throw new TenantError(
      'INVALID_OPTIONS',
      `withRls(${config.name}): no column ${JSON.stringify(column)} (columns: ${names}). ` + `Add one, or pass { column: 'yourTenantColumn' }.`,
    )
  }
  // A newline in a name would end a `--` comment line of the generated migration.
  refuseControlCharacters(`withRls(${JSON.stringify(config.name)})`, [
    ['schema', config.schema ?? ''],
    ['table', config.name],
    ['column', target.name],
  ])
  const sqlType = target.getSQLType().toLowerCase()
  const info = columnInfo(sqlType)
  if (!info) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `withRls(${config.name}): tenant column ${JSON.stringify(target.name)} is ${sqlType}; use text, ` + 'varchar, integer, bigint or uuid.',
    )
  }
  const mark: RlsMark = Object.freeze({
    schema: config.schema ?? '',
    name: config.name,
    column: target.name,
    type: info.type,
    length: info.length,
    strategy: policyOptions.strategy,
    rolePrefix: policyOptions.rolePrefix,
    tenantRole: policyOptions.tenantRole,
    explicit: strategy !== undefined || rolePrefix !== undefined || tenantRole !== undefined,
  })
  attachPolicy(table, mark, policyOptions)
  Object.defineProperty(table, RLS_MARK, { value: mark, configurable: true })
  return table
}

/** The strategy and prefix, checked like the manager's options (the role-name checks need the
 * manager's full options and are left to it). */
function policyOptionsOf(strategy: Strategy | undefined, rolePrefix: string | undefined, tenantRole: string | undefined): ResolvedOptions {
  if (strategy !== undefined && strategy !== 'setting' && strategy !== 'role') {
    throw new TenantError('INVALID_OPTIONS', `withRls: unknown strategy ${JSON.stringify(strategy)}: use 'setting' (default) or 'role'.`)
  }
  return {
    ...resolveOptions({ ...(rolePrefix === undefined ? {} : { rolePrefix }), ...(tenantRole === undefined ? {} : { tenantRole }) }),
    strategy: strategy ?? 'setting',
  }
}

/**
 * Wraps the table's extra-config builder so that drizzle-kit (and `getTableConfig`) also sees the
 * permissive tenant policy, to `public`: drizzle-kit creates it in the same migration as the
 * table, before any pg-tenants role exists. Whatever the table's own builder returns is kept.
 */
function attachPolicy(table: PgTable, mark: RlsMark, options: ResolvedOptions): void {
  const slots = table as unknown as Record<symbol, unknown>
  const own = (readMark(table) ? slots[OWN_EXTRA_CONFIG] : slots[TABLE_SYMBOLS.ExtraConfigBuilder]) as ExtraConfigBuilder | undefined
  const extras = (columns: unknown): unknown[] => {
    const result = own?.(columns)
    if (result === undefined || result === null) return []
    return Array.isArray(result) ? result : Object.values(result) // the legacy object form
  }
  const taken = extras(slots[TABLE_SYMBOLS.ExtraConfigColumns])
    .flat(1)
    .some((value) => is(value, PgPolicy) && value.name === POLICY_NAMES.access)
  if (taken) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `withRls(${mark.name}): the table already has a policy named ${POLICY_NAMES.access}, which withRls adds itself: ` + 'rename or remove yours.',
    )
  }
  const condition = tenantCondition(options, mark.column, mark.type)
  const builder: ExtraConfigBuilder = (columns) => [
    ...extras(columns),
    pgPolicy(POLICY_NAMES.access, {
      as: 'permissive',
      for: 'all',
      to: 'public',
      using: sql.raw(condition),
      withCheck: sql.raw(condition),
    }),
  ]
  Object.defineProperty(table, OWN_EXTRA_CONFIG, { value: own, configurable: true })
  slots[TABLE_SYMBOLS.ExtraConfigBuilder] = builder
  slots[TABLE_SYMBOLS.EnableRLS] = true
}

/** A short description of a value that is not a table, for an error message. */
function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    return name && name !== 'Object' ? `a ${name}` : 'a plain object'
  }
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`
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
  const mark = readMark(table)
  return mark && specOf(mark)
}

/** The spec of a marked table with its schema filled in; throws `INVALID_OPTIONS` for others. */
export function requireRlsSpec(table: unknown, defaultSchema: string): TableSpec {
  const spec = rlsSpec(table)
  if (!spec) {
    if (!is(table, PgTable)) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `migrationSql expects Drizzle tables wrapped in withRls(...), but got ${describeValue(table)}: ` + 'pass only the tenant-scoped tables of your schema.',
      )
    }
    const name = getTableConfig(table).name
    throw new TenantError('INVALID_OPTIONS', `Table ${name} is not tenant-scoped: wrap it in withRls(...) where it is defined, or leave it out of the list.`)
  }
  return spec.schema ? spec : { ...spec, schema: defaultSchema }
}
