/**
 * `assertTenantIsolation(manager, { tables })`: a check users run from their own test suite
 * against their real schema. Two throwaway tenants, one row each per table, then every way a
 * tenant could reach the other's rows is tried; the rows and tenants are removed afterwards.
 *
 * Every probe runs in its own scope and is rolled back, so a broken schema is reported without
 * the probes changing any data.
 *
 * @module
 */
import { eq, getTableColumns, is, or, sql, type Column } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { sqlState, TenantError, TenantNotFound } from '../core/errors.js'
import type { TableSpec } from '../core/migration.js'
import { SETTING_KEY } from '../core/options.js'
import type { TenantId } from '../core/tenant-id.js'
import type { AnyPgDatabase } from '../drizzle/bind.js'
import type { PostgresManager } from '../drizzle/manager.js'
import { requireRlsSpec } from '../drizzle/with-rls.js'
import { checkTenants, columnValue } from './check-tenants.js'
import { TenantIsolationError, type IsolationCheck, type IsolationFailure } from './isolation-error.js'

/** Builds a valid row of the table for `tenant` (a number for an integer tenant column, a bigint
 * for a `mode: 'bigint'` bigint column, a string otherwise). */
export type IsolationRow = (tenant: TenantId) => Record<string, unknown>

/** A table to check, with a builder of one valid row for a tenant. */
export interface IsolationTable<TTable extends PgTable = PgTable> {
  readonly table: TTable
  readonly row: IsolationRow
}

/** Options of {@link assertTenantIsolation}. */
export interface AssertTenantIsolationOptions {
  /** `withRls` tables to check: `{ table, row }`, or the bare table when a row holding only its
   * tenant column is valid. */
  readonly tables: readonly (PgTable | IsolationTable)[]
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

// The probes work on any table shape, so they go through Drizzle's query builder untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

interface Target {
  readonly table: PgTable
  readonly spec: TableSpec
  readonly name: string
  readonly column: Column
  /** The tenant column's property key in the Drizzle table. */
  readonly key: string
  readonly row: (text: string) => Record<string, unknown>
  readonly value: (text: string) => TenantId
}

/** Carries a probe's outcome out of a scope that must not commit. */
class Rollback {
  constructor(readonly value: unknown) {}
}

/**
 * Proves, against the live database, that row-level security keeps tenants apart for each of
 * `tables`. It creates two throwaway tenants, seeds one row per tenant per table through
 * `manager.withTenant`, and then, as tenant A, tries to read, insert, update, delete and take
 * over tenant B's rows; it also checks that a pooled connection carries no tenant state after
 * the scopes and that a query outside any scope sees no tenant row. The seeded rows and the two
 * tenants are removed in every case.
 *
 * Throws a {@link TenantIsolationError} (code `'ISOLATION_FAILED'`) listing every check that did
 * not hold; resolves to a summary otherwise. Use a database you test against, not production:
 * it writes and deletes rows.
 *
 * @example
 * ```ts
 * import { assertTenantIsolation } from 'pg-tenants/testing'
 *
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation(manager, {
 *     tables: [{ table: todos, row: (tenant) => ({ title: 'x', tenant }) }, tags],
 *   })
 * })
 * ```
 */
export async function assertTenantIsolation<TDb extends AnyPgDatabase>(
  manager: PostgresManager<TDb>,
  options: AssertTenantIsolationOptions,
): Promise<IsolationSummary> {
  const targets = options.tables.map((entry) => resolveTarget(entry, manager.options.schema))
  if (targets.length === 0) {
    throw new TenantError('INVALID_OPTIONS', 'assertTenantIsolation: pass at least one table in { tables }.')
  }
  const { a, b } = checkTenants(targets.map((t) => t.spec))
  const failures: IsolationFailure[] = []
  const fail = (target: Target | undefined, check: IsolationCheck, message: string) =>
    failures.push({ table: target?.name, check, message })
  let checks = 0
  const created: string[] = []
  const checked: Target[] = []
  const cleanupErrors: unknown[] = []

  const baseline = await connectionState(manager.db)
  checks++
  if (baseline.tenant !== '') {
    fail(undefined, 'pool', `before any scope, a pooled connection already carries tenant ${JSON.stringify(baseline.tenant)} in ${SETTING_KEY}`)
  }
  try {
    for (const id of [a, b]) {
      await manager.createTenant(id)
      created.push(id)
    }
    for (const target of targets) {
      try {
        for (const id of [a, b]) {
          await manager.withTenant(id, (tx) => (tx as Loose).insert(target.table).values(target.row(id)), { createIfMissing: false })
        }
        checked.push(target)
      } catch (error) {
        fail(target, 'seed', `seeding one row per tenant failed (${describe(error)}), so this table was not checked; pass { table, row } with a valid row`)
      }
    }
    for (const target of checked) {
      checks += 5
      await scopedChecks(manager, target, a, b, fail)
    }

    checks++
    const after = await connectionState(manager.db)
    if (after.user !== baseline.user) {
      fail(undefined, 'pool', `after the scopes, a pooled connection runs as ${JSON.stringify(after.user)} instead of the login role ${JSON.stringify(baseline.user)}: a scope leaked its role`)
    }
    if (after.tenant !== '') {
      fail(undefined, 'pool', `after the scopes, a pooled connection still carries tenant ${JSON.stringify(after.tenant)} in ${SETTING_KEY}`)
    }

    for (const target of checked) {
      checks++
      await outsideScope(manager.db, target, a, b, fail)
    }
  } finally {
    for (const target of targets) {
      const va = target.value(a)
      const vb = target.value(b)
      await manager
        .withAdmin((tx) => (tx as Loose).delete(target.table).where(or(eq(target.column, va), eq(target.column, vb))))
        .catch((error: unknown) => cleanupErrors.push(error))
    }
    for (const id of created) {
      await manager.deleteTenant(id).catch((error: unknown) => {
        if (!(error instanceof TenantNotFound)) cleanupErrors.push(error)
      })
    }
  }
  if (failures.length > 0) throw new TenantIsolationError(failures)
  if (cleanupErrors.length > 0) throw cleanupErrors[0]
  return Object.freeze({ tenants: [a, b] as const, tables: targets.map((t) => t.name), checks })
}

/** The five checks a tenant runs against the other tenant's row, each in a rolled-back scope. */
async function scopedChecks<TDb extends AnyPgDatabase>(
  manager: PostgresManager<TDb>,
  target: Target,
  a: string,
  b: string,
  fail: (target: Target, check: IsolationCheck, message: string) => void,
): Promise<void> {
  const { table, column } = target
  const va = target.value(a)
  const vb = target.value(b)
  const col = column.name
  const attempt = async (check: IsolationCheck, fn: (tx: Loose) => Promise<unknown>): Promise<{ value?: unknown; error?: unknown } | undefined> => {
    try {
      await manager.withTenant(a, async (tx) => {
        throw new Rollback(await fn(tx).then((value) => ({ value }), (error: unknown) => ({ error })))
      }, { createIfMissing: false })
    } catch (outcome) {
      if (outcome instanceof Rollback) return outcome.value as { value?: unknown; error?: unknown }
      fail(target, check, `the scope itself failed (${describe(outcome)}), so the check could not run`)
      return undefined
    }
    return undefined
  }
  const counted = (check: IsolationCheck, outcome: { value?: unknown; error?: unknown } | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      // Refused outright is as good as touching nothing.
      if (sqlState(outcome.error) !== '42501') fail(target, check, `failed with ${describe(outcome.error)} instead of touching 0 rows`)
      return
    }
    const n = (outcome.value as unknown[]).length
    if (n > 0) fail(target, check, `tenant A ${what} ${n} of tenant B's rows (expected 0)`)
  }
  const rejected = (check: IsolationCheck, outcome: { value?: unknown; error?: unknown } | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      const state = sqlState(outcome.error)
      if (state !== '42501') fail(target, check, `failed with ${describe(outcome.error)} instead of SQLSTATE 42501 (row-level security)`)
      return
    }
    const rows = outcome.value
    if (Array.isArray(rows) && rows.length === 0) {
      fail(target, check, 'touched 0 rows: tenant A cannot see its own row, so moving it could not be tried')
      return
    }
    fail(target, check, `tenant A ${what} (expected SQLSTATE 42501)`)
  }

  const seen = await attempt('select', (tx) => tx.select({ t: column }).from(table))
  if (seen && 'error' in seen) {
    fail(target, 'select', `failed with ${describe(seen.error)}`)
  } else if (seen) {
    const foreign = (seen.value as { t: unknown }[]).map((r) => canonical(r.t, target.spec)).filter((t) => t !== a)
    const ofB = foreign.filter((t) => t === b).length
    if (foreign.length > 0) {
      fail(target, 'select', `tenant A sees ${foreign.length} row(s) of other tenants, ${ofB} of them tenant B's (expected none)`)
    }
  }
  rejected('insert', await attempt('insert', (tx) => tx.insert(table).values(target.row(b))), `inserted a row for tenant B`)
  counted('update', await attempt('update', (tx) => tx.update(table).set({ [target.key]: vb }).where(eq(column, vb)).returning({ t: column })), 'updated')
  counted('delete', await attempt('delete', (tx) => tx.delete(table).where(eq(column, vb)).returning({ t: column })), 'deleted')
  rejected(
    'move',
    await attempt('move', (tx) => tx.update(table).set({ [target.key]: vb }).where(eq(column, va)).returning({ t: column })),
    `moved its own row to tenant B by updating ${JSON.stringify(col)}`,
  )
}

/** Outside any scope, the login must see none of the seeded rows. */
async function outsideScope(
  db: AnyPgDatabase,
  target: Target,
  a: string,
  b: string,
  fail: (target: Target, check: IsolationCheck, message: string) => void,
): Promise<void> {
  const { table, column } = target
  try {
    const rows = (await (db as Loose)
      .select({ t: column })
      .from(table)
      .where(or(eq(column, target.value(a)), eq(column, target.value(b))))) as unknown[]
    if (rows.length > 0) {
      fail(
        target,
        'outside-scope',
        `a query outside any scope sees ${rows.length} of the seeded rows (expected none): FORCE ROW LEVEL ` +
          'SECURITY is off while the login owns the table, RLS is disabled, or the login is superuser or BYPASSRLS',
      )
    }
  } catch (error) {
    // No privilege on the table at all also means no row is visible.
    if (sqlState(error) !== '42501') fail(target, 'outside-scope', `failed with ${describe(error)}`)
  }
}

/** The role and tenant setting of a pooled connection, outside any scope. */
async function connectionState(db: AnyPgDatabase): Promise<{ user: string; tenant: string }> {
  const result = (await db.execute(
    sql`select current_user as "user", coalesce(current_setting(${SETTING_KEY}, true), '') as "tenant"`,
  )) as unknown as { rows: { user: unknown; tenant: unknown }[] }
  const row = result.rows[0]
  return { user: String(row?.user), tenant: String(row?.tenant ?? '') }
}

function resolveTarget(entry: PgTable | IsolationTable, defaultSchema: string): Target {
  const bare = is(entry, PgTable)
  const table = bare ? entry : (entry as IsolationTable).table
  const spec = requireRlsSpec(table, defaultSchema)
  const columns = getTableColumns(table) as Record<string, Column>
  const found = Object.entries(columns).find(([, c]) => c.name === spec.column)
  if (!found) throw new TypeError(`Table ${spec.name}: tenant column ${JSON.stringify(spec.column)} not found.`)
  const [key, column] = found
  const bigintMode = column.columnType === 'PgBigInt64'
  const value = (text: string) => columnValue(text, spec, bigintMode)
  const build: IsolationRow = bare ? (tenant) => ({ [key]: tenant }) : (entry as IsolationTable).row
  return {
    table,
    spec,
    name: `${spec.schema}.${spec.name}`,
    column,
    key,
    row: (text) => build(value(text)),
    value,
  }
}

/** A tenant value read back, as canonical text. */
function canonical(value: unknown, spec: TableSpec): string {
  const text = String(value)
  return spec.type === 'uuid' ? text.toLowerCase() : text
}

function describe(error: unknown): string {
  const state = sqlState(error)
  const message = error instanceof Error ? error.message : String(error)
  return state ? `SQLSTATE ${state}: ${message}` : message
}
