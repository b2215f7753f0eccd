/**
 * `withTenantRoute` (pg-tenants/next) through Next.js's own request path: a real `next dev`
 * server (Turbopack) with App Router route handlers that import the built package (dist/, as an
 * app would: Next's bundler does not map the source's `.js` imports to `.ts`), requests over HTTP
 * with keep-alive. The tenant is resolved in the handler (Next middleware shares no
 * AsyncLocalStorage with it); concurrent requests each see their own; a request without one is
 * 401; a route without the wrapper, on the same keep-alive socket after a tenant's request, sees
 * none. (The database side of the wrapper is in test/middleware.test.ts, over `NextRequest`.)
 * Runs when dist/ is built (CI builds before the tests).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const built = existsSync(join(ROOT, 'dist/next/index.js')) && existsSync(join(ROOT, 'dist/index.js'))

// Route files sit four folders below the app's folder, itself two below the repository (test/.tmp):
// Turbopack takes the repository's dist/ by a relative path.
const DIST = '../../../../../../dist'
const ROUTE = `import { withTenantRoute } from '${DIST}/next/index.js'
import { tryCurrentTenant } from '${DIST}/index.js'

export const GET = withTenantRoute({ resolve: (request: Request) => request.headers.get('x-tenant') ?? undefined }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 15))
  return Response.json({ tenant: tryCurrentTenant() ?? null })
})
`
const PEEK = `import { tryCurrentTenant } from '${DIST}/index.js'

export const GET = async () => Response.json({ peek: tryCurrentTenant() ?? null })
`

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe.runIf(built)('withTenantRoute on a real Next.js server (next dev, App Router)', () => {
  const dir = join(ROOT, 'test', '.tmp', `next-${process.pid}-${Date.now().toString(36)}`)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  let next: ChildProcess | undefined
  let port = 0

  const get = (path: string, tenant?: string, options: { agent?: http.Agent } = {}) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, path, agent: options.agent ?? false, headers: tenant === undefined ? {} : { 'x-tenant': tenant } },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown })
            } catch {
              resolve({ status: res.statusCode ?? 0, body: text.slice(0, 2000) })
            }
          })
        },
      )
      req.on('error', reject)
    })

  beforeAll(async () => {
    mkdirSync(join(dir, 'app', 'api', 'items'), { recursive: true })
    mkdirSync(join(dir, 'app', 'api', 'peek'), { recursive: true })
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }))
    // Turbopack's root: the repository, so that the route handlers may import its dist/.
    writeFileSync(join(dir, 'next.config.mjs'), `export default { turbopack: { root: ${JSON.stringify(ROOT)} } }\n`)
    writeFileSync(join(dir, 'app', 'api', 'items', 'route.ts'), ROUTE)
    writeFileSync(join(dir, 'app', 'api', 'peek', 'route.ts'), PEEK)
    port = await freePort()
    next = spawn(process.execPath, [join(ROOT, 'node_modules/next/dist/bin/next'), 'dev', '--turbopack', '-p', String(port), dir], {
      cwd: dir,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'development' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    next.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    next.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`next dev did not start:\n${output}`)), 60_000)
      const read = () => {
        if (/Ready in/.test(output)) {
          clearTimeout(timer)
          resolve()
        }
      }
      next!.stdout!.on('data', read)
      next!.stderr!.on('data', read)
      next!.on('exit', (code) => reject(new Error(`next dev exited with ${String(code)}:\n${output}`)))
    })
    // The first request compiles the routes.
    const warm = await get('/api/items', 'warm-up')
    if (warm.status !== 200) throw new Error(`next dev answered ${warm.status}: ${JSON.stringify(warm.body)}\n${output}`)
    await get('/api/peek')
  }, 90_000)

  afterAll(async () => {
    agent.destroy()
    if (next !== undefined && next.exitCode === null) {
      const exited = new Promise((resolve) => next!.once('exit', resolve))
      next.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (next.exitCode === null) next.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs the route handler in the tenant its resolve returns; 401 without one', async () => {
    expect(await get('/api/items', 'acme')).toEqual({ status: 200, body: { tenant: 'acme' } })
    expect(await get('/api/items')).toEqual({ status: 401, body: { error: { code: 'NO_TENANT_CONTEXT', message: expect.any(String) as unknown } } })
  })

  it('keeps 12 concurrent requests of 4 tenants apart', async () => {
    const tenants = Array.from({ length: 12 }, (_, i) => `t${i % 4}`)
    const answers = await Promise.all(tenants.map((t) => get('/api/items', t)))
    expect(answers.map((a) => a.body)).toEqual(tenants.map((tenant) => ({ tenant })))
  })

  it('leaves nothing in context for the next request on the same keep-alive socket', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await get('/api/items', `ka${i}`, { agent })).body).toEqual({ tenant: `ka${i}` })
      expect((await get('/api/peek', undefined, { agent })).body).toEqual({ peek: null })
    }
  })
})
