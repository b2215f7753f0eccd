/** The test app on Fastify 5, listening on a real socket; the middleware is registered in an
 * encapsulated `/api` context, `/peek` outside it. */
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { tenantMiddleware } from '../../../src/fastify/index.js'
import { send } from './http.js'
import type { Framework } from './types.js'

export const fastifyApp: Framework = {
  name: 'fastify',
  sockets: true,
  async serve(routes, { resolve, ...options }) {
    const app = Fastify()
    await app.register(
      async (api) => {
        await api.register(tenantMiddleware({ ...options, resolve: (request) => resolve((name) => request.headers[name] as string | undefined) }))
        api.get('/items', () => routes.items())
        api.get('/strict', () => routes.strict())
        api.post('/echo', (request) => routes.echo(request.body))
        api.get('/later', () => routes.later())
        api.get('/boom', () => routes.boom())
      },
      { prefix: '/api' },
    )
    app.get('/peek', async () => routes.peek())
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    return { send: (path, o) => send(port, path, o), close: () => app.close() }
  },
}
