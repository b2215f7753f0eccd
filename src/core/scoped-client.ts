/**
 * The `manager.scoped()` handle of the SQL-level stacks over node-postgres and PGlite: their
 * client's `query` (and PGlite's `exec`), each call one short transaction scoped to the ambient
 * tenant, through the scope's guard like any `tx.query`.
 *
 * @module
 */
import { TenantError } from './errors.js'
import { guardedClient } from './guard.js'
import type { AmbientScopes, TenantScoped } from './manager.js'
import type { TransactionOptions } from './transaction.js'

/** What a per-statement handle adds besides the client's methods. */
export interface ScopedTransaction<Tx> {
  /** Runs `fn` in one transaction scoped to the ambient tenant (`fn` gets the scope's `tx`, as
   * `withTenant`); `options` override the transaction modes of `scoped(options)`. */
  transaction<R>(fn: (tx: Tx & TenantScoped) => Promise<R>, options?: TransactionOptions): Promise<R>
}

/**
 * The handle: `methods` of the pinned client, each call in its own scope. A call whose arguments
 * hold a function (a node-postgres callback) or a submittable (a `pg-cursor`, a `pg-query-stream`)
 * is refused: it would go on reading after its scope, on a connection that is back in the pool.
 */
export function scopedClientHandle<Tx extends object>(ambient: AmbientScopes<Tx>, methods: readonly ('query' | 'exec')[]): object {
  const handle: Record<string, unknown> = {
    transaction: <R>(fn: (tx: Tx & TenantScoped) => Promise<R>, options?: TransactionOptions) => ambient.transaction(fn, options),
  }
  for (const method of methods) {
    handle[method] = async (...args: unknown[]) => {
      // (node-postgres also takes a callback inside the query config: `{ text, callback }`.)
      const hidden = (a: unknown) =>
        typeof a === 'object' &&
        a !== null &&
        (typeof (a as { submit?: unknown }).submit === 'function' || typeof (a as { callback?: unknown }).callback === 'function')
      if (args.some((a) => typeof a === 'function' || hidden(a))) {
        throw new TenantError(
          'UNSUPPORTED_OPERATION',
          `A scoped ${method}() runs one statement and ends its transaction when it returns: a callback or a cursor/stream would go on ` +
            'after it. Use the promise it returns, or read a cursor inside db.transaction(async (tx) => …).',
        )
      }
      return ambient.statement((conn, role) => {
        const call = guardedClient(conn, role)[method]
        if (call === undefined) throw new TenantError('UNSUPPORTED_OPERATION', `This client has no ${method}().`)
        return call(...args)
      })
    }
  }
  return handle
}
