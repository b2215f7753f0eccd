/**
 * pg-tenants for Express 5: `tenantMiddleware({ resolve })` runs the rest of the request in
 * `runWithTenant`, kept open until the response is sent (Express calls the next handlers, and
 * a body parser's, after the middleware has returned), so `manager.scoped()` handles in the
 * handlers use the request's tenant. `tenantErrorHandler()` answers the pg-tenants errors a
 * handler throws. Express is a peer dependency: this module imports only its types.
 *
 * @module pg-tenants/express
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express'
import { rejectionBody, rejectionOf, tenantGate, whenResponseEnds, type TenantRejection, type TenantResolveOptions } from '../core/request-tenant.js'
import { runWithTenant } from '../core/tenant-context.js'

export type { TenantMiddlewareManager, TenantRejection, TenantResolveOptions } from '../core/request-tenant.js'

/**
 * Answers a refused request: sends the response (default: `res.status(status).json({ error: { code, message } })`).
 *
 * @example
 * ```ts
 * import type { RejectHandler } from 'pg-tenants/express'
 *
 * export const plain: RejectHandler = (rejection, _req, res) => {
 *   res.status(rejection.status).type('text').send(rejection.error.code)
 * }
 * ```
 */
export type RejectHandler = (rejection: TenantRejection, req: Request, res: Response) => void

/**
 * Options of the Express {@link tenantMiddleware}: `resolve(req)`, the shared options
 * (`manager`, `createIfMissing`, `missingStatus`) and `onReject`.
 *
 * @example
 * ```ts
 * import type { TenantMiddlewareOptions } from 'pg-tenants/express'
 *
 * export const options: TenantMiddlewareOptions = { resolve: (req) => req.get('x-verified-tenant'), missingStatus: 403 }
 * ```
 */
export interface TenantMiddlewareOptions extends TenantResolveOptions<Request> {
  /** Answers a refused request (see {@link RejectHandler}). */
  onReject?: RejectHandler
}

const sendRejection: RejectHandler = (rejection, _req, res) => {
  res.status(rejection.status).json(rejectionBody(rejection))
}

/**
 * Express 5 middleware that runs the rest of the request for the tenant `resolve(req)` returns
 * (see {@link TenantMiddlewareOptions}): the context lasts until the response has been sent or
 * its connection closed, then nothing is left of it. Mount {@link tenantErrorHandler} after your
 * routes to answer the pg-tenants errors they throw.
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { tenantErrorHandler, tenantMiddleware } from 'pg-tenants/express'
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * declare const manager: PostgresManager
 * declare function verifiedTenant(authorization: string | undefined): Promise<string | undefined>
 * const db = manager.scoped({ createIfMissing: false })
 *
 * const app = express()
 * app.use('/api', tenantMiddleware({ manager, resolve: (req) => verifiedTenant(req.get('authorization')) }))
 * app.use(express.json())
 * app.get('/api/todos', async (_req, res) => {
 *   res.json((await db.query('SELECT id, title FROM todos')).rows)
 * })
 * app.use(tenantErrorHandler()) // TENANT_NOT_FOUND → 404, INVALID_TENANT_ID → 400
 * ```
 */
export function tenantMiddleware(options: TenantMiddlewareOptions): RequestHandler {
  const gate = tenantGate(options, 'tenantMiddleware (pg-tenants/express)')
  const { onReject = sendRejection } = options
  return (req, res, next) => {
    gate(req)
      .then((outcome) => {
        if (outcome.rejection) return onReject(outcome.rejection, req, res)
        void runWithTenant(
          outcome.tenant,
          () =>
            new Promise<void>((resolve) => {
              whenResponseEnds(res, resolve)
              next()
            }),
        )
      })
      .catch(next) // a failing resolve or onReject: Express' error path
  }
}

/**
 * Express error middleware that answers a handler's `INVALID_TENANT_ID` with 400 and
 * `TENANT_NOT_FOUND` (a scoped statement with `createIfMissing: false`) with 404, and passes
 * every other error on (`NO_TENANT_CONTEXT` too: code that ran outside the request's context is
 * a server bug, for your error handler to log).
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { tenantErrorHandler } from 'pg-tenants/express'
 *
 * const app = express()
 * // … routes …
 * app.use(tenantErrorHandler({ onReject: (rejection, _req, res) => void res.sendStatus(rejection.status) }))
 * ```
 */
export function tenantErrorHandler(options: { onReject?: RejectHandler } = {}): ErrorRequestHandler {
  const { onReject = sendRejection } = options
  return (error, req, res, next) => {
    const rejection = rejectionOf(error)
    if (rejection === undefined || res.headersSent) return next(error)
    onReject(rejection, req, res)
  }
}
