/**
 * What a Drizzle session talks to inside a scope: the driver's pinned client (a `pg`
 * PoolClient, a PGlite transaction), behind a guard that refuses every call once the scope has
 * ended, so that a query the caller forgot to await cannot run outside it.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'

type Method = (...args: unknown[]) => unknown

/** The client for Drizzle's session class: `query` (and PGlite's `exec`) of the pinned client. */
export function scopedClient(conn: Connection): object {
  const native = conn.native as Record<string, unknown>
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
  for (const name of ['query', 'exec']) {
    const method = native[name]
    if (typeof method !== 'function') continue
    client[name] = (...args: unknown[]) => {
      conn.assertUsable()
      return (method as Method).apply(native, args)
    }
  }
  return client
}
