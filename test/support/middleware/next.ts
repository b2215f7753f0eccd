/** The test app as Next.js App Router route handlers wrapped in withTenantRoute, called as Next
 * calls them: `handler(new NextRequest(url, init), { params: Promise.resolve({}) })`. (A real
 * `next` server needs a build or a dev compile of tens of seconds: more than the test budget.) */
import { NextRequest } from 'next/server.js'
import { withTenantRoute } from '../../../src/next/index.js'
import type { Framework, Reply } from './types.js'

type Context = { params: Promise<Record<string, string>> }
type Route = (request: NextRequest, context: Context) => Promise<Response>

export const nextApp: Framework = {
  name: 'next',
  sockets: false,
  async serve(routes, { resolve, ...options }) {
    const wrap = (handler: (request: NextRequest) => Promise<unknown>): Route =>
      withTenantRoute(
        { ...options, resolve: (request: NextRequest) => resolve((name) => request.headers.get(name) ?? undefined) },
        async (request: NextRequest) => Response.json(await handler(request)),
      )
    const table: Record<string, Route> = {
      'GET /api/items': wrap(() => routes.items()),
      'GET /api/strict': wrap(() => routes.strict()),
      'POST /api/echo': wrap(async (request) => routes.echo(await request.json())),
      'GET /api/later': wrap(() => routes.later()),
      'GET /api/boom': wrap(() => routes.boom()),
      'GET /peek': async () => Response.json(routes.peek()),
    }
    return {
      async send(path, { tenant, body } = {}): Promise<Reply> {
        const method = body === undefined ? 'GET' : 'POST'
        const route = table[`${method} ${path}`]
        if (route === undefined) throw new Error(`no route ${method} ${path}`)
        const headers = new Headers(tenant === undefined ? {} : { 'x-tenant': tenant })
        const request = new NextRequest(`http://localhost${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
        let response: Response
        try {
          response = await route(request, { params: Promise.resolve({}) })
        } catch {
          response = new Response('internal', { status: 500 }) // what Next answers a handler that throws
        }
        const text = await response.text()
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // not JSON
        }
        return { status: response.status, body: parsed }
      },
      close: async () => undefined,
    }
  },
}
