/**
 * What test/middleware.test.ts asks of each framework: serve the same routes behind the
 * framework's tenant middleware (`/api/*`) and one outside it (`/peek`), and send requests
 * through the framework's own request path.
 */
import type http from 'node:http'
import type { TenantMiddlewareManager } from '../../../src/core/request-tenant.js'
import type { TenantId } from '../../../src/core/tenant-id.js'

/** The handlers, framework-free: each returns the JSON body of its answer. */
export interface AppRoutes {
  /** GET /api/items */
  items(): Promise<unknown>
  /** GET /api/strict: reads through a scoped handle that does not create tenants. */
  strict(): Promise<unknown>
  /** POST /api/echo: a JSON body parsed by the framework. */
  echo(body: unknown): Promise<unknown>
  /** GET /api/later: leaves a timer and a promise running after the answer. */
  later(): Promise<unknown>
  /** GET /api/boom: a plain error, the framework's to answer. */
  boom(): Promise<unknown>
  /** GET /peek, outside the middleware. */
  peek(): unknown
}

export interface ServeOptions {
  /** Reads a request header (the test's stand-in for a verified claim). */
  resolve: (header: (name: string) => string | undefined) => TenantId | undefined
  manager?: TenantMiddlewareManager
  createIfMissing?: boolean
}

export interface SendOptions {
  tenant?: string
  body?: unknown
  /** An http.Agent for the request (keep-alive tests); frameworks without sockets ignore it. */
  agent?: http.Agent
}

export interface Reply {
  readonly status: number
  readonly body: unknown
  /** Whether the request went over a socket an earlier one used (real HTTP only). */
  readonly reusedSocket?: boolean
}

export interface Served {
  send(path: string, options?: SendOptions): Promise<Reply>
  close(): Promise<void>
}

export interface Framework {
  readonly name: string
  /** Whether requests go over real sockets (the keep-alive test needs them). */
  readonly sockets: boolean
  serve(routes: AppRoutes, options: ServeOptions): Promise<Served>
}
