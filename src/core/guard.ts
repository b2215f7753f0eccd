/**
 * The guard every adapter puts between the caller's SQL and a scope's pinned connection. It
 * - refuses every call once the scope has ended, so that a query the caller forgot to await
 *   cannot run outside it;
 * - runs the calls one after another, each checked before the next is sent (a query sent beside
 *   a caller's COMMIT would otherwise run after it);
 * - notices when the caller's own SQL ended the scope's transaction (a `COMMIT`, `ROLLBACK`,
 *   `PREPARE TRANSACTION`, whether it succeeded or failed), so that nothing runs after it
 *   unscoped, and when it made a statement with SQL `PREPARE`, which the reset cannot undo.
 *
 * It learns all of this from the server's answers (command tags, the transaction status, the
 * current role), never from the SQL text.
 *
 * @module
 */
import type { Connection } from './driver.js'
import { TenantError } from './errors.js'

/**
 * How the guard reads a driver's answers: what {@link guardScope} needs from each stack.
 *
 * @example
 * ```ts
 * import type { GuardProbe } from 'pg-tenants/adapter'
 *
 * declare const client: { query(sql: string): Promise<{ command: string; rows: Record<string, unknown>[] }> }
 *
 * export const probe: GuardProbe = {
 *   tags: (result) => [String((result as { command?: unknown }).command ?? '').toUpperCase()],
 *   currentRole: async () => (await client.query('SELECT current_user::text AS r')).rows[0]?.['r'],
 * }
 * ```
 */
export interface GuardProbe {
  /** The command tags of a call's result, upper case (several for a multi-statement message). */
  tags(result: unknown): readonly string[]
  /** `current_user` on the pinned connection; rejects as the driver does (SQLSTATE in `code`). */
  currentRole(): Promise<unknown>
  /** The transaction status of the last ReadyForQuery (`I` idle, `T`, `E`), when the driver
   * reports it (node-postgres): exact and free after a successful call. */
  status?(): string | null | undefined
  /** False when {@link tags} may miss a statement of the call: postgres.js gives a
   * multi-statement message one result per statement that returns rows, tagged with the last
   * statement it stands for, so a `COMMIT` followed by a `SET` shows only `SET`. The guard then
   * asks {@link currentRole}. Default: the tags are exact. */
  exact?(result: unknown): boolean
}

/**
 * Runs one call of the caller's on the scope's connection, checked: what {@link guardScope}
 * returns.
 *
 * @example
 * ```ts
 * import type { Guarded } from 'pg-tenants/adapter'
 *
 * declare const guarded: Guarded
 * declare const client: { query(sql: string): Promise<unknown> }
 * await guarded(() => client.query('SELECT 1'))
 * ```
 */
export type Guarded = <T>(call: () => Promise<T>) => Promise<T>

/**
 * The command tags of a node-postgres or PGlite result: `result.command`, or one per result of a
 * multi-statement message.
 *
 * @example
 * ```ts
 * import { tagsOf } from 'pg-tenants/adapter'
 *
 * tagsOf([{ command: 'SET' }, { command: 'COMMIT' }]) // ['SET', 'COMMIT']
 * ```
 */
export function tagsOf(result: unknown): string[] {
  return (Array.isArray(result) ? result : [result]).map((r) => {
    const command = (r as { command?: unknown } | null)?.command
    return typeof command === 'string' ? command.toUpperCase() : ''
  })
}

/**
 * The guard for one scope: wrap each call into the pinned connection's client with it.
 * `scopeRole` is `engine.scopeRole(request)`, the role a transaction that is still the scope's
 * runs as.
 *
 * @example
 * ```ts
 * import { guardScope, tagsOf, type Connection } from 'pg-tenants/adapter'
 *
 * declare const conn: Connection
 * declare const client: { query(sql: string, params?: unknown[]): Promise<{ command: string; rows: Record<string, unknown>[] }> }
 *
 * const guarded = guardScope(conn, 'tenants_rls', {
 *   tags: tagsOf,
 *   currentRole: async () => (await client.query('SELECT current_user::text AS r')).rows[0]?.['r'],
 * })
 * const result = await guarded(() => client.query('SELECT 1'))
 * ```
 */
export function guardScope(conn: Connection, scopeRole: string, probe: GuardProbe): Guarded {
  /** Whether the scope's transaction is still the one we opened, asked of the server: its role
   * is the scope's (a ROLLBACK TO SAVEPOINT, tagged ROLLBACK too, keeps it); an aborted
   * transaction (25P02) is still ours; a probe that fails otherwise (the connection died) cannot
   * tell. */
  const ask = async (): Promise<'scoped' | 'ended' | 'unknown'> => {
    try {
      return (await probe.currentRole()) === scopeRole ? 'scoped' : 'ended'
    } catch (error) {
      return (error as { code?: unknown }).code === '25P02' ? 'scoped' : 'unknown'
    }
  }
  /** After a call: did it end the scope's transaction? */
  const ended = async (result: unknown, failed: boolean): Promise<'scoped' | 'ended' | 'unknown'> => {
    // (pg may reject a failed query before the ReadyForQuery that carries the status arrives.)
    if (!failed && probe.status?.() === 'I') return 'ended'
    const tags = failed ? [] : probe.tags(result)
    // A chained COMMIT/ROLLBACK (AND CHAIN) opens a new transaction without the scope's settings.
    if (tags.includes('COMMIT') || tags.includes('PREPARE TRANSACTION')) return 'ended'
    if (failed || tags.includes('ROLLBACK') || probe.exact?.(result) === false) return ask()
    return 'scoped'
  }
  const run = async <T>(call: () => Promise<T>): Promise<T> => {
    conn.assertUsable()
    let result: T | undefined
    let failure: { error: unknown } | undefined
    try {
      result = await call()
    } catch (error) {
      failure = { error }
    }
    if (!failure && probe.tags(result).includes('PREPARE')) conn.taint()
    const state = await ended(result, failure !== undefined)
    if (state === 'unknown') {
      // The connection failed under us: nothing more runs on it, and the caller sees why.
      const reason = new TenantError('SESSION_CLOSED', 'The connection failed inside the scope; see the cause.', failure ? { cause: failure.error } : undefined)
      conn.abandon(reason)
      throw failure ? failure.error : reason
    }
    if (state === 'ended') {
      const reason = new TenantError(
        'UNSUPPORTED_OPERATION',
        "Your SQL ended the scope's transaction (COMMIT, ROLLBACK or PREPARE TRANSACTION): nothing " +
          'more runs in this scope, since it would run unscoped. Let the scope commit or roll back (throw ' +
          'to roll back), and use a savepoint (a nested transaction) for work you can roll back alone.',
        failure ? { cause: failure.error } : undefined,
      )
      conn.abandon(reason)
      throw reason
    }
    if (failure) throw failure.error
    return result as T
  }
  let chain: Promise<unknown> = Promise.resolve()
  return <T>(call: () => Promise<T>): Promise<T> => {
    const next = chain.then(() => run(call))
    chain = next.catch(() => undefined)
    return next
  }
}

/**
 * The pinned client of a node-postgres or PGlite connection (`conn.native`), its `query` (and
 * PGlite's `exec`) each through {@link guardScope}: what the SQL-level adapters hand their users,
 * and what Drizzle's session class talks to.
 *
 * @example
 * ```ts
 * import { guardedClient, type Connection } from 'pg-tenants/adapter'
 *
 * declare const conn: Connection
 * const client = guardedClient(conn, 'tenants_rls')
 * await client.query('SELECT 1', [])
 * ```
 */
export function guardedClient(conn: Connection, scopeRole: string): GuardedClient {
  const native = conn.native as Record<string, unknown>
  const query = native['query'] as Method
  // node-postgres reports the transaction status of its last ReadyForQuery.
  const status = typeof native['getTransactionStatus'] === 'function' ? (native['getTransactionStatus'] as () => string | null).bind(native) : undefined
  const guarded = guardScope(conn, scopeRole, {
    tags: tagsOf,
    currentRole: async () =>
      ((await query.call(native, 'SELECT current_user::text AS pg_tenants_role')) as { rows?: { pg_tenants_role?: unknown }[] }).rows?.[0]?.pg_tenants_role,
    ...(status ? { status } : {}),
  })
  const exec = native['exec']
  return {
    query: (...args: unknown[]) => guarded(() => Promise.resolve(query.apply(native, args))),
    ...(typeof exec === 'function' ? { exec: (...args: unknown[]) => guarded(() => Promise.resolve((exec as Method).apply(native, args))) } : {}),
  }
}

/** A method of the pinned client, called through the guard. */
type Method = (...args: unknown[]) => Promise<unknown>

/**
 * What {@link guardedClient} returns: the pinned client's `query` and (PGlite) `exec`, each call
 * through the scope's guard, with the arguments and results of the driver's own.
 *
 * @example
 * ```ts
 * import type { GuardedClient } from 'pg-tenants/adapter'
 *
 * export const rows = async (client: GuardedClient) => ((await client.query('SELECT 1 AS one', [])) as { rows: unknown[] }).rows
 * ```
 */
export interface GuardedClient {
  /** The client's `query(text, values?)` (node-postgres, PGlite). */
  readonly query: (...args: unknown[]) => Promise<unknown>
  /** PGlite's `exec(sql)`; absent on node-postgres. */
  readonly exec?: (...args: unknown[]) => Promise<unknown>
}
