/**
 * What a Drizzle session talks to inside a scope: the driver's pinned client (a `pg`
 * PoolClient, a PGlite transaction), each call through the scope's guard (src/core/guard.ts).
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { guardedClient } from '../core/guard.js'

/** The client for Drizzle's session class: `query` (and PGlite's `exec`) of the pinned client. */
export function scopedClient(conn: Connection, scopeRole: string): object {
  return {
    ...guardedClient(conn, scopeRole),
    // Drizzle's PGlite session opens its own transaction on the client; inside a scope the
    // transaction is ours, and a nested one is a savepoint.
    transaction: () => {
      throw new TenantError('UNSUPPORTED_OPERATION', 'Inside a scope, use tx.transaction() for a nested transaction (a savepoint).')
    },
  }
}
