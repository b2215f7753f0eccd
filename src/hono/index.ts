/**
 * pg-tenants for Hono 4: `tenantMiddleware({ resolve })` runs the rest of the request in
 * `runWithTenant(id, () => next())`, so `manager.scoped()` handles in the handlers use the
 * request's tenant; a request without one is answered 401, an invalid id 400, an unknown tenant
 * 404 (also when the handler throws them). Hono is a peer dependency: this module imports only its types.
 *
 * @module pg-tenants/hono
 */
import type { Context, MiddlewareHandler } from 'hono'
import { rejectionBody, rejectionOf, tenantGate, type TenantRejection, type TenantResolveOptions } from '../core/request-tenant.js'
import { runWithTenant } from '../core/tenant-context.js'

export type { TenantMiddlewareManager, TenantRejection, TenantResolveOptions } from '../core/request-tenant.js'

/**
 * Options of the Hono {@link tenantMiddleware}: `resolve(c)` and the shared options
 * (`manager`, `createIfMissing`, `missingStatus`), and `onReject` to answer a refused request
 * your own way.
 *
 * @example
 * ```ts
 * import type { TenantMiddlewareOptions } from 'pg-tenants/hono'
 *
 * export const options: TenantMiddlewareOptions = {
 *   resolve: (c) => c.req.header('x-verified-tenant'), // set by your own gateway, which drops the client's
 *   onReject: (rejection, c) => c.text(rejection.error.code, rejection.status as 400),
 * }
 * ```
 */
export interface TenantMiddlewareOptions extends TenantResolveOptions<Context> {
  /** Answers a refused request (default: `c.json({ error: { code, message } }, status)`). */
  onReject?: (rejection: TenantRejection, c: Context) => Response | Promise<Response>
}

/**
 * Hono middleware that runs the rest of the request for the tenant `resolve(c)` returns (see
 * {@link TenantMiddlewareOptions}); nothing is left in context once `next()` has settled. A
 * handler's `INVALID_TENANT_ID` or `TENANT_NOT_FOUND` (from a scoped statement with
 * `createIfMissing: false`) becomes 400 or 404; other errors stay with `app.onError`. A streamed
 * body runs after the handler returned, outside the context: read what it needs first.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { verify } from 'hono/jwt'
 * import { tenantMiddleware } from 'pg-tenants/hono'
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * declare const manager: PostgresManager
 * const db = manager.scoped({ createIfMissing: false })
 *
 * const app = new Hono()
 * app.use(
 *   '/api/*',
 *   tenantMiddleware({
 *     manager, // 400 for an invalid id, 404 for an unknown tenant, before the handler
 *     resolve: async (c) => {
 *       const token = c.req.header('authorization')?.replace(/^Bearer /, '')
 *       if (!token) return undefined // 401
 *       const claims = await verify(token, 'secret', 'HS256').catch(() => undefined)
 *       return typeof claims?.['tenant'] === 'string' ? claims['tenant'] : undefined
 *     },
 *   }),
 * )
 * app.get('/api/todos', async (c) => c.json((await db.query('SELECT id, title FROM todos')).rows))
 * ```
 */
export function tenantMiddleware(options: TenantMiddlewareOptions): MiddlewareHandler {
  const gate = tenantGate(options, 'tenantMiddleware (pg-tenants/hono)')
  const { onReject = (rejection: TenantRejection, c: Context) => c.json(rejectionBody(rejection), rejection.status as 400) } = options
  return async (c, next) => {
    const outcome = await gate(c)
    if (outcome.rejection) return onReject(outcome.rejection, c)
    await runWithTenant(outcome.tenant, () => next())
    // Hono has already given the handler's error to app.onError; answer ours instead.
    const rejection = c.error === undefined ? undefined : rejectionOf(c.error)
    if (rejection !== undefined) {
      c.res = undefined
      c.res = await onReject(rejection, c)
    }
  }
}
