/**
 * pg-tenants for the Next.js App Router (15 and 16): `withTenantRoute(options, handler)` wraps a
 * route handler so that it runs in `runWithTenant` for the tenant `resolve(request, context)`
 * returns. Next's middleware (`proxy.ts` in 16) does not share AsyncLocalStorage with route
 * handlers, so the tenant is resolved here, in the handler's own request: from a verified token,
 * or from a header your middleware always overwrites (never one the client may have sent).
 * Uses only the Web `Request` and `Response`: no import of Next at all.
 *
 * @module pg-tenants/next
 */
import { TenantError } from '../core/errors.js'
import { rejectionBody, rejectionOf, tenantGate, type TenantRejection, type TenantResolveOptions } from '../core/request-tenant.js'
import type { TenantId } from '../core/tenant-id.js'
import { runWithTenant } from '../core/tenant-context.js'

export type { TenantMiddlewareManager, TenantRejection, TenantResolveOptions } from '../core/request-tenant.js'

/**
 * Options of {@link withTenantRoute}: `resolve(request, context)` (the route's `context`, with
 * its `params` promise, for a tenant in the path), the shared options (`manager`,
 * `createIfMissing`, `missingStatus`) and `onReject`.
 *
 * @example
 * ```ts
 * import type { NextRequest } from 'next/server'
 * import type { WithTenantRouteOptions } from 'pg-tenants/next'
 *
 * type Context = { params: Promise<{ org: string }> }
 *
 * export const byPath: WithTenantRouteOptions<NextRequest, Context> = {
 *   resolve: async (_request, { params }) => (await params).org, // then check the user belongs to it
 *   onReject: (rejection) => new Response(null, { status: rejection.status }),
 * }
 * ```
 */
export interface WithTenantRouteOptions<R extends Request = Request, C = unknown> extends Omit<TenantResolveOptions<R>, 'resolve'> {
  /** The request's tenant, or `undefined` (answered with `missingStatus`, default 401). */
  resolve: (request: R, context: C) => TenantId | undefined | Promise<TenantId | undefined>
  /** Answers a refused request (default: `Response.json({ error: { code, message } }, { status })`). */
  onReject?: (rejection: TenantRejection, request: R) => Response | Promise<Response>
}

/**
 * Wraps an App Router route handler: resolves the tenant (see {@link WithTenantRouteOptions}),
 * answers 401, 400 or 404 without calling `handler` when it is missing, invalid or unknown, and
 * otherwise runs `handler(request, context)` in `runWithTenant`; its `INVALID_TENANT_ID` and
 * `TENANT_NOT_FOUND` become 400 and 404 too, other errors are rethrown for Next to handle.
 * Nothing is left in context once the handler has returned: a streamed body runs after that,
 * outside the context, so read what it needs first.
 *
 * @example
 * ```ts
 * // app/api/todos/route.ts
 * import type { NextRequest } from 'next/server'
 * import { withTenantRoute } from 'pg-tenants/next'
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * declare const manager: PostgresManager
 * const db = manager.scoped({ createIfMissing: false })
 *
 * export const GET = withTenantRoute(
 *   // x-tenant is set by middleware.ts from a verified session, over whatever the client sent.
 *   { manager, resolve: (request: NextRequest) => request.headers.get('x-tenant') ?? undefined },
 *   async () => Response.json((await db.query('SELECT id, title FROM todos')).rows),
 * )
 * ```
 */
export function withTenantRoute<R extends Request = Request, C = unknown>(
  options: WithTenantRouteOptions<R, C>,
  handler: (request: R, context: C) => Response | Promise<Response>,
): (request: R, context: C) => Promise<Response> {
  const where = 'withTenantRoute (pg-tenants/next)'
  const { resolve, onReject = (rejection: TenantRejection) => Response.json(rejectionBody(rejection), { status: rejection.status }) } = options ?? {}
  if (typeof resolve !== 'function') throw new TenantError('INVALID_OPTIONS', `${where} needs { resolve: (request, context) => tenantId | undefined }.`)
  if (typeof handler !== 'function')
    throw new TenantError('INVALID_OPTIONS', `${where}: the second argument is the route handler, (request, context) => Response.`)
  const gate = tenantGate<{ request: R; context: C }>({ ...options, resolve: ({ request, context }) => resolve(request, context) }, where)
  return async (request, context) => {
    const outcome = await gate({ request, context })
    if (outcome.rejection) return onReject(outcome.rejection, request)
    try {
      return await runWithTenant(outcome.tenant, () => handler(request, context))
    } catch (error) {
      const rejection = rejectionOf(error)
      if (rejection === undefined) throw error
      return onReject(rejection, request)
    }
  }
}
