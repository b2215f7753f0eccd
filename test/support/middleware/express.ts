/** The test app on Express 5, over real HTTP; express.json() runs after the middleware, so the
 * context has to survive body parsing. */
import express from 'express'
import http from 'node:http'
import { tenantErrorHandler, tenantMiddleware } from '../../../src/express/index.js'
import { listen } from './http.js'
import type { Framework } from './types.js'

export const expressApp: Framework = {
  name: 'express',
  sockets: true,
  async serve(routes, { resolve, ...options }) {
    const app = express()
    app.use('/api', tenantMiddleware({ ...options, resolve: (req) => resolve((name) => req.get(name)) }))
    app.use(express.json())
    app.get('/api/items', async (_req, res) => void res.json(await routes.items()))
    app.get('/api/strict', async (_req, res) => void res.json(await routes.strict()))
    app.post('/api/echo', async (req, res) => void res.json(await routes.echo(req.body)))
    app.get('/api/later', async (_req, res) => void res.json(await routes.later()))
    app.get('/api/boom', async (_req, res) => void res.json(await routes.boom()))
    app.get('/peek', (_req, res) => void res.json(routes.peek()))
    app.use(tenantErrorHandler())
    app.use(((error, _req, res, next) => (res.headersSent ? next(error) : void res.status(500).json({ error: 'internal' }))) as express.ErrorRequestHandler)
    return listen(http.createServer(app))
  },
}
