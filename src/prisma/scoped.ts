/**
 * The `manager.scoped()` handle of Prisma: the client's model API and raw queries, each call one
 * short interactive transaction scoped to the ambient tenant (`runWithTenant`), as
 * `withTenant(currentTenant(), (tx) => tx.<model>.<operation>(args))`. No connection is held
 * between calls; `$transaction(fn)` (or `transaction(fn)`) runs `fn` in one scoped transaction.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import type { AmbientScopes, TenantScoped } from '../core/manager.js'
import type { TransactionOptions } from '../core/transaction.js'

/** The raw-query methods of a Prisma client, each run in its own scope like a model call. */
const RAW = new Set(['$queryRaw', '$executeRaw', '$queryRawUnsafe', '$executeRawUnsafe', '$queryRawTyped'])

/**
 * The handle over `prisma`: a model delegate per model of the client, whose every operation is
 * its own scope; the raw queries; `$transaction(fn)`. The rest of the client (`$connect`,
 * `$extends`, a batch `$transaction([...])`) is refused: it would run outside any scope.
 */
export function scopedPrisma<Tx extends object>(prisma: object, ambient: AmbientScopes<Tx>): object {
  const transaction = <R>(fn: (tx: Tx & TenantScoped) => Promise<R>, options?: TransactionOptions) => {
    if (typeof fn !== 'function') {
      throw new TenantError(
        'UNSUPPORTED_OPERATION',
        'A scoped handle runs each call in its own transaction: a batch $transaction([...]) of its calls would not be one. Use $transaction(async (tx) => …).',
      )
    }
    return ambient.transaction(fn, options)
  }
  const delegates = new Map<PropertyKey, object>()
  return new Proxy(Object.create(null) as object, {
    get(_target, property) {
      if (property === '$transaction' || property === 'transaction') return transaction
      if (typeof property !== 'string' || property === 'then') return undefined
      if (RAW.has(property)) {
        return (...args: unknown[]) => ambient.transaction((tx) => (tx as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[property]!(...args))
      }
      if (property.startsWith('$') || property.startsWith('_')) {
        throw new TenantError(
          'UNSUPPORTED_OPERATION',
          `${property} is not part of the scoped handle (each of its calls is its own scope): use the PrismaClient itself, or withTenant.`,
        )
      }
      const delegate = (prisma as Record<string, unknown>)[property]
      if (typeof delegate !== 'object' || delegate === null) return undefined
      let scoped = delegates.get(property)
      if (scoped === undefined) {
        scoped = new Proxy(Object.create(null) as object, {
          get(_t, operation) {
            if (typeof operation !== 'string' || operation === 'then') return undefined
            if (typeof (delegate as Record<string, unknown>)[operation] !== 'function') return undefined
            return (...args: unknown[]) =>
              ambient.transaction((tx) => {
                const model = (tx as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>)[property]!
                return model[operation]!(...args)
              })
          },
        })
        delegates.set(property, scoped)
      }
      return scoped
    },
  })
}
