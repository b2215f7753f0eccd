/** The test app on Hono 4, served by @hono/node-server over real HTTP. */
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import http from 'node:http'
import { tenantMiddleware } from '../../../src/hono/index.js'
import { listen } from './http.js'
import type { Framework } from './types.js'

export const honoApp: Framework = {
  name: 'hono',
  sockets: true,
  async serve(routes, { resolve, ...options }) {
    const app = new Hono()
    app.use('/api/*', tenantMiddleware({ ...options, resolve: (c) => resolve((name) => c.req.header(name)) }))
    app.get('/api/items', async (c) => c.json(await routes.items()))
    app.get('/api/strict', async (c) => c.json(await routes.strict()))
    app.post('/api/echo', async (c) => c.json(await routes.echo(await c.req.json())))
    app.get('/api/later', async (c) => c.json(await routes.later()))
    app.get('/api/boom', async (c) => c.json(await routes.boom()))
    app.get('/peek', (c) => c.json(routes.peek()))
    const listener = getRequestListener(app.fetch)
    return listen(http.createServer((req, res) => void listener(req, res)))
  },
}
