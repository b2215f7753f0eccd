/**
 * `TenantIsolationError`: what `assertTenantIsolation` throws when a check goes red.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'

/** The checks `assertTenantIsolation` runs. */
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
  /** Outside any scope, the login must see none of the seeded rows. */
  | 'outside-scope'
  /** After the scopes, a pooled connection must be back to the login role with no tenant set. */
  | 'pool'

/** One check that did not hold. */
export interface IsolationFailure {
  /** `schema.table`, or undefined for the `pool` check. */
  readonly table?: string | undefined
  readonly check: IsolationCheck
  /** What happened instead. */
  readonly message: string
}

/**
 * Thrown by `assertTenantIsolation` with code `'ISOLATION_FAILED'` when at least one check did
 * not hold: tenant A saw, wrote or moved rows of tenant B, the login saw tenant rows outside any
 * scope, or a pooled connection kept tenant state. The message lists every failure, one a line
 * (`schema.table check: what happened`); `failures` holds them as data.
 *
 * @example
 * ```ts
 * try {
 *   await assertTenantIsolation(manager, { tables: [todos] })
 * } catch (error) {
 *   if (error instanceof TenantIsolationError) console.error(error.failures)
 *   throw error
 * }
 * ```
 */
export class TenantIsolationError extends TenantError {
  override name = 'TenantIsolationError'
  readonly failures: readonly IsolationFailure[]

  constructor(failures: readonly IsolationFailure[]) {
    const lines = failures.map((f) => `  - ${f.table ?? '(connection)'} ${f.check}: ${f.message}`)
    super(
      'ISOLATION_FAILED',
      `Tenant isolation does not hold (${failures.length} failed check${failures.length === 1 ? '' : 's'}):\n` +
        `${lines.join('\n')}\n` +
        'Run the migration for these tables (migrationSql(tables).up, or buildMigration(specs).up), and connect as a login that is neither ' +
        'superuser nor BYPASSRLS.',
    )
    this.failures = Object.freeze([...failures])
  }
}
