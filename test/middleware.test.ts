/**
 * The tenant middleware of every framework (pg-tenants/hono, /express, /fastify, /next), one body
 * for all: each app serves the same routes over real HTTP (Next: its own NextRequest, called as
 * the App Router calls a route handler), and its handlers read rows through `manager.scoped()` of
 * a real manager (the server at DATABASE_URL, else PGlite) whose table is owned by a
 * non-superuser and FORCEs row-level security, so a request for tenant A sees only A's rows, and
 * the isolation test goes red when the protection is broken. 401, 400 and 404 before the handler
 * and from it; concurrent requests; the context gone once the response is sent; a keep-alive
 * socket whose next request carries no tenant.
 */
import { PGlite } from '@electric-sql/pglite'
import http from 'node:http'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { currentTenant, tryCurrentTenant } from '../src/core/tenant-context.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import type { TenantOptions } from '../src/core/options.js'
import type { TenantMiddlewareManager } from '../src/core/request-tenant.js'
import { fromPg } from '../src/pg/index.js'
import { fromPglite } from '../src/pglite/index.js'
import { cleanupSql } from './support/fixture.js'
import { sleep } from './support/errors.js'
import { uniqueSuffix } from './support/targets.js'
import { expressApp } from './support/middleware/express.js'
import { fastifyApp } from './support/middleware/fastify.js'
import { honoApp } from './support/middleware/hono.js'
import { nextApp } from './support/middleware/next.js'
import type { AppRoutes, Framework, Served } from './support/middleware/types.js'

interface Db {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

interface World {
  readonly manager: TenantMiddlewareManager
  /** `manager.scoped()`: creates a tenant on first use. */
  readonly db: Db
  /** `manager.scoped({ createIfMissing: false })`. */
  readonly strict: Db
  readonly items: string
  /** Adds a row for `tenant` (in a scope of its own). */
  seed(tenant: string, title: string): Promise<void>
  close(): Promise<void>
}

/** One world for the file: the server at DATABASE_URL when set (CI), else embedded PGlite; the
 * manager connects as a non-superuser that owns the table, which FORCEs row-level security. */
async function createWorld(): Promise<World> {
  const suffix = uniqueSuffix()
  const schema = `pgmw_${suffix}`
  const owner = `pgmw_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy: 'setting',
    tenantRole: `pgmw_rls_${suffix}`,
    adminRole: `pgmw_admin_${suffix}`,
    rolePrefix: `pgmw_t${suffix}_`,
  }
  const items: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
  const setup = [
    `CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`,
    `SET ROLE "${owner}"; CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`,
    buildMigration([items], options).up,
  ]
  const insert = `INSERT INTO "${schema}".items (tenant, title) VALUES ($1, $2)`
  const managerOptions = { ...options, tables: [{ schema, name: 'items', type: 'text' as const }], knownTenantTtlMs: 0 }
  const url = process.env['DATABASE_URL']
  if (url) {
    const root = new pg.Pool({ connectionString: url, max: 1 })
    const cleanup = () => root.query(`RESET ROLE; ${cleanupSql(schema, options, owner)}`)
    try {
      for (const sql of setup) await root.query(sql)
      await root.query('RESET ROLE')
    } catch (error) {
      await cleanup().catch(() => undefined)
      await root.end()
      throw error
    }
    const u = new URL(url)
    u.username = owner
    const pool = new pg.Pool({ connectionString: u.toString(), max: 4 })
    return worldOver(fromPg(pool, managerOptions), async () => {
      await pool.end()
      await cleanup()
      await root.end()
    })
  }
  const lite = await PGlite.create()
  for (const sql of setup) await lite.exec(sql) // the session stays SET ROLE owner: not a superuser
  return worldOver(fromPglite(lite, managerOptions), () => lite.close())

  /** The world over a manager of either stack (each scope's `tx` has `query`). */
  function worldOver(manager: ReturnType<typeof fromPg> | ReturnType<typeof fromPglite>, close: () => Promise<void>): World {
    return {
      manager,
      db: manager.scoped(),
      strict: manager.scoped({ createIfMissing: false }),
      items: `"${schema}".items`,
      seed: (tenant, title) => (manager as ReturnType<typeof fromPg>).withTenant(tenant, (tx) => tx.query(insert, [tenant, title]).then(() => undefined)),
      close,
    }
  }
}

/** The handlers every framework's app serves. */
function routes(w: World, leftovers: unknown[]): AppRoutes {
  const rows = async (db: Db) => (await db.query(`SELECT tenant, title FROM ${w.items} ORDER BY title`)).rows
  return {
    async items() {
      const first = currentTenant()
      await sleep(Math.random() * 5) // let concurrent requests interleave
      return { tenant: first, again: currentTenant(), rows: await rows(w.db) }
    },
    async strict() {
      return { rows: await rows(w.strict) }
    },
    async echo(body) {
      return { tenant: tryCurrentTenant() ?? null, body }
    },
    async later() {
      setTimeout(() => leftovers.push(tryCurrentTenant() ?? null), 20)
      void sleep(30).then(() => leftovers.push(tryCurrentTenant() ?? null))
      return { tenant: currentTenant() }
    },
    async boom() {
      throw new Error('boom')
    },
    peek: () => ({ tenant: tryCurrentTenant() ?? null }),
  }
}

const FRAMEWORKS: Framework[] = [honoApp, expressApp, fastifyApp, nextApp]

describe('tenant middleware', () => {
  let w: World
  const leftovers: unknown[] = []
  beforeAll(async () => {
    w = await createWorld()
    await w.seed('ma', 'a1')
    await w.seed('mb', 'b1')
  })
  afterAll(async () => {
    await w?.close()
  })

  for (const framework of FRAMEWORKS) {
    describe(framework.name, () => {
      // Three apps: the tenant unchecked until the handler's first statement, checked by the
      // manager before the handler, and checked but created on first use.
      let lenient: Served
      let checked: Served
      let creating: Served
      beforeAll(async () => {
        const r = routes(w, leftovers)
        const resolve = (header: (name: string) => string | undefined) => header('x-tenant') || undefined
        lenient = await framework.serve(r, { resolve })
        checked = await framework.serve(r, { resolve, manager: w.manager })
        creating = await framework.serve(r, { resolve, manager: w.manager, createIfMissing: true })
      })
      afterAll(async () => {
        await Promise.all([lenient, checked, creating].map((s) => s?.close()))
      })

      it('runs the handler for the resolved tenant: its scoped statements see only its rows', async () => {
        const a = await lenient.send('/api/items', { tenant: 'ma' })
        expect(a.status).toBe(200)
        expect(a.body).toEqual({ tenant: 'ma', again: 'ma', rows: [{ tenant: 'ma', title: 'a1' }] })
        expect((await checked.send('/api/items', { tenant: 'mb' })).body).toEqual({ tenant: 'mb', again: 'mb', rows: [{ tenant: 'mb', title: 'b1' }] })
      })

      it('keeps concurrent requests for different tenants apart', async () => {
        const tenants = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 'ma' : 'mb'))
        const replies = await Promise.all(tenants.map((tenant) => checked.send('/api/items', { tenant })))
        replies.forEach((reply, i) => {
          const t = tenants[i] as string
          expect(reply.body).toEqual({ tenant: t, again: t, rows: [{ tenant: t, title: t === 'ma' ? 'a1' : 'b1' }] })
        })
      })

      it('keeps the context through body parsing', async () => {
        const reply = await lenient.send('/api/echo', { tenant: 'mb', body: { n: 1 } })
        expect(reply).toMatchObject({ status: 200, body: { tenant: 'mb', body: { n: 1 } } })
      })

      it('answers 401 to a request without a tenant, 400 to an invalid id, before the handler', async () => {
        for (const app of [lenient, checked]) {
          expect(await app.send('/api/items')).toMatchObject({ status: 401, body: { error: { code: 'NO_TENANT_CONTEXT' } } })
        }
        // Too long for the setting strategy: refused by the manager's rules, before any SQL.
        expect(await checked.send('/api/items', { tenant: 'x'.repeat(1100) })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_TENANT_ID' } } })
      })

      it('answers 404 to an unknown tenant: checked before the handler, or thrown by a scoped statement that does not create it', async () => {
        const unknown = `nobody-${framework.name}`
        expect(await checked.send('/api/items', { tenant: unknown })).toMatchObject({ status: 404, body: { error: { code: 'TENANT_NOT_FOUND' } } })
        expect(await lenient.send('/api/strict', { tenant: unknown })).toMatchObject({ status: 404, body: { error: { code: 'TENANT_NOT_FOUND' } } })
        expect(await lenient.send('/api/strict', { tenant: 'x'.repeat(1100) })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_TENANT_ID' } } })
        // Created on first use: the handler's scoped() statement creates it.
        const fresh = `fresh-${framework.name}`
        expect(await creating.send('/api/items', { tenant: fresh })).toMatchObject({ status: 200, body: { tenant: fresh, rows: [] } })
        expect(await checked.send('/api/items', { tenant: fresh })).toMatchObject({ status: 200 })
      })

      it("leaves a handler's other errors to the framework", async () => {
        expect((await lenient.send('/api/boom', { tenant: 'ma' })).status).toBe(500)
      })

      it('leaves nothing in context once the response is sent', async () => {
        leftovers.length = 0
        expect((await lenient.send('/api/later', { tenant: 'ma' })).body).toEqual({ tenant: 'ma' })
        await sleep(60)
        expect(leftovers).toEqual([null, null])
        expect(tryCurrentTenant()).toBeUndefined()
      })

      it.runIf(framework.sockets)("a keep-alive socket's next request, without a tenant, does not see the previous one's", async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
        try {
          for (let i = 0; i < 3; i++) {
            expect((await lenient.send('/api/items', { tenant: 'ma', agent })).status).toBe(200)
            const peek = await lenient.send('/peek', { agent })
            expect(peek).toEqual({ status: 200, body: { tenant: null }, reusedSocket: true })
            expect((await lenient.send('/api/items', { agent })).status).toBe(401)
          }
        } finally {
          agent.destroy()
        }
      })
    })
  }
})
