/**
 * The ambient tenant: `runWithTenant(id, fn)` makes `id` the tenant of everything `fn` runs,
 * across `await`, timers and promise chains (AsyncLocalStorage), so that a request's code reaches
 * its tenant without passing it around; `manager.scoped()` handles read it at each statement.
 *
 * Nothing outlives `fn`: when it settles, its context is closed, and a timer or a promise it
 * started that runs later sees no tenant at all (not the tenant, and not an outer one): it fails
 * with `NO_TENANT_CONTEXT` instead of running for a request that is over. The store is kept under
 * a global symbol, so the ES module and CommonJS copies of the package share it.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { InvalidTenantId, TenantError } from './errors.js'
import type { TenantId } from './tenant-id.js'

/** One `runWithTenant` call: `open` turns false when its `fn` settles. */
interface Frame {
  readonly tenant: TenantId
  open: boolean
}

const KEY = Symbol.for('pg-tenants.tenant-context')
const store: AsyncLocalStorage<Frame> = ((globalThis as Record<symbol, unknown>)[KEY] ??= new AsyncLocalStorage<Frame>()) as AsyncLocalStorage<Frame>

/**
 * Runs `fn` with `tenant` as the ambient tenant, and returns (a promise of) what it returns.
 * Inside, {@link currentTenant} is `tenant`, across `await`, timers and promise chains; a nested
 * `runWithTenant` replaces it for its own `fn` only. When `fn` settles the context is closed:
 * work it left running (a timer, a promise not awaited) sees no tenant. The id's type is checked
 * here (a string, number or bigint; otherwise `InvalidTenantId`); the rest is checked by the
 * scope that uses it.
 *
 * @example
 * ```ts
 * import { currentTenant, runWithTenant } from 'pg-tenants'
 *
 * await runWithTenant('acme', async () => {
 *   await new Promise((resolve) => setTimeout(resolve, 10))
 *   console.log(currentTenant()) // 'acme'
 * })
 * ```
 */
export async function runWithTenant<R>(tenant: TenantId, fn: () => R): Promise<Awaited<R>> {
  const type = typeof tenant
  if (type !== 'string' && type !== 'number' && type !== 'bigint') {
    throw new InvalidTenantId(tenant, `a tenant id is a string, a number or a bigint, not ${tenant === null ? 'null' : type}`)
  }
  if (typeof fn !== 'function') throw new TenantError('INVALID_OPTIONS', 'runWithTenant(id, fn) needs a function to run: runWithTenant(id, async () => { … }).')
  const frame: Frame = { tenant, open: true }
  try {
    // Awaited inside the context: a lazy query fn returns (a thenable) starts when awaited.
    return await store.run(frame, async () => await fn())
  } finally {
    frame.open = false
  }
}

/**
 * The ambient tenant (see {@link runWithTenant}). Throws `NO_TENANT_CONTEXT` outside
 * `runWithTenant`, and in work that outlived it.
 *
 * @example
 * ```ts
 * import { currentTenant } from 'pg-tenants'
 *
 * export function auditLine(action: string): string {
 *   return `${String(currentTenant())}: ${action}` // throws NO_TENANT_CONTEXT outside runWithTenant
 * }
 * ```
 */
export function currentTenant(): TenantId {
  const tenant = tryCurrentTenant()
  if (tenant === undefined) {
    throw new TenantError(
      'NO_TENANT_CONTEXT',
      'No tenant in context: this code runs outside runWithTenant(id, fn), or after it returned (a timer or a promise that ' +
        "outlived it). Wrap the request's work in runWithTenant (a tenant middleware does), or use manager.withTenant(id, fn).",
    )
  }
  return tenant
}

/**
 * The ambient tenant, or `undefined` where {@link currentTenant} would throw.
 *
 * @example
 * ```ts
 * import { tryCurrentTenant } from 'pg-tenants'
 *
 * export const logPrefix = () => `[${String(tryCurrentTenant() ?? '-')}]`
 * ```
 */
export function tryCurrentTenant(): TenantId | undefined {
  const frame = store.getStore()
  return frame !== undefined && frame.open ? frame.tenant : undefined
}
