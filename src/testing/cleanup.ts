/**
 * Removing what the isolation kit created: the probe rows, children before parents, then the
 * two throwaway tenants. It always runs to the end and reports what it could not remove instead
 * of throwing the first error.
 *
 * @module
 */
import type { TenantEngine } from '../core/engine.js'
import { TenantNotFound } from '../core/errors.js'
import { describe } from './connections.js'
import type { IsolationFailure } from './isolation-error.js'
import type { IsolationTarget } from './isolation-spec.js'

/**
 * Deletes the probe rows of `a` and `b` as the admin role, in reverse seed order (children
 * first); a table that failed is tried again while another pass still removes something (an
 * order the catalog did not tell). Then deletes the `created` tenants. Resolves to one `cleanup`
 * failure per table or tenant left behind.
 */
export async function cleanup(
  engine: TenantEngine,
  order: readonly IsolationTarget[],
  created: readonly string[],
  a: string,
  b: string,
): Promise<IsolationFailure[]> {
  let pending = [...order].reverse()
  let errors = new Map<IsolationTarget, unknown>()
  while (pending.length > 0) {
    errors = new Map()
    for (const target of pending) {
      await engine
        .run({ kind: 'admin' }, (conn) => conn.query(`DELETE FROM ${target.table} WHERE ${target.column} IN ($1, $2)`, [a, b]))
        .catch((error: unknown) => errors.set(target, error))
    }
    if (errors.size === 0 || errors.size === pending.length) break
    pending = pending.filter((t) => errors.has(t))
  }
  const left: IsolationFailure[] = [...errors].map(([target, error]) => ({
    table: target.name,
    check: 'cleanup',
    message: `the probe rows of tenants ${JSON.stringify(a)} and ${JSON.stringify(b)} are still there: deleting them as the admin role failed (${describe(error)})`,
  }))
  for (const id of created) {
    await engine.deleteTenant(id).catch((error: unknown) => {
      if (error instanceof TenantNotFound) return
      left.push({ check: 'cleanup', message: `throwaway tenant ${JSON.stringify(id)} is still there: deleteTenant failed (${describe(error)})` })
    })
  }
  return left
}
