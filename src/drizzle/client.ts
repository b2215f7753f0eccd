/**
 * What a Drizzle session talks to inside a scope: the driver's pinned client (a `pg`
 * PoolClient, a PGlite transaction), behind a guard that
 * - refuses every call once the scope has ended, so that a query the caller forgot to await
 *   cannot run outside it;
 * - runs the calls one after another, each checked before the next is sent;
 * - notices when the caller's own SQL ended the scope's transaction (a `COMMIT`, `ROLLBACK`,
 *   `PREPARE TRANSACTION`, whether it succeeded or failed), so that nothing runs after it
 *   unscoped, and when it made a statement with SQL `PREPARE`, which the reset cannot undo.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'

type Method = (...args: unknown[]) => unknown

interface Tagged {
  /** node-postgres' command tag (`COMMIT`, `SELECT`, …), null for some messages. */
  command?: string | null
}

/** The command tags of a result (several for a multi-statement message). */
function tagsOf(result: unknown): string[] {
  return (Array.isArray(result) ? result : [result]).map((r) => String((r as Tagged | null)?.command ?? '').toUpperCase())
}

/** The client for Drizzle's session class: `query` (and PGlite's `exec`) of the pinned client. */
export function scopedClient(conn: Connection, scopeRole: string): object {
  const native = conn.native as Record<string, unknown>
  const query = native['query'] as Method
  // node-postgres reports the transaction status of its last ReadyForQuery: exact and free
  // after a successful call.
  const status = typeof native['getTransactionStatus'] === 'function' ? (native['getTransactionStatus'] as () => unknown).bind(native) : undefined
  const client: Record<string, Method> = {
    // Drizzle's PGlite session opens its own transaction on the client; inside a scope the
    // transaction is ours, and a nested one is a savepoint.
    transaction: () => {
      throw new TenantError('UNSUPPORTED_OPERATION', 'Inside a scope, use tx.transaction() for a nested transaction (a savepoint).')
    },
  }
  /** Whether the scope's transaction is still the one we opened, asked of the server: its role
   * is the scope's (a ROLLBACK TO SAVEPOINT, tagged ROLLBACK too, keeps it); an aborted
   * transaction (25P02) is still ours; a probe that fails otherwise (the connection died) cannot
   * tell. */
  const probe = async (): Promise<'scoped' | 'ended' | 'unknown'> => {
    try {
      const answer = (await query.call(native, 'SELECT current_user::text AS pg_tenants_role')) as { rows?: { pg_tenants_role?: unknown }[] }
      return answer.rows?.[0]?.pg_tenants_role === scopeRole ? 'scoped' : 'ended'
    } catch (error) {
      return (error as { code?: unknown }).code === '25P02' ? 'scoped' : 'unknown'
    }
  }
  /** After a call: did it end the scope's transaction? */
  const ended = async (result: unknown, failed: boolean): Promise<'scoped' | 'ended' | 'unknown'> => {
    // (pg may reject a failed query before the ReadyForQuery that carries the status arrives.)
    if (!failed && status?.() === 'I') return 'ended'
    const tags = failed ? [] : tagsOf(result)
    // A chained COMMIT/ROLLBACK (AND CHAIN) opens a new transaction without the scope's settings.
    if (tags.includes('COMMIT') || tags.includes('PREPARE TRANSACTION')) return 'ended'
    if (failed || tags.includes('ROLLBACK')) return probe()
    return 'scoped'
  }
  let chain: Promise<unknown> = Promise.resolve()
  for (const name of ['query', 'exec']) {
    const method = native[name]
    if (typeof method !== 'function') continue
    const call = async (args: unknown[]) => {
      conn.assertUsable()
      let result: unknown
      let failure: { error: unknown } | undefined
      try {
        result = await (method as Method).apply(native, args)
      } catch (error) {
        failure = { error }
      }
      if (!failure && tagsOf(result).includes('PREPARE')) conn.taint()
      const state = await ended(result, failure !== undefined)
      if (state === 'unknown') {
        // The connection failed under us: nothing more runs on it, and the caller sees why.
        const reason = new TenantError(
          'SESSION_CLOSED',
          'The connection failed inside the scope; see the cause.',
          failure ? { cause: failure.error } : undefined,
        )
        conn.abandon(reason)
        throw failure ? failure.error : reason
      }
      if (state === 'ended') {
        const reason = new TenantError(
          'UNSUPPORTED_OPERATION',
          "Your SQL ended the scope's transaction (COMMIT, ROLLBACK or PREPARE TRANSACTION): nothing " +
            'more runs in this scope, since it would run unscoped. Let the scope commit or roll back (throw ' +
            'to roll back), and use tx.transaction() for a savepoint you can roll back to.',
          failure ? { cause: failure.error } : undefined,
        )
        conn.abandon(reason)
        throw reason
      }
      if (failure) throw failure.error
      return result
    }
    // One call at a time: a query sent beside a caller's COMMIT would otherwise run after it.
    client[name] = (...args: unknown[]) => {
      const next = chain.then(() => call(args))
      chain = next.catch(() => undefined)
      return next
    }
  }
  return client
}
