/**
 * Which unit of work the running code is inside, so that a scope opened inside another one is
 * refused at once: it would need a second connection while holding the first, and on PGlite (one
 * connection) or on a pool whose connections the outer scopes hold, it would wait forever.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { TenantError } from './errors.js'

/** The unit of work a call chain is in; `open` turns false when it ends, so that a timer or a
 * promise started inside it and still running later is not taken for a nested call. */
interface Marker {
  readonly what: string
  open: boolean
}

const inside = new AsyncLocalStorage<Marker>()

/** Runs `fn` marked as inside `what` (e.g. `withTenant("acme")`). */
export async function runInside<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const marker: Marker = { what, open: true }
  try {
    return await inside.run(marker, fn)
  } finally {
    marker.open = false
  }
}

/**
 * Throws `NESTED_SCOPE` when called inside a unit of work that is still running: for an adapter's
 * own operations that take a connection (the engine's already call it).
 *
 * @example
 * ```ts
 * import { refuseNested } from 'pg-tenants/adapter'
 *
 * export async function exportTenant(id: string): Promise<void> {
 *   refuseNested('exportTenant') // before taking a connection
 *   // …
 * }
 * ```
 */
export function refuseNested(operation: string): void {
  const marker = inside.getStore()
  if (marker === undefined || !marker.open) return
  const outer = marker.what
  throw new TenantError(
    'NESTED_SCOPE',
    `${operation} was called inside ${outer}: it would need a second connection while this one is ` +
      'held (on PGlite, or on a full pool, it would wait forever). Use the transaction you were ' +
      'given (tx), or call it after the outer scope has returned.',
  )
}
