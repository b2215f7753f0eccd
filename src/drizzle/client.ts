/**
 * What a Drizzle session talks to inside a scope: the driver's pinned client (a `pg`
 * PoolClient, a PGlite transaction), behind a guard that refuses every call once the scope has
 * ended, so that a query the caller forgot to await cannot run outside it — and that notices
 * when the caller's own SQL ended the scope's transaction (`COMMIT`, `ROLLBACK`, `PREPARE
 * TRANSACTION`), so that nothing runs after it unscoped.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'

type Method = (...args: unknown[]) => unknown

interface Tagged {
  command?: unknown
}

/** Tags after which the scope's transaction may be over. `ROLLBACK` is also the tag of
 * `ROLLBACK TO SAVEPOINT`, so it is confirmed by asking for the current role. */
const ENDS = new Set(['COMMIT', 'PREPARE TRANSACTION'])

/** The command tags of a result (several for a multi-statement message). */
function tagsOf(result: unknown): string[] {
  return (Array.isArray(result) ? result : [result]).map((r) => String((r as Tagged | null)?.command ?? '').toUpperCase())
}

/** The client for Drizzle's session class: `query` (and PGlite's `exec`) of the pinned client. */
export function scopedClient(conn: Connection, scopeRole: string): object {
  const native = conn.native as Record<string, unknown>
  const query = native['query'] as Method
  const client: Record<string, Method> = {
    // Drizzle's PGlite session opens its own transaction on the client; inside a scope the
    // transaction is ours, and a nested one is a savepoint.
    transaction: () => {
      throw new TenantError(
        'UNSUPPORTED_OPERATION',
        'Inside a scope, use tx.transaction() for a nested transaction (a savepoint).',
      )
    },
  }
  /** Whether the statements that just ran ended the scope's transaction. */
  const ended = async (result: unknown): Promise<boolean> => {
    const tags = tagsOf(result)
    if (tags.some((t) => ENDS.has(t))) return true
    if (!tags.includes('ROLLBACK')) return false
    const probe = (await query.call(native, 'SELECT current_user::text AS pg_tenants_role')) as { rows?: { pg_tenants_role?: unknown }[] }
    return probe.rows?.[0]?.pg_tenants_role !== scopeRole
  }
  for (const name of ['query', 'exec']) {
    const method = native[name]
    if (typeof method !== 'function') continue
    client[name] = async (...args: unknown[]) => {
      conn.assertUsable()
      const result = await (method as Method).apply(native, args)
      if (tagsOf(result).includes('PREPARE')) conn.taint()
      if (await ended(result)) {
        const reason = new TenantError(
          'UNSUPPORTED_OPERATION',
          'Your SQL ended the scope\'s transaction (COMMIT, ROLLBACK or PREPARE TRANSACTION): nothing ' +
            'more runs in this scope, since it would run unscoped. Let the scope commit or roll back (throw ' +
            'to roll back), and use tx.transaction() for a savepoint you can roll back to.',
        )
        conn.abandon(reason)
        throw reason
      }
      return result
    }
  }
  return client
}
