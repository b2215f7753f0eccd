/**
 * What every tenant middleware does, whatever the framework: resolve the request's tenant, refuse
 * a request without one (401) or with an invalid (400) or unknown (404) one before the handler,
 * and turn the same pg-tenants errors thrown by the handler into the same answers. The framework
 * subpaths (`pg-tenants/hono`, `…/express`, `…/fastify`, `…/next`) only wire this to their
 * request path and run the handler in `runWithTenant`.
 *
 * @module
 */
import { engineOf } from './adapter.js'
import { InvalidTenantId, TenantError } from './errors.js'
import type { TenantId } from './tenant-id.js'

/**
 * The part of a manager (of any stack) a tenant middleware uses: its tenant-id rules, and a
 * scope that does not create the tenant, to check that it exists.
 *
 * @example
 * ```ts
 * import type { TenantMiddlewareManager } from 'pg-tenants/hono'
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * declare const manager: PostgresManager
 * export const checked: TenantMiddlewareManager = manager
 * ```
 */
export interface TenantMiddlewareManager {
  /** The manager's `withTenant`, called with `createIfMissing: false` and a callback that sends
   * nothing. (`fn` is typed `never` so that every stack's manager, whose callback takes its own
   * `tx`, fits.) */
  withTenant(tenant: TenantId, fn: never, options?: { createIfMissing?: boolean }): Promise<unknown>
}

/**
 * The options every tenant middleware shares; `Req` is what the framework hands `resolve`.
 *
 * @example
 * ```ts
 * import type { TenantResolveOptions } from 'pg-tenants/hono'
 *
 * export const fromHeader: TenantResolveOptions<Request> = { resolve: (request) => request.headers.get('x-tenant') ?? undefined }
 * ```
 */
export interface TenantResolveOptions<Req> {
  /**
   * The request's tenant, or `undefined` when it names none (answered with `missingStatus`).
   * Take it from something the client cannot forge: a verified token's claim, a session, a
   * header your own proxy always overwrites. A pg-tenants error it throws (an `InvalidTenantId`)
   * is answered as the handler's would be; any other error goes to the framework's error path.
   */
  resolve: (req: Req) => TenantId | undefined | Promise<TenantId | undefined>
  /**
   * A manager (of any stack): with it the id is checked before the handler runs: against the
   * manager's rules and tenant columns (no SQL; `InvalidTenantId` → 400) and, unless
   * `createIfMissing`, for existence (one short scope that creates nothing; `TenantNotFound` →
   * 404). Without it, the handler's first scoped statement does both checks.
   */
  manager?: TenantMiddlewareManager
  /** With `manager`: do not check that the tenant exists, because the handler's scopes create it
   * on first use (`manager.scoped()`'s default). Default `false`. */
  createIfMissing?: boolean
  /** The status of a request whose `resolve` returned `undefined` (default 401). */
  missingStatus?: number
}

/**
 * Why a request was refused: the HTTP `status` and the pg-tenants `error` behind it (code
 * `NO_TENANT_CONTEXT` for a request without a tenant, `INVALID_TENANT_ID`, `TENANT_NOT_FOUND`).
 *
 * @example
 * ```ts
 * import type { TenantRejection } from 'pg-tenants/hono'
 *
 * export const problem = (r: TenantRejection) => Response.json({ title: r.error.code }, { status: r.status })
 * ```
 */
export interface TenantRejection {
  /** 401 (or `missingStatus`), 400 or 404. */
  readonly status: number
  /** The error, with its `code` and a message meant for your logs (not for the client). */
  readonly error: TenantError
}

/** What a gate decided about one request. */
export type GateOutcome = { readonly tenant: TenantId; readonly rejection?: undefined } | { readonly tenant?: undefined; readonly rejection: TenantRejection }

const nothing = async (): Promise<void> => undefined

const CLIENT_MESSAGES: Readonly<Record<string, string>> = {
  NO_TENANT_CONTEXT: 'This request names no tenant.',
  INVALID_TENANT_ID: 'Invalid tenant id.',
  TENANT_NOT_FOUND: 'Unknown tenant.',
}

/**
 * The status pg-tenants errors thrown by a handler are answered with: `INVALID_TENANT_ID` 400,
 * `TENANT_NOT_FOUND` 404, found on the error or along its `cause` chain (Drizzle wraps what a
 * statement throws in its own query error). Anything else (`NO_TENANT_CONTEXT` too: a handler's
 * code ran outside the request's context, a server bug) is left to the framework's error path,
 * which logs it.
 */
export function rejectionOf(error: unknown): TenantRejection | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    if (current instanceof TenantError) {
      if (current.code === 'INVALID_TENANT_ID') return { status: 400, error: current }
      if (current.code === 'TENANT_NOT_FOUND') return { status: 404, error: current }
      return undefined
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** The default JSON body of a rejection: `{ error: { code, message } }`, a message for the client
 * (the error's own message, with advice for developers, stays in `rejection.error`). */
export function rejectionBody(rejection: TenantRejection): { error: { code: string; message: string } } {
  const { code } = rejection.error
  return { error: { code, message: CLIENT_MESSAGES[code] ?? 'Request refused.' } }
}

/** Checks the options once, when the middleware is made, and returns what decides each request. */
export function tenantGate<Req>(options: TenantResolveOptions<Req>, where: string): (req: Req) => Promise<GateOutcome> {
  if (options === null || typeof options !== 'object' || typeof options.resolve !== 'function') {
    throw new TenantError('INVALID_OPTIONS', `${where} needs { resolve: (request) => tenantId | undefined }.`)
  }
  const { resolve, manager, createIfMissing = false, missingStatus = 401 } = options
  if (!Number.isInteger(missingStatus) || missingStatus < 400 || missingStatus > 599) {
    throw new TenantError('INVALID_OPTIONS', `missingStatus must be an HTTP error status (400 to 599), got ${JSON.stringify(missingStatus)}.`)
  }
  if (typeof createIfMissing !== 'boolean')
    throw new TenantError('INVALID_OPTIONS', `createIfMissing must be true or false, got ${JSON.stringify(createIfMissing)}.`)
  const engine = manager === undefined ? undefined : engineOf(manager) // UNSUPPORTED_CLIENT now, not at the first request
  const noTenant = new TenantError('NO_TENANT_CONTEXT', `${where}: resolve(request) returned no tenant for this request.`)
  const refuse = (error: unknown): GateOutcome => {
    const rejection = rejectionOf(error)
    if (rejection === undefined) throw error
    return { rejection }
  }
  return async (req) => {
    let tenant: TenantId | undefined
    try {
      tenant = await resolve(req)
    } catch (error) {
      return refuse(error)
    }
    if (tenant === undefined || tenant === null) return { rejection: { status: missingStatus, error: noTenant } }
    const type = typeof tenant
    if (type !== 'string' && type !== 'number' && type !== 'bigint') {
      return refuse(new InvalidTenantId(tenant, `resolve(request) must return a string, a number or a bigint, not ${type}`))
    }
    if (engine !== undefined && manager !== undefined) {
      try {
        engine.tenantText(tenant)
        if (!createIfMissing) await manager.withTenant(tenant, nothing as never, { createIfMissing: false })
      } catch (error) {
        return refuse(error)
      }
    }
    return { tenant }
  }
}

/** Calls `done` once, when `response` (a Node `http.ServerResponse`) has been sent or its
 * connection closed: the end of the request's context. */
export function whenResponseEnds(response: NodeLikeResponse, done: () => void): void {
  if (response.writableFinished || response.destroyed) return done()
  let called = false
  const once = () => {
    if (called) return
    called = true
    response.off('finish', once)
    response.off('close', once)
    done()
  }
  response.on('finish', once)
  response.on('close', once)
}

/** The part of a Node `http.ServerResponse` {@link whenResponseEnds} uses. */
export interface NodeLikeResponse {
  readonly writableFinished: boolean
  readonly destroyed: boolean
  on(event: 'finish' | 'close', listener: () => void): unknown
  off(event: 'finish' | 'close', listener: () => void): unknown
}
