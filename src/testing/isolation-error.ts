/**
 * `TenantIsolationError`: what `assertTenantIsolation` throws when a check goes red, or when it
 * could not remove everything it created.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'

/**
 * The checks `assertTenantIsolation` runs.
 *
 * @example
 * ```ts
 * import { TenantIsolationError, type IsolationCheck } from 'pg-tenants/testing'
 *
 * export function failedChecks(error: unknown): IsolationCheck[] {
 *   return error instanceof TenantIsolationError ? [...new Set(error.failures.map((f) => f.check))] : []
 * }
 * ```
 */
export type IsolationCheck =
  /** Seeding one row per throwaway tenant (a failure here means the other checks could not run). */
  | 'seed'
  /** As tenant A, a plain select must see none of B's rows. */
  | 'select'
  /** As tenant A, inserting a row for B must fail with SQLSTATE 42501. */
  | 'insert'
  /** As tenant A, updating B's rows must touch none. */
  | 'update'
  /** As tenant A, deleting B's rows must touch none. */
  | 'delete'
  /** As tenant A, moving its own row to B (updating the tenant column) must fail with 42501. */
  | 'move'
  /** As tenant A, an UPDATE with no WHERE and no RETURNING (it reads no column, so no SELECT
   * policy filters it) must touch no more rows than A sees. */
  | 'update-all'
  /** As tenant A, a DELETE with no WHERE and no RETURNING must delete no more rows than A sees. */
  | 'delete-all'
  /** As tenant A, reading a partition (or inheritance child) directly must return no row of
   * another tenant. */
  | 'partition'
  /** As tenant A, reading a view over a checked table or its partitions must return none of B's
   * probe rows. */
  | 'view'
  /** Outside any scope, the login must see none of the seeded rows (tables and partitions). */
  | 'outside-scope'
  /** After the scopes, a pooled connection must be back to the login role with no tenant set. */
  | 'pool'
  /** Not an isolation check: a probe row or throwaway tenant could not be removed afterwards. */
  | 'cleanup'

/**
 * One check that did not hold.
 *
 * @example
 * ```ts
 * import { TenantIsolationError, type IsolationFailure } from 'pg-tenants/testing'
 *
 * const describeFailure = (f: IsolationFailure) => `${f.table ?? '(connection)'} ${f.check}: ${f.message}`
 *
 * export function isolationReport(error: unknown): string {
 *   return error instanceof TenantIsolationError ? error.failures.map(describeFailure).join('\n') : String(error)
 * }
 * ```
 */
export interface IsolationFailure {
  /** `schema.table` (or partition, or view); undefined for the `pool` check and a tenant left
   * behind. */
  readonly table?: string | undefined
  /** Which check it was. */
  readonly check: IsolationCheck
  /** What happened instead. */
  readonly message: string
}

/**
 * Thrown by `assertTenantIsolation` with code `'ISOLATION_FAILED'` when at least one check did
 * not hold: tenant A saw, wrote or moved rows of tenant B, the login saw tenant rows outside any
 * scope, or a pooled connection kept tenant state; and when the kit could not remove a probe row
 * or throwaway tenant (check `cleanup`, what is left behind). The message lists every failure,
 * one a line (`schema.table check: what happened`); `failures` holds them as data.
 *
 * @example
 * ```ts
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 * import { assertTenantIsolation, TenantIsolationError } from 'pg-tenants/testing'
 *
 * declare const manager: AnyPostgresManager
 * const todos = { spec: { schema: 'public', name: 'todos', column: 'tenant', type: 'text' } } as const
 *
 * try {
 *   await assertTenantIsolation(manager, { tables: [todos] })
 * } catch (error) {
 *   if (error instanceof TenantIsolationError) console.error(error.failures)
 *   throw error
 * }
 * ```
 */
export class TenantIsolationError extends TenantError {
  /** `'TenantIsolationError'`. */
  override name = 'TenantIsolationError'
  /** Every check that did not hold, and anything left behind (`cleanup`). */
  readonly failures: readonly IsolationFailure[]

  /** `cause`: the error that stopped the check early, when it did. */
  constructor(failures: readonly IsolationFailure[], options?: { cause?: unknown }) {
    const line = (f: IsolationFailure) => `  - ${f.table ?? '(connection)'} ${f.check}: ${f.message}`
    const checks = failures.filter((f) => f.check !== 'cleanup')
    const left = failures.filter((f) => f.check === 'cleanup')
    const parts: string[] = []
    if (options && 'cause' in options) {
      const cause = options.cause instanceof Error ? options.cause.message : String(options.cause)
      parts.push(`The tenant isolation check stopped early: ${cause}`)
    }
    if (checks.length > 0) {
      parts.push(
        `Tenant isolation does not hold (${checks.length} failed check${checks.length === 1 ? '' : 's'}):\n${checks.map(line).join('\n')}\n` +
          'Run the migration for these tables (migrationSql(tables).up, or buildMigration(specs).up), and connect as a login that is neither ' +
          "superuser nor BYPASSRLS (on PGlite, call leaveSuperuser(db) from 'pg-tenants' once before migrating).",
      )
    }
    if (left.length > 0) {
      parts.push(`The check could not remove everything it created; left behind:\n${left.map(line).join('\n')}`)
    }
    super('ISOLATION_FAILED', parts.join('\n'), options)
    this.failures = Object.freeze([...failures])
  }
}
