/**
 * Which unit of work the running code is inside, so that a scope opened inside another one is
 * refused at once: it would need a second connection while holding the first, and on PGlite (one
 * connection) or on a pool whose connections the outer scopes hold, it would wait forever.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { TenantError } from './errors.js'

const inside = new AsyncLocalStorage<string>()

/** Runs `fn` marked as inside `what` (e.g. `withTenant("acme")`). */
export function runInside<T>(what: string, fn: () => Promise<T>): Promise<T> {
  return inside.run(what, fn)
}

/** Throws `NESTED_SCOPE` when called inside a unit of work. */
export function refuseNested(operation: string): void {
  const outer = inside.getStore()
  if (outer === undefined) return
  throw new TenantError(
    'NESTED_SCOPE',
    `${operation} was called inside ${outer}: it would need a second connection while this one is ` +
      'held (on PGlite, or on a full pool, it would wait forever). Use the transaction you were ' +
      'given (tx), or call it after the outer scope has returned.',
  )
}
