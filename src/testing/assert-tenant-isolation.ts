/**
 * `assertTenantIsolation(manager, { tables })`: a check users run from their own test suite
 * against their real schema. Two throwaway tenants, one row each per table (parents first), then
 * every way a tenant could reach the other's rows is tried, through the tables, their partitions
 * and the views over them; the rows and tenants are removed afterwards.
 *
 * It talks to the engine behind the manager with plain SQL, so it works for every adapter; tables
 * come as ORM-neutral `{ spec, row }` (Drizzle `withRls` tables are converted by a file loaded
 * only when one is passed). Every probe runs in its own scope and is rolled back, so a broken
 * schema is reported without the probes changing any data.
 *
 * @module
 */
import { engineOf } from '../core/adapter.js'
import { refuseNested } from '../core/context.js'
import type { TenantEngine } from '../core/engine.js'
import { sqlState, TenantError } from '../core/errors.js'
import type { DrizzleIsolationEntry } from '../drizzle/isolation-tables.js'
import { checkTenants } from './check-tenants.js'
import { cleanup } from './cleanup.js'
import { describe, send, tenantScope, unscoped, type Row } from './connections.js'
import { TenantIsolationError, type IsolationFailure } from './isolation-error.js'
import { isolationTarget, isSpecEntry, type IsolationTableSpec, type IsolationTarget, type SeededRows } from './isolation-spec.js'
import { outsideScope, partitionProbe, SCOPED_CHECKS, scopedChecks, viewProbe, type Fail, type Probe } from './probes.js'
import { schemaGraph } from './schema-graph.js'

/**
 * A table to check: ORM-neutral `{ spec, row? }` ({@link IsolationTableSpec}), or a Drizzle
 * `withRls` table, bare or as `{ table, row }` ({@link DrizzleIsolationEntry}).
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls } from 'pg-tenants/drizzle'
 * import type { IsolationEntry } from 'pg-tenants/testing'
 *
 * const tags = withRls(pgTable('tags', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 *
 * export const tables: IsolationEntry[] = [
 *   { spec: { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'probe' }) },
 *   tags, // a bare withRls table: a row of its tenant column alone is valid
 * ]
 * ```
 */
export type IsolationEntry = IsolationTableSpec | DrizzleIsolationEntry

/**
 * Options of {@link assertTenantIsolation}.
 *
 * @example
 * ```ts
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation, type AssertTenantIsolationOptions } from 'pg-tenants/testing'
 *
 * declare const manager: AnyPostgresManager
 *
 * const options: AssertTenantIsolationOptions = {
 *   tables: [{ spec: { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'probe' }) }],
 * }
 * await assertTenantIsolation(manager, options)
 * ```
 */
export interface AssertTenantIsolationOptions {
  /** The tables to check, in either form (they may be mixed). */
  readonly tables: readonly IsolationEntry[]
}

/**
 * What {@link assertTenantIsolation} returns when every check held.
 *
 * @example
 * ```ts
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation, type IsolationSummary } from 'pg-tenants/testing'
 *
 * declare const manager: AnyPostgresManager
 *
 * const summary: IsolationSummary = await assertTenantIsolation(manager, {
 *   tables: [{ spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'text' } }],
 * })
 * console.log(`${summary.checks} checks held on ${summary.tables.join(', ')}`)
 * ```
 */
export interface IsolationSummary {
  /** The two throwaway tenants used (already deleted). */
  readonly tenants: readonly [string, string]
  /** The tables checked, as `schema.table`. */
  readonly tables: readonly string[]
  /** How many checks ran and held. */
  readonly checks: number
}

/**
 * Proves, against the live database, that row-level security keeps tenants apart for each of
 * `tables`. It creates two throwaway tenants, seeds one row per tenant per table in that tenant's
 * scope (parents before children, by the foreign keys between the tables), and then, as tenant A,
 * tries to read, insert, update, delete and take over tenant B's rows, with and without a WHERE;
 * reads every partition of the tables and every view over them; and checks that a pooled
 * connection carries no tenant state after the scopes and that a query outside any scope sees no
 * tenant row. The seeded rows (children first) and the two tenants are removed in every case.
 *
 * `manager` is the manager of any pg-tenants adapter. A table is `{ spec, row? }` (row keyed by
 * column name), or, for Drizzle, a `withRls` table, bare or as `{ table, row }` (row keyed by
 * property). Without a row builder the row holds only the tenant column. A row builder gets the
 * rows already seeded for the same tenant as its second argument ({@link SeededRows}).
 *
 * Throws a {@link TenantIsolationError} (code `'ISOLATION_FAILED'`) listing every check that did
 * not hold, and anything it could not remove (check `cleanup`); `INVALID_OPTIONS` for no tables,
 * a bad spec, uuid and integer tenant columns in one call, or foreign keys between the tables
 * that form a cycle; `NESTED_SCOPE` inside a scope. Resolves to a summary otherwise. Use a
 * database you test against, not production: it writes and deletes rows.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation } from 'pg-tenants/testing'
 * import { it } from 'vitest'
 *
 * declare const manager: AnyPostgresManager
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 * const tags = withRls(pgTable('tags', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 *
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation(manager, {
 *     tables: [
 *       { spec: { schema: 'public', name: 'posts', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'x' }) },
 *       {
 *         spec: { schema: 'public', name: 'comments', column: 'tenant', type: 'text' },
 *         row: (tenant, seeded) => ({ tenant, post_id: seeded.posts?.id, body: 'x' }),
 *       },
 *       { spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'text' } },
 *     ],
 *   })
 *   // Drizzle: the withRls tables themselves
 *   await assertTenantIsolation(manager, { tables: [{ table: todos, row: (tenant) => ({ title: 'x', tenant }) }, tags] })
 * })
 * ```
 */
export async function assertTenantIsolation(manager: object, options: AssertTenantIsolationOptions): Promise<IsolationSummary> {
  refuseNested('assertTenantIsolation')
  const engine = engineOf(manager)
  const targets = await resolveTargets(options?.tables ?? [], engine.options.schema)
  if (targets.length === 0) {
    throw new TenantError('INVALID_OPTIONS', 'assertTenantIsolation: pass at least one table in { tables }.')
  }
  const { a, b } = checkTenants(targets.map((t) => t.spec))
  const graph = await schemaGraph(engine, targets)
  const failures: IsolationFailure[] = []
  const fail: Fail = (table, check, message) => failures.push({ table, check, message })
  const seeds = new Map<string, Map<IsolationTarget, Row>>([
    [a, new Map()],
    [b, new Map()],
  ])
  const probe: Probe = {
    engine,
    graph,
    a,
    b,
    fail,
    seeded: (tenant, target) => seededRows(targets, graph.order, seeds.get(tenant), target),
    raw: (tenant, target) => seeds.get(tenant)?.get(target),
  }
  let checks = 0
  const created: string[] = []
  const key = engine.options.settingKey

  const baseline = await connectionState(engine)
  checks++
  if (baseline.tenant !== '') {
    fail(undefined, 'pool', `before any scope, a pooled connection already carries tenant ${JSON.stringify(baseline.tenant)} in ${key}`)
  }
  let stopped: { error: unknown } | undefined
  try {
    for (const id of [a, b]) {
      await engine.createTenant(id)
      created.push(id)
    }
    const seeded = new Set<IsolationTarget>()
    for (const target of graph.order) {
      try {
        for (const id of [a, b]) {
          const insert = (returning: boolean) =>
            engine.run(tenantScope(id), async (conn) => (await send(conn, target.insert(id, probe.seeded(id, target), returning))).rows[0])
          // RETURNING needs SELECT on the row: a table the tenant may only write is seeded without.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the insert's own error, passed on
          const row = await insert(true).catch((error: unknown) => (sqlState(error) === '42501' ? insert(false) : Promise.reject(error)))
          seeds.get(id)?.set(target, row ?? {})
        }
        seeded.add(target)
      } catch (error) {
        const missing = graph
          .parents(target)
          .filter((t) => !seeded.has(t))
          .map((t) => t.name)
        const why = missing.length > 0 ? `; it references ${missing.join(', ')}, which could not be seeded` : ''
        fail(
          target.name,
          'seed',
          `seeding one row per tenant failed (${describe(error)})${why}, so this table was not checked; pass ${target.hint} with a valid row`,
        )
      }
    }
    const checked = targets.filter((t) => seeded.has(t))
    for (const target of checked) {
      checks += SCOPED_CHECKS
      await scopedChecks(probe, target)
    }
    const partitions = graph.partitions.filter((x) => seeded.has(x.of))
    for (const partition of partitions) {
      checks++
      await partitionProbe(probe, partition)
    }
    for (const view of graph.views) {
      if (await viewProbe(probe, view)) checks++
    }

    checks++
    const after = await connectionState(engine)
    if (after.user !== baseline.user) {
      fail(
        undefined,
        'pool',
        `after the scopes, a pooled connection runs as ${JSON.stringify(after.user)} instead of the login role ${JSON.stringify(baseline.user)}: a scope leaked its role`,
      )
    }
    if (after.tenant !== '') {
      fail(undefined, 'pool', `after the scopes, a pooled connection still carries tenant ${JSON.stringify(after.tenant)} in ${key}`)
    }

    for (const { name, table, column } of [...checked, ...partitions.map((x) => ({ ...x, column: x.of.column }))]) {
      checks++
      await outsideScope(probe, name, table, column, baseline.bypass)
    }
  } catch (error) {
    stopped = { error }
  }
  const left = await cleanup(engine, graph.order, created, a, b)
  if (stopped) {
    if (left.length === 0) throw stopped.error
    throw new TenantIsolationError([...failures, ...left], { cause: stopped.error })
  }
  if (failures.length > 0 || left.length > 0) throw new TenantIsolationError([...failures, ...left])
  return Object.freeze({ tenants: [a, b] as const, tables: targets.map((t) => t.name), checks })
}

/** Spec entries as they are; any other entry through the Drizzle conversion, loaded on first use
 * so that the kit needs no Drizzle for spec entries. */
async function resolveTargets(entries: readonly IsolationEntry[], defaultSchema: string): Promise<IsolationTarget[]> {
  let drizzle: typeof import('../drizzle/isolation-tables.js') | undefined
  const targets: IsolationTarget[] = []
  for (const entry of entries) {
    if (isSpecEntry(entry)) {
      targets.push(isolationTarget(entry, defaultSchema))
      continue
    }
    drizzle ??= await import('../drizzle/isolation-tables.js').catch((error: unknown) => {
      throw new TenantError(
        'INVALID_OPTIONS',
        'assertTenantIsolation: a table is not { spec, row? }, and reading it as a Drizzle table needs drizzle-orm, ' +
          'which could not be loaded: pass { spec, row? } entries, or install drizzle-orm.',
        { cause: error },
      )
    })
    targets.push(isolationTarget(drizzle.isolationTableSpec(entry, defaultSchema), defaultSchema, '{ table, row }'))
  }
  return targets
}

/** The rows of one tenant seeded before `target` (in seed order), keyed by table name (unless
 * two tables share it) and by `schema.table`. */
function seededRows(
  targets: readonly IsolationTarget[],
  order: readonly IsolationTarget[],
  rows: ReadonlyMap<IsolationTarget, Row> | undefined,
  target: IsolationTarget,
): SeededRows {
  const out: Record<string, Row> = {}
  for (const earlier of order.slice(0, order.indexOf(target))) {
    const row = rows?.get(earlier)
    if (!row) continue
    const reported = earlier.report(row)
    out[earlier.name] = reported
    if (targets.filter((t) => t.spec.name === earlier.spec.name).length === 1) out[earlier.spec.name] = reported
  }
  return Object.freeze(out)
}

/** The role, its power over row-level security, and the tenant setting of a pooled connection,
 * outside any scope. */
async function connectionState(engine: TenantEngine): Promise<{ user: string; tenant: string; bypass: boolean }> {
  const result = await unscoped(engine, (conn) =>
    conn.query(
      `SELECT current_user::text AS "user", coalesce(current_setting($1, true), '') AS "tenant",
         coalesce((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user), false) AS "bypass"`,
      [engine.options.settingKey],
    ),
  )
  const row = result.rows[0]
  return { user: String(row?.['user']), tenant: String((row?.['tenant'] as string | undefined) ?? ''), bypass: row?.['bypass'] === true }
}
