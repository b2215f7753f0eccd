/**
 * examples/todo-api over real HTTP (the server on a free port, fetch as the client): each
 * tenant's token sees only its own todos; another tenant's todo is 404 to read, update and delete
 * (the same answer as a todo that does not exist); forged, tampered, expired, `alg: none` and
 * claim-less tokens get 401; 20 concurrent requests across 5 tenants stay isolated; and a request
 * that waits 200 ms between two statements holds no pooled connection meanwhile (a pool of one:
 * another request completes during the wait). On the server of DATABASE_URL when set (the app
 * logs in as an ordinary role that owns the FORCE-RLS table), else on PGlite after leaveSuperuser.
 */
import { asc } from 'drizzle-orm'
import { SignJWT, UnsecuredJWT } from 'jose'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../examples/todo-api/app.js'
import { AUDIENCE, mintToken, secretKey } from '../examples/todo-api/auth.js'
import { openDatabase, type TodoDatabase } from '../examples/todo-api/database.js'
import { todos } from '../examples/todo-api/schema.js'
import { listen, type RunningServer } from '../examples/todo-api/server.js'
import { sleep } from './support/errors.js'
import { uniqueSuffix } from './support/targets.js'

const URL_ = process.env['DATABASE_URL']
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'] as const
const key = secretKey('a test secret that is long enough for HS256, 32+')

interface Todo {
  id: number
  tenant: string
  title: string
  done: boolean
}

describe(`todo API on ${URL_ ? 'the server (DATABASE_URL)' : 'PGlite'}`, () => {
  let database: TodoDatabase
  let server: RunningServer
  const tokens = new Map<string, string>()
  /** Resolved when /slow has run its first statement and started waiting. */
  let slowWaiting: () => void = () => undefined

  const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`
    const response = await fetch(`${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    const text = await response.text()
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) }
  }
  const as = (tenant: string) => tokens.get(tenant)!
  const list = async (tenant: string) => {
    const { status, body } = await call('GET', '/todos', as(tenant))
    expect(status).toBe(200)
    return body as Todo[]
  }
  const create = async (tenant: string, title: string) => {
    const { status, body } = await call('POST', '/todos', as(tenant), { title })
    expect(status).toBe(201)
    return body as Todo
  }

  beforeAll(async () => {
    // A pool of one: a request that held its connection while waiting would block every other.
    database = await openDatabase({ url: URL_, schema: `todo_api_t${uniqueSuffix()}`, poolSize: 1 })
    for (const tenant of TENANTS) {
      await database.manager.createTenant(tenant)
      tokens.set(tenant, await mintToken(key, tenant))
    }
    const app = createApp({ manager: database.manager, key })
    const db = database.manager.scoped({ createIfMissing: false })
    // A slow handler: a statement, 200 ms waiting on something else (a timer here), a statement.
    app.get('/slow', async (c) => {
      const before = await db.select({ id: todos.id }).from(todos)
      slowWaiting()
      await sleep(200)
      const after = await db.select({ id: todos.id }).from(todos).orderBy(asc(todos.id))
      return c.json({ before: before.length, after: after.length })
    })
    server = await listen(app)
  })

  afterAll(async () => {
    await server?.close()
    await database?.close()
    if (URL_ && database) await dropAll(URL_, database)
  })

  it("each tenant's token sees only its own todos; outside any scope the app's login sees none", async () => {
    await create('acme', 'ship v1')
    await create('acme', 'write docs')
    await create('globex', 'hire')
    expect((await list('acme')).map((t) => [t.tenant, t.title])).toEqual([
      ['acme', 'ship v1'],
      ['acme', 'write docs'],
    ])
    expect((await list('globex')).map((t) => [t.tenant, t.title])).toEqual([['globex', 'hire']])
    expect(await database.db.select().from(todos)).toEqual([]) // fail closed: FORCE RLS binds the owner
  })

  it("another tenant's todo by id is 404 to read, update and delete, exactly like one that does not exist; it stays as it was", async () => {
    const theirs = await create('globex', 'secret plan')
    const missing = 2_000_000_000
    for (const [method, body] of [['GET'], ['PATCH', { title: 'pwned', done: true }], ['DELETE']] as const) {
      const probe = await call(method, `/todos/${theirs.id}`, as('acme'), body)
      expect(probe, `${method} another tenant's todo`).toEqual({ status: 404, body: { error: { code: 'TODO_NOT_FOUND', message: 'No such todo.' } } })
      expect(await call(method, `/todos/${missing}`, as('acme'), body)).toEqual(probe)
    }
    expect(await call('GET', `/todos/${theirs.id}`, as('globex'))).toMatchObject({ status: 200, body: { title: 'secret plan', done: false } })
    // Its owner can do all three.
    expect(await call('PATCH', `/todos/${theirs.id}`, as('globex'), { done: true })).toMatchObject({ status: 200, body: { done: true } })
    expect(await call('DELETE', `/todos/${theirs.id}`, as('globex'))).toEqual({ status: 204, body: undefined })
    expect(await call('GET', `/todos/${theirs.id}`, as('globex'))).toMatchObject({ status: 404 })
  })

  it('refuses with 401 a missing, forged, tampered, expired, alg: none, wrong-audience or tenant-less token', async () => {
    const valid = as('acme')
    const [header, , signature] = valid.split('.')
    const globexClaims = Buffer.from(JSON.stringify({ tenant: 'globex', aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')
    const bad: Record<string, string | undefined> = {
      missing: undefined,
      'signed with another key': await mintToken(secretKey('x'.repeat(32)), 'globex'),
      'claims changed, signature kept': `${header}.${globexClaims}.${signature}`,
      expired: await mintToken(key, 'acme', Math.floor(Date.now() / 1000) - 5),
      'alg: none': new UnsecuredJWT({ tenant: 'acme' }).setAudience(AUDIENCE).setExpirationTime('1h').encode(),
      'another audience': await signed({ tenant: 'acme', aud: 'billing' }),
      'no tenant claim': await signed({ aud: AUDIENCE }),
      'a numeric tenant claim': await signed({ tenant: 7, aud: AUDIENCE }),
    }
    for (const [label, token] of Object.entries(bad)) {
      for (const [method, path] of [
        ['GET', '/todos'],
        ['DELETE', '/todos/1'],
      ] as const) {
        expect((await call(method, path, token)).status, `${label}: ${method} ${path}`).toBe(401)
      }
    }
    expect((await call('GET', '/todos', valid)).status).toBe(200)
  })

  it('a valid token of a tenant that was never provisioned gets 404, and creates nothing', async () => {
    expect((await call('GET', '/todos', await mintToken(key, 'nobody'))).status).toBe(404)
    expect(await database.manager.listTenants()).not.toContain('nobody')
  })

  it('keeps 20 concurrent requests across 5 tenants isolated (creates and lists interleaved)', async () => {
    const before = new Map(await Promise.all(TENANTS.map(async (t) => [t, (await list(t)).length] as const)))
    const requests = Array.from({ length: 20 }, async (_, i) => {
      const tenant = TENANTS[i % TENANTS.length]!
      if (i % 2 === 0) expect((await create(tenant, `${tenant} #${i}`)).tenant).toBe(tenant)
      else for (const todo of await list(tenant)) expect(todo.tenant, `${tenant}'s list`).toBe(tenant)
    })
    await Promise.all(requests)
    for (const tenant of TENANTS) {
      const mine = await list(tenant)
      expect(mine.every((t) => t.tenant === tenant)).toBe(true)
      expect(mine.length - before.get(tenant)!).toBe(2) // 10 creates over 5 tenants
    }
  })

  it('a slow request holds no pooled connection while it waits: on a pool of one, another request completes meanwhile', async () => {
    const waiting = new Promise<void>((resolve) => (slowWaiting = resolve))
    let slowDone = false
    const slow = call('GET', '/slow', as('acme')).then((r) => ((slowDone = true), r))
    await waiting
    const started = performance.now()
    const other = await call('GET', '/todos', as('globex'))
    const took = performance.now() - started
    expect(other.status).toBe(200)
    expect(slowDone, 'the other request finished while the slow one was still waiting').toBe(false)
    expect(took).toBeLessThan(150)
    if (database.pool) expect(database.pool.totalCount).toBe(1) // one connection, and it was free
    const result = await slow
    expect(result.status).toBe(200)
    expect(result.body).toEqual({ before: expect.any(Number) as number, after: expect.any(Number) as number })
  })
})

/** An HS256 token with exactly these claims (and an expiry), signed with the test key. */
async function signed(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key)
}

/** Drops what openDatabase made on the server: the schema, its login and its two roles. */
async function dropAll(url: string, { names }: TodoDatabase): Promise<void> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(names.schema)} CASCADE`)
    for (const role of [names.login, names.options.tenantRole!, names.options.adminRole!]) {
      const r = pg.escapeIdentifier(role)
      const { rowCount } = await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [role])
      if (rowCount === 1) await admin.query(`DROP OWNED BY ${r} CASCADE; DROP ROLE ${r}`)
    }
  } finally {
    await admin.end()
  }
}
