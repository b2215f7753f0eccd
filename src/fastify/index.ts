/**
 * pg-tenants for Fastify 5: `tenantMiddleware({ resolve })` is a plugin whose done-style hook
 * runs the rest of the request in `runWithTenant`, kept open until the response is sent, so
 * `manager.scoped()` handles in the handlers use the request's tenant. It never uses
 * `AsyncLocalStorage.enterWith` (which, in an async hook, leaks a request's tenant to the next
 * request on a keep-alive socket). Fastify is a peer dependency: this module imports only its types.
 *
 * @module pg-tenants/fastify
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import { rejectionBody, rejectionOf, tenantGate, whenResponseEnds, type TenantRejection, type TenantResolveOptions } from '../core/request-tenant.js'
import { TenantError } from '../core/errors.js'
import { runWithTenant } from '../core/tenant-context.js'

export type { TenantMiddlewareManager, TenantRejection, TenantResolveOptions } from '../core/request-tenant.js'

/**
 * Options of the Fastify {@link tenantMiddleware}: `resolve(request)`, the shared options
 * (`manager`, `createIfMissing`, `missingStatus`), the `hook` it runs in and `onReject`.
 *
 * @example
 * ```ts
 * import type { TenantMiddlewareOptions } from 'pg-tenants/fastify'
 *
 * export const options: TenantMiddlewareOptions = {
 *   resolve: (request) => request.headers['x-verified-tenant'] as string | undefined, // set by your own gateway, which drops the client's
 *   hook: 'preHandler',
 *   onReject: (rejection, _request, reply) => reply.code(rejection.status).send(rejection.error.code),
 * }
 * ```
 */
export interface TenantMiddlewareOptions extends TenantResolveOptions<FastifyRequest> {
  /** The hook the tenant is resolved in (default `'onRequest'`: before the body is parsed, and
   * the context covers every later hook; `'preHandler'` to resolve from what earlier hooks or
   * the body provide). */
  hook?: 'onRequest' | 'preHandler'
  /** Answers a refused request (default: `reply.code(status).send({ error: { code, message } })`). */
  onReject?: (rejection: TenantRejection, request: FastifyRequest, reply: FastifyReply) => unknown
}

/**
 * A Fastify plugin (not encapsulated: its hook applies to the routes of the context it is
 * registered in, declared after it) that runs each request for the tenant `resolve(request)`
 * returns (see {@link TenantMiddlewareOptions}); nothing is left in context once the response
 * is sent. A route handler's `INVALID_TENANT_ID` or `TENANT_NOT_FOUND` is answered 400 or 404;
 * other errors go to your error handler.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { tenantMiddleware } from 'pg-tenants/fastify'
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * declare const manager: PostgresManager
 * declare function verifiedTenant(authorization: string | undefined): Promise<string | undefined>
 * const db = manager.scoped({ createIfMissing: false })
 *
 * const app = Fastify()
 * await app.register(async (api) => {
 *   await api.register(tenantMiddleware({ manager, resolve: (request) => verifiedTenant(request.headers.authorization) }))
 *   api.get('/todos', async () => (await db.query('SELECT id, title FROM todos')).rows)
 * }, { prefix: '/api' })
 * ```
 */
export function tenantMiddleware(options: TenantMiddlewareOptions): FastifyPluginCallback {
  const gate = tenantGate(options, 'tenantMiddleware (pg-tenants/fastify)')
  const {
    hook = 'onRequest',
    onReject = (rejection: TenantRejection, _request: FastifyRequest, reply: FastifyReply) => reply.code(rejection.status).send(rejectionBody(rejection)),
  } = options
  if (hook !== 'onRequest' && hook !== 'preHandler')
    throw new TenantError('INVALID_OPTIONS', `hook must be 'onRequest' or 'preHandler', got ${JSON.stringify(hook)}.`)
  const plugin: FastifyPluginCallback = (fastify, _options, registered) => {
    // Done-style, and the context run around `done`: the rest of the lifecycle runs inside it.
    fastify.addHook(hook, (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      gate(request).then(
        (outcome) => {
          if (outcome.rejection) {
            // An onReject that throws, or returns a promise that rejects, goes to Fastify's error
            // path (a rejection left alone would leave the request hanging).
            try {
              const answered = onReject(outcome.rejection, request, reply)
              if (answered instanceof Promise) answered.catch((error: unknown) => done(error as Error))
              return
            } catch (error) {
              return done(error as Error)
            }
          }
          void runWithTenant(
            outcome.tenant,
            () =>
              new Promise<void>((resolve) => {
                whenResponseEnds(reply.raw, resolve)
                done()
              }),
          )
        },
        (error: Error) => done(error),
      )
    })
    fastify.addHook('onRoute', (route) => {
      route.handler = answeringTenantErrors(route.handler, onReject)
    })
    registered()
  }
  // As fastify-plugin does: the hook applies to the context that registers the plugin.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'pg-tenants' })
  return plugin
}

/** `handler`, answering the pg-tenants errors it throws (or rejects with) that have a status. */
function answeringTenantErrors(handler: RouteHandlerMethod, onReject: NonNullable<TenantMiddlewareOptions['onReject']>): RouteHandlerMethod {
  const wrapped: RouteHandlerMethod = function (request, reply) {
    const answer = (error: unknown) => {
      const rejection = rejectionOf(error)
      if (rejection === undefined || reply.sent) throw error
      onReject(rejection, request, reply)
      return reply
    }
    let out: unknown
    try {
      out = handler.call(this, request, reply)
    } catch (error) {
      return answer(error)
    }
    return out instanceof Promise ? out.catch(answer) : out
  }
  return wrapped
}
