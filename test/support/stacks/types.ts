/**
 * A stack is one way users reach pg-tenants: an entry point (`fromDrizzle`, `fromPg`,
 * `fromPglite`, `fromPostgresJs`, `fromKysely`) over a client. The shared test body
 * (test/stacks.test.ts) runs the same behaviours over every stack, on every target that stack
 * supports, in both strategies.
 */
import type { TenantManager } from '../../../src/core/manager.js'
import type { TenantOptions } from '../../../src/core/options.js'
import type { TableSpec } from '../../../src/core/migration.js'
import type { Login, Row, Target } from '../targets.js'

/** Any manager, whatever its stack's query handle (the body drives handles through
 * {@link StackManager.query}). */
export type AnyManager = TenantManager<object, object>

/** A manager of one stack, over one login, and how the body queries through its handles. */
export interface StackManager {
  readonly manager: AnyManager
  /** Runs one statement with `$1…` parameters through a scope's `tx` or a session, with the
   * stack's own API (Drizzle `execute`, `query`, postgres.js `unsafe`, Kysely `executeQuery`). */
  query(handle: unknown, sql: string, params?: readonly unknown[]): Promise<Row[]>
  /** Runs one statement without parameters outside any scope, on the stack's own client (the
   * pool or `sql` the manager was made from: on a pool of one, the connection scopes use). */
  outside(sql: string): Promise<Row[]>
  /** Closes what `open` created (a postgres.js `sql`, a Kysely instance); not the login. */
  end(): Promise<void>
}

export interface Stack {
  readonly name: string
  /** The targets this stack runs on (postgres.js has no PGlite). */
  supports(target: Target['name']): boolean
  /** A manager over `login` (its client or URL) with these options and tenant tables. `max`
   * is the pool size of a client the stack makes itself (postgres.js). */
  open(login: Login, options: TenantOptions, tables: readonly TableSpec[], settings?: { knownTenantTtlMs?: number; max?: number }): Promise<StackManager>
}
