/**
 * What a Drizzle session talks to inside a scope: the driver's pinned client (a `pg`
 * PoolClient, a PGlite transaction, a reserved postgres.js connection), each call through the
 * scope's guard (src/core/guard.ts).
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { guardedClient } from '../core/guard.js'
import { isPostgresJsReserved } from '../drivers/postgres-js.js'
import { scopedSql } from '../postgres-js/scoped-sql.js'

/** The client for Drizzle's session class: `query` (and PGlite's `exec`) of the pinned client;
 * on postgres.js, a postgres.js `sql` on the pinned connection (Drizzle's postgres.js session
 * calls its `unsafe`). */
export function scopedClient(conn: Connection, scopeRole: string): object {
  // The transaction is the scope's; a nested one is a savepoint (ScopedTransaction.transaction).
  if (isPostgresJsReserved(conn.native)) return scopedSql(conn, scopeRole)
  return {
    ...guardedClient(conn, scopeRole),
    // Drizzle's PGlite session opens its own transaction on the client; inside a scope the
    // transaction is ours, and a nested one is a savepoint.
    transaction: () => {
      throw new TenantError('UNSUPPORTED_OPERATION', 'Inside a scope, use tx.transaction() for a nested transaction (a savepoint).')
    },
  }
}
