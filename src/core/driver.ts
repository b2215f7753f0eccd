/**
 * The driver contract: what the engine needs from a database driver, as explicit operations.
 * The engine says what it means (`begin`, `commit`, `rollback`, `restart`, `release`); a driver
 * never reads SQL text to guess it. The core declares these shapes itself and imports no driver
 * (as kysely does). See docs/adapter-api.md.
 *
 * @module
 */
import { TenantError } from './errors.js'

/**
 * One statement's outcome.
 *
 * @example
 * ```ts
 * import type { Connection, StatementResult } from 'pg-tenants/adapter'
 *
 * declare const conn: Connection
 *
 * const result: StatementResult = await conn.query('SELECT count(*)::int AS n FROM todos WHERE title = $1', ['ship v1'])
 * console.log(result.command, result.rows[0]?.['n']) // SELECT 1 (one todo has that title)
 * ```
 */
export interface StatementResult {
  /** The command tag, upper case: `BEGIN`, `SELECT`, `COMMIT`, `ROLLBACK`, … */
  readonly command: string
  /** The rows it returned, keyed by column name (none for most commands). */
  readonly rows: readonly Record<string, unknown>[]
}

/**
 * A connection pinned to one unit of work. Every operation that fails rejects; the engine then
 * rolls back or destroys, never carries on. A driver implements it; an adapter gets one from
 * {@link TenantEngine.run} and talks to its {@link Connection.native} client.
 *
 * @example
 * ```ts
 * import type { PoolClient } from 'pg'
 * import type { TenantEngine } from 'pg-tenants/adapter'
 *
 * declare const engine: TenantEngine
 *
 * await engine.run({ kind: 'tenant', id: 'acme', createIfMissing: true }, async (conn) => {
 *   conn.assertUsable() // before every use of the native client
 *   const client = conn.native as PoolClient // with the node-postgres driver
 *   await client.query('INSERT INTO todos (title, tenant) VALUES ($1, $2)', ['x', 'acme'])
 * })
 * ```
 */
export interface Connection {
  /** The driver's own pinned client (a `pg` PoolClient, a PGlite transaction). Adapters wrap it
   * in what their ORM talks to and call {@link assertUsable} before every use. */
  readonly native: unknown
  /** Throws `SESSION_CLOSED` once the connection is sealed or released. */
  assertUsable(): void
  /**
   * Opens a transaction with `modes` (from `transactionModes`) and runs `prelude` (the scoping
   * statements) in the same message. Resolves with the prelude's results only when BEGIN and
   * every prelude statement succeeded; otherwise rejects, and the transaction must be rolled
   * back.
   */
  begin(prelude: string, modes: string): Promise<StatementResult[]>
  /** COMMIT, then the session reset (`SESSION_RESET`), in one message. Resolves `false` when the
   * server rolled back instead (an earlier statement had failed). */
  commit(): Promise<boolean>
  /** ROLLBACK, then the session reset, in one message. Safe outside a transaction. */
  rollback(): Promise<void>
  /** Ends the current transaction of a long-lived session and opens the next one with the same
   * prelude and modes, in one message (no reset: the session goes on). Resolves `false` when a
   * COMMIT was turned into a rollback. */
  restart(end: 'commit' | 'rollback', prelude: string, modes: string): Promise<boolean>
  /** Management statements outside any scope (one simple-query message, no parameters). */
  exec(sql: string): Promise<StatementResult[]>
  /** One statement with bind parameters (management, or raw work inside a scope). */
  query(sql: string, params: readonly unknown[]): Promise<StatementResult>
  /** Set by {@link abandon}: the scope's transaction was ended by the caller's own SQL. */
  readonly abandoned: TenantError | undefined
  /** The caller's own SQL ended the scope's transaction (a `COMMIT` or `ROLLBACK` it sent): from
   * now on the connection is sealed, the unit of work fails with `reason`, and the connection is
   * destroyed on release. */
  abandon(reason: TenantError): void
  /** The caller's SQL left session state that the reset cannot undo (the adapter saw a `PREPARE`
   * tag): the connection is destroyed on release, not pooled. */
  taint(): void
  /** Marks the connection as held by a long-lived session until released: a driver with one
   * connection (see {@link Driver.exclusive}) then refuses `connect()` at once (`NESTED_SCOPE`)
   * instead of letting it wait for a release that may never come. */
  keep(): void
  /** From now on {@link assertUsable} throws, while the operations above still work: called
   * before the closing COMMIT or ROLLBACK, so that a query the caller forgot to await cannot run
   * after it, outside the scope. */
  seal(): void
  /** Gives the connection back. `destroy` closes it instead, for when its state is in doubt (an
   * embedded database that cannot be closed is reset instead). */
  release(destroy: boolean): Promise<void>
}

/**
 * A source of pinned connections: a pool, or an embedded database serialised by a lock.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { nodePostgresDriver, TenantEngine, type Driver } from 'pg-tenants/adapter'
 *
 * const inner = nodePostgresDriver(new pg.Pool({ connectionString: process.env.DATABASE_URL }))
 * let connections = 0
 * const counting: Driver = {
 *   name: 'counting',
 *   exclusive: inner.exclusive,
 *   connect() {
 *     connections++
 *     return inner.connect()
 *   },
 * }
 * const engine = new TenantEngine(counting, {}, [{ type: 'text' }])
 * ```
 */
export interface Driver {
  /** A short name for messages and benchmarks: `node-postgres`, `pglite`, … */
  readonly name: string
  /** True when the driver has one connection only (PGlite): a second unit of work waits for
   * the first, and `connect()` while a session {@link Connection.keep}s it throws `NESTED_SCOPE`. */
  readonly exclusive: boolean
  /** A connection pinned to one unit of work: from a pool, or the embedded database's lock. */
  connect(): Promise<Connection>
}

/**
 * The error a pinned connection throws once the scope is over: `afterScope` when it was sealed
 * (a query started after the scope's last statement), otherwise when released.
 *
 * @example
 * ```ts
 * import { scopeEndedError } from 'pg-tenants/adapter'
 *
 * let sealed = false
 * const assertUsable = () => {
 *   if (sealed) throw scopeEndedError(true) // TenantError('SESSION_CLOSED')
 * }
 * ```
 */
export function scopeEndedError(afterScope: boolean): TenantError {
  return new TenantError(
    'SESSION_CLOSED',
    afterScope
      ? 'A query started after its scope had finished (a missing await?): it was refused, so it ' +
          'cannot run outside the scope. Await every query inside withTenant/withAdmin.'
      : 'This scope or session has ended and its connection was released: run queries inside ' + 'withTenant/withAdmin, or on a session before you close it.',
  )
}
