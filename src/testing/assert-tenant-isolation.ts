/**
 * `assertTenantIsolation(manager, { tables })`: a check users run from their own test suite
 * against their real schema. Two throwaway tenants, one row each per table, then every way a
 * tenant could reach the other's rows is tried; the rows and tenants are removed afterwards.
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
import type { Connection } from '../core/driver.js'
import type { ScopeRequest, TenantEngine } from '../core/engine.js'
import { sqlState, TenantError, TenantNotFound } from '../core/errors.js'
import type { DrizzleIsolationEntry } from '../drizzle/isolation-tables.js'
import { checkTenants } from './check-tenants.js'
import { TenantIsolationError, type IsolationCheck, type IsolationFailure } from './isolation-error.js'
import { isolationTarget, isSpecEntry, type IsolationTableSpec, type IsolationTarget, type Statement } from './isolation-spec.js'

/** A table to check: ORM-neutral `{ spec, row? }`, or a Drizzle `withRls` table, bare or as
 * `{ table, row }`. */
export type IsolationEntry = IsolationTableSpec | DrizzleIsolationEntry

/** Options of {@link assertTenantIsolation}. */
export interface AssertTenantIsolationOptions {
  /** The tables to check, in either form (they may be mixed). */
  readonly tables: readonly IsolationEntry[]
}

/** What {@link assertTenantIsolation} returns when every check held. */
export interface IsolationSummary {
  /** The two throwaway tenants used (already deleted). */
  readonly tenants: readonly [string, string]
  /** The tables checked, as `schema.table`. */
  readonly tables: readonly string[]
  /** How many checks ran and held. */
  readonly checks: number
}

type Row = Readonly<Record<string, unknown>>
/** A probe's outcome: the rows its statement returned, or the error it failed with. */
type Outcome = { readonly rows: readonly Row[] } | { readonly error: unknown }
type Fail = (target: IsolationTarget | undefined, check: IsolationCheck, message: string) => void

/** Carries a probe's outcome out of a scope that must not commit. */
class Rollback {
  constructor(readonly outcome: Outcome) {}
}

/**
 * Proves, against the live database, that row-level security keeps tenants apart for each of
 * `tables`. It creates two throwaway tenants, seeds one row per tenant per table in that tenant's
 * scope, and then, as tenant A, tries to read, insert, update, delete and take over tenant B's
 * rows; it also checks that a pooled connection carries no tenant state after the scopes and that
 * a query outside any scope sees no tenant row. The seeded rows and the two tenants are removed in
 * every case.
 *
 * `manager` is the manager of any pg-tenants adapter. A table is `{ spec, row? }` (row keyed by
 * column name), or, for Drizzle, a `withRls` table, bare or as `{ table, row }` (row keyed by
 * property). Without a row builder the row holds only the tenant column.
 *
 * Throws a {@link TenantIsolationError} (code `'ISOLATION_FAILED'`) listing every check that did
 * not hold; `INVALID_OPTIONS` for no tables, a bad spec, or uuid and integer tenant columns in one
 * call; `NESTED_SCOPE` inside a scope. Resolves to a summary otherwise. Use a database you test
 * against, not production: it writes and deletes rows.
 *
 * @example
 * ```ts
 * import { assertTenantIsolation } from 'pg-tenants/testing'
 *
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation(manager, {
 *     tables: [
 *       { spec: { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'x' }) },
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
  const failures: IsolationFailure[] = []
  const fail: Fail = (target, check, message) => failures.push({ table: target?.name, check, message })
  let checks = 0
  const created: string[] = []
  const checked: IsolationTarget[] = []
  const cleanupErrors: unknown[] = []
  const key = engine.options.settingKey

  const baseline = await connectionState(engine)
  checks++
  if (baseline.tenant !== '') {
    fail(undefined, 'pool', `before any scope, a pooled connection already carries tenant ${JSON.stringify(baseline.tenant)} in ${key}`)
  }
  try {
    for (const id of [a, b]) {
      await engine.createTenant(id)
      created.push(id)
    }
    for (const target of targets) {
      try {
        for (const id of [a, b]) await engine.run(tenantScope(id), async (conn) => send(conn, target.insert(id)))
        checked.push(target)
      } catch (error) {
        fail(target, 'seed', `seeding one row per tenant failed (${describe(error)}), so this table was not checked; pass ${target.hint} with a valid row`)
      }
    }
    for (const target of checked) {
      checks += 5
      await scopedChecks(engine, target, a, b, fail)
    }

    checks++
    const after = await connectionState(engine)
    if (after.user !== baseline.user) {
      fail(undefined, 'pool', `after the scopes, a pooled connection runs as ${JSON.stringify(after.user)} instead of the login role ${JSON.stringify(baseline.user)}: a scope leaked its role`)
    }
    if (after.tenant !== '') {
      fail(undefined, 'pool', `after the scopes, a pooled connection still carries tenant ${JSON.stringify(after.tenant)} in ${key}`)
    }

    for (const target of checked) {
      checks++
      await outsideScope(engine, target, a, b, fail)
    }
  } finally {
    for (const target of targets) {
      await engine
        .run({ kind: 'admin' }, (conn) => conn.query(`DELETE FROM ${target.table} WHERE ${target.column} IN ($1, $2)`, [a, b]))
        .catch((error: unknown) => cleanupErrors.push(error))
    }
    for (const id of created) {
      await engine.deleteTenant(id).catch((error: unknown) => {
        if (!(error instanceof TenantNotFound)) cleanupErrors.push(error)
      })
    }
  }
  if (failures.length > 0) throw new TenantIsolationError(failures)
  if (cleanupErrors.length > 0) throw cleanupErrors[0]
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

function tenantScope(id: string): ScopeRequest {
  return { kind: 'tenant', id, createIfMissing: false }
}

function send(conn: Connection, statement: Statement) {
  return conn.query(statement.sql, statement.params)
}

/** The five checks a tenant runs against the other tenant's row, each in a rolled-back scope. */
async function scopedChecks(engine: TenantEngine, target: IsolationTarget, a: string, b: string, fail: Fail): Promise<void> {
  const { table, column } = target
  const attempt = async (check: IsolationCheck, statement: () => Statement): Promise<Outcome | undefined> => {
    try {
      await engine.run(tenantScope(a), async (conn) => {
        const outcome = await Promise.resolve()
          .then(() => send(conn, statement()))
          .then((result): Outcome => ({ rows: result.rows }), (error: unknown): Outcome => ({ error }))
        throw new Rollback(outcome)
      })
    } catch (thrown) {
      if (thrown instanceof Rollback) return thrown.outcome
      fail(target, check, `the scope itself failed (${describe(thrown)}), so the check could not run`)
    }
    return undefined
  }
  const counted = (check: IsolationCheck, outcome: Outcome | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      // Refused outright is as good as touching nothing.
      if (sqlState(outcome.error) !== '42501') fail(target, check, `failed with ${describe(outcome.error)} instead of touching 0 rows`)
      return
    }
    const n = outcome.rows.length
    if (n > 0) fail(target, check, `tenant A ${what} ${n} of tenant B's rows (expected 0)`)
  }
  const refused = (check: IsolationCheck, outcome: Outcome | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      if (sqlState(outcome.error) !== '42501') fail(target, check, `failed with ${describe(outcome.error)} instead of SQLSTATE 42501 (row-level security)`)
      return
    }
    fail(target, check, `tenant A ${what} (expected SQLSTATE 42501)`)
  }

  const seen = await attempt('select', () => ({
    sql: `SELECT count(*) FILTER (WHERE ${column}::text IS DISTINCT FROM $1) AS "foreign", count(*) FILTER (WHERE ${column}::text = $2) AS "ofB" FROM ${table}`,
    params: [a, b],
  }))
  if (seen && 'error' in seen) {
    fail(target, 'select', `failed with ${describe(seen.error)}`)
  } else if (seen) {
    const foreign = Number(seen.rows[0]?.['foreign'] ?? 0)
    const ofB = Number(seen.rows[0]?.['ofB'] ?? 0)
    if (foreign > 0) fail(target, 'select', `tenant A sees ${foreign} row(s) of other tenants, ${ofB} of them tenant B's (expected none)`)
  }
  refused('insert', await attempt('insert', () => target.insert(b)), 'inserted a row for tenant B')
  const returning = `RETURNING ${column}::text AS "t"`
  counted('update', await attempt('update', () => ({ sql: `UPDATE ${table} SET ${column} = $1 WHERE ${column} = $2 ${returning}`, params: [b, b] })), 'updated')
  counted('delete', await attempt('delete', () => ({ sql: `DELETE FROM ${table} WHERE ${column} = $1 ${returning}`, params: [b] })), 'deleted')
  const moved = await attempt('move', () => ({ sql: `UPDATE ${table} SET ${column} = $1 WHERE ${column} = $2 ${returning}`, params: [b, a] }))
  if (moved && 'rows' in moved && moved.rows.length === 0) {
    fail(target, 'move', 'touched 0 rows: tenant A cannot see its own row, so moving it could not be tried')
  } else {
    refused('move', moved, `moved its own row to tenant B by updating ${JSON.stringify(target.spec.column)}`)
  }
}

/** Outside any scope, the login must see none of the seeded rows. */
async function outsideScope(engine: TenantEngine, target: IsolationTarget, a: string, b: string, fail: Fail): Promise<void> {
  try {
    const result = await unscoped(engine, (conn) =>
      conn.query(`SELECT count(*) AS "n" FROM ${target.table} WHERE ${target.column} IN ($1, $2)`, [a, b]),
    )
    const n = Number(result.rows[0]?.['n'] ?? 0)
    if (n > 0) {
      fail(
        target,
        'outside-scope',
        `a query outside any scope sees ${n} of the seeded rows (expected none): FORCE ROW LEVEL ` +
          'SECURITY is off while the login owns the table, RLS is disabled, or the login is superuser or BYPASSRLS',
      )
    }
  } catch (error) {
    // No privilege on the table at all also means no row is visible.
    if (sqlState(error) !== '42501') fail(target, 'outside-scope', `failed with ${describe(error)}`)
  }
}

/** The role and tenant setting of a pooled connection, outside any scope. */
async function connectionState(engine: TenantEngine): Promise<{ user: string; tenant: string }> {
  const result = await unscoped(engine, (conn) =>
    conn.query(`SELECT current_user::text AS "user", coalesce(current_setting($1, true), '') AS "tenant"`, [engine.options.settingKey]),
  )
  const row = result.rows[0]
  return { user: String(row?.['user']), tenant: String(row?.['tenant'] ?? '') }
}

/** Runs `fn` on a connection of the engine's driver with no scope and no transaction, as a query
 * on the pool would; a connection whose statement failed unexpectedly is not reused. */
async function unscoped<T>(engine: TenantEngine, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await engine.driver.connect()
  let clean = false
  try {
    const value = await fn(conn)
    clean = true
    return value
  } catch (error) {
    clean = sqlState(error) === '42501' // refused before it ran: the connection is as it was
    throw error
  } finally {
    await conn.release(!clean)
  }
}

function describe(error: unknown): string {
  const state = sqlState(error)
  const message = error instanceof Error ? error.message : String(error)
  return state ? `SQLSTATE ${state}: ${message}` : message
}
