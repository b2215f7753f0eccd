/**
 * Fault injection on a real server (node-postgres only): what a caller sees, and what the pool is
 * left with, when the connection under a scope dies or errors mid-transaction. DESIGN.md §2, S1:
 * a connection whose state is in doubt is destroyed, never returned to the pool.
 *
 * Every case checks four things: the caller gets a clear error; nothing half-written is visible
 * (through a separate admin pool); the pool recovers (the next scopes on the same pool work); and
 * those next scopes are clean (current_user is the login and the tenant setting is empty outside
 * a scope, a tenant sees only its own rows inside one).
 *
 * The last block starts a throwaway cluster (initdb, port 54329) and restarts it under the pool.
 *
 * Note on `watch()`: node-postgres emits 'error' on a checked-out client whose backend dies while
 * no query is running (kill, idle-in-transaction timeout, restart), and a client with no 'error'
 * listener crashes the process. pg-tenants listens on the clients it pins (tested below); these
 * pools also add the pool-level listener that pg's docs ask applications for.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Strategy } from '../src/core/options.js'
import type { PostgresManager } from '../src/drizzle/index.js'
import type { AnyPgDatabase } from '../src/drizzle/bind.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { rowsOf, targets, type Login, type Row, type Target } from './support/targets.js'

const url = process.env['DATABASE_URL']
const suite = url ? describe : describe.skip
const title = url
  ? 'faults on node-postgres'
  : 'faults on node-postgres (skipped: set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test)'

type Manager = PostgresManager<AnyPgDatabase>

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The SQLSTATE of an error or of any error in its `cause` chain (Drizzle wraps driver errors). */
function sqlstate(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  }
  return undefined
}

/** Every message in an error's `cause` chain, joined. */
function messages(error: unknown): string {
  const out: string[] = []
  for (let e = error as { message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    out.push(String(e.message))
  }
  return out.join(' <- ')
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection, but it resolved')
}

/** A connection-loss error as node-postgres reports it. */
const CONNECTION_LOST = /terminat|not queryable|connection error|ECONNRESET|ECONNREFUSED|shutting down/i

/** A pool we can observe: how many clients were handed back with an error, which is how the
 * driver asks pg-pool to destroy a client rather than pool it (the 'release' event carries it,
 * synchronously), and the errors of checked-out and idle clients (see the note at the top). */
interface Watched {
  pool: pg.Pool
  destroyed: () => number
  clientErrors: unknown[]
}

function watch(pool: pg.Pool, listen = true): Watched {
  let destroyed = 0
  const clientErrors: unknown[] = []
  const listening = new WeakSet<pg.PoolClient>()
  pool.on('release', (error) => {
    if (error) destroyed++
  })
  pool.on('error', (error) => clientErrors.push(error))
  if (listen) {
    pool.on('acquire', (client) => {
      if (listening.has(client)) return
      listening.add(client)
      client.on('error', (error) => clientErrors.push(error))
    })
  }
  return { pool, destroyed: () => destroyed, clientErrors }
}

function urlAs(base: string, user: string): string {
  const u = new URL(base)
  u.username = user
  return u.toString()
}

const PROBE_OUTSIDE = `SELECT current_user::text AS "user", coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant`

/** Checks that scopes on `manager` work and are clean, and that the login outside scopes is
 * itself. Returns the backend pid the tenant scope ran on. */
async function expectClean(fx: Fixture, manager: Manager, pool: pg.Pool, tenant = 'acme'): Promise<number> {
  const inside = await manager.withTenant(tenant, async (tx) => {
    const rows = await tx.select().from(fx.tables.text)
    const pid = rowsOf(await tx.execute(sql`SELECT pg_backend_pid() AS pid`))[0]?.['pid']
    return { tenants: [...new Set(rows.map((r) => r.tenant))], count: rows.length, pid: Number(pid) }
  })
  expect(inside.count).toBeGreaterThan(0)
  expect(inside.tenants).toEqual([tenant])
  const outside = (await pool.query(PROBE_OUTSIDE)).rows[0] as Row
  expect(outside).toEqual({ user: fx.owner, tenant: '' })
  return inside.pid
}

/** Rows with `title` as any tenant would see them: through the admin scope of a separate pool. */
async function visible(admin: Manager, fx: Fixture, title: string): Promise<number> {
  return admin.withAdmin(async (tx) => {
    const r = rowsOf(await tx.execute(sql`SELECT count(*)::int AS n FROM ${fx.tables.text} WHERE title = ${title}`))
    return Number(r[0]?.['n'])
  })
}

suite(title, () => {
  let target: Target
  beforeAll(async () => {
    const factory = targets().find((t) => t.name === 'node-postgres')
    if (!factory) throw new Error('no node-postgres target although DATABASE_URL is set')
    target = await factory.create()
  })
  afterAll(async () => {
    await target?.close()
  })

  const strategies: Strategy[] = ['setting', 'role']
  for (const strategy of strategies) {
    describe(`strategy ${strategy}`, () => {
      let fx: Fixture
      let admin: Manager
      const pools: pg.Pool[] = []
      /** A watched pool as the fixture's owner, with a manager on it. */
      const open = (max = 1, listen = true) => {
        const w = watch(new pg.Pool({ connectionString: urlAs(url!, fx.owner), max, connectionTimeoutMillis: 10_000 }), listen)
        pools.push(w.pool)
        return { ...w, manager: fx.manager('text', drizzle(w.pool)) }
      }

      beforeAll(async () => {
        fx = await createFixture(target, strategy, 'owner')
        admin = fx.manager()
        for (const tenant of ['acme', 'globex']) {
          await admin.withTenant(tenant, (tx) => tx.insert(fx.tables.text).values({ tenant, title: `seed-${tenant}` }))
        }
      })
      afterAll(async () => {
        await Promise.all(pools.map((p) => p.end().catch(() => undefined)))
        await fx?.cleanup()
      })

      it('backend killed mid-transaction: withTenant rejects, the insert is gone, the pool recovers', async () => {
        const { pool, manager, destroyed } = open(1)
        const error = await rejection(
          manager.withTenant('acme', async (tx) => {
            await tx.insert(fx.tables.text).values({ tenant: 'acme', title: 'killed-scope' })
            const pid = rowsOf(await tx.execute(sql`SELECT pg_backend_pid() AS pid`))[0]?.['pid']
            await target.superExec(`SELECT pg_terminate_backend(${Number(pid)})`)
            await sleep(50)
            await tx.execute(sql`SELECT 1`)
          }),
        )
        expect(messages(error)).toMatch(CONNECTION_LOST)
        expect(await visible(admin, fx, 'killed-scope')).toBe(0)
        expect(destroyed()).toBe(1)
        expect(pool.totalCount).toBe(0)
        await expectClean(fx, manager, pool)
        await expectClean(fx, manager, pool, 'globex')
      })

      it('backend of a tenant session killed: commit() rejects, the session is closed, the pool recovers', async () => {
        const { pool, manager, destroyed } = open(1)
        const session = await manager.newTenantSession('acme')
        await session.insert(fx.tables.text).values({ tenant: 'acme', title: 'killed-session' })
        const pid = rowsOf(await session.execute(sql`SELECT pg_backend_pid() AS pid`))[0]?.['pid']
        await target.superExec(`SELECT pg_terminate_backend(${Number(pid)})`)
        await sleep(50)
        const error = await rejection(session.commit())
        expect(messages(error)).toMatch(CONNECTION_LOST)
        expect(session.closed).toBe(true)
        await expect(session.commit()).rejects.toMatchObject({ code: 'SESSION_CLOSED' })
        await session.close() // safe to call again
        expect(await visible(admin, fx, 'killed-session')).toBe(0)
        expect(destroyed()).toBe(1)
        await expectClean(fx, manager, pool)
      })

      it('statement_timeout: rejects with 57014, rolls back, and keeps the (healthy) connection', async () => {
        const { pool, manager, destroyed } = open(1)
        const before = await expectClean(fx, manager, pool)
        const error = await rejection(
          manager.withTenant('acme', async (tx) => {
            await tx.insert(fx.tables.text).values({ tenant: 'acme', title: 'timed-out' })
            await tx.execute(sql`SET LOCAL statement_timeout = '50ms'`)
            await tx.execute(sql`SELECT pg_sleep(1)`)
          }),
        )
        expect(sqlstate(error)).toBe('57014')
        expect(messages(error)).toMatch(/statement timeout/)
        expect(await visible(admin, fx, 'timed-out')).toBe(0)
        // The ROLLBACK succeeded, so the connection's state is known: it is pooled, not destroyed.
        expect(destroyed()).toBe(0)
        const after = await expectClean(fx, manager, pool)
        expect(after).toBe(before)
        // SET LOCAL ended with the transaction: a slow statement now runs.
        await manager.withTenant('acme', (tx) => tx.execute(sql`SELECT pg_sleep(0.1)`))
      })

      it('idle_in_transaction_session_timeout: rejects clearly and the dead connection is not reused', async () => {
        await target.superExec(`ALTER ROLE "${fx.owner}" SET idle_in_transaction_session_timeout = '200ms'`)
        try {
          const { pool, manager, destroyed, clientErrors } = open(1) // new pool: the setting applies at connect
          const before = await expectClean(fx, manager, pool)
          const error = await rejection(
            manager.withTenant('acme', async (tx) => {
              await tx.insert(fx.tables.text).values({ tenant: 'acme', title: 'idle-timeout' })
              await sleep(600)
              await tx.execute(sql`SELECT 1`)
            }),
          )
          expect(messages(error)).toMatch(CONNECTION_LOST)
          // What the server said when it closed the connection (the idle timeout's SQLSTATE).
          expect(clientErrors.map(sqlstate)).toContain('25P03')
          expect(await visible(admin, fx, 'idle-timeout')).toBe(0)
          expect(destroyed()).toBe(1)
          const after = await expectClean(fx, manager, pool)
          expect(after).not.toBe(before) // a new backend, not the dead one
        } finally {
          await target.superExec(`ALTER ROLE "${fx.owner}" RESET idle_in_transaction_session_timeout`)
        }
      })

      it('a failed COMMIT destroys the connection instead of pooling it', async () => {
        await fx.ownerLogin.exec(`
          CREATE TABLE IF NOT EXISTS "${fx.schema}".deferred (id int, CONSTRAINT deferred_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);
          GRANT ALL ON "${fx.schema}".deferred TO "${fx.options.tenantRole}";`)
        const { pool, manager, destroyed } = open(1)
        const before = await expectClean(fx, manager, pool)
        expect(pool.totalCount).toBe(1)
        const error = await rejection(
          manager.withTenant('acme', async (tx) => {
            await tx.insert(fx.tables.text).values({ tenant: 'acme', title: 'failed-commit' })
            await tx.execute(sql.raw(`INSERT INTO "${fx.schema}".deferred VALUES (1), (1)`)) // fails only at COMMIT
          }),
        )
        expect(sqlstate(error)).toBe('23505')
        expect(await visible(admin, fx, 'failed-commit')).toBe(0)
        expect(destroyed()).toBe(1)
        expect(pool.totalCount).toBe(0)
        const after = await expectClean(fx, manager, pool)
        expect(after).not.toBe(before)
      })

      it('a failed ROLLBACK on a live connection destroys it (else the next scope would inherit the tenant transaction)', async () => {
        const w = watch(new pg.Pool({ connectionString: urlAs(url!, fx.owner), max: 1 }))
        pools.push(w.pool)
        let failRollback = false
        // A pool whose clients refuse ROLLBACK once, without sending it: the server-side
        // transaction, with its SET LOCAL scoping, stays open on a perfectly healthy connection.
        const faulty = {
          connect: async () => {
            const client = await w.pool.connect()
            return new Proxy(client, {
              get(c, key) {
                if (key === 'query') {
                  return (text: unknown, ...rest: unknown[]) => {
                    if (failRollback && typeof text === 'string' && text.startsWith('ROLLBACK')) {
                      failRollback = false
                      return Promise.reject(new Error('injected: ROLLBACK lost'))
                    }
                    return (c.query as (...a: unknown[]) => unknown).call(c, text, ...rest)
                  }
                }
                const value = Reflect.get(c, key, c) as unknown
                return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(c) : value
              },
            })
          },
          query: w.pool.query.bind(w.pool),
          get totalCount() {
            return w.pool.totalCount
          },
          get idleCount() {
            return w.pool.idleCount
          },
        }
        const manager = fx.manager('text', drizzle(faulty as unknown as pg.Pool))
        const before = await expectClean(fx, manager, w.pool)
        failRollback = true
        const error = await rejection(
          manager.withTenant('acme', async (tx) => {
            await tx.insert(fx.tables.text).values({ tenant: 'acme', title: 'lost-rollback' })
            throw new Error('caller failure')
          }),
        )
        expect(messages(error)).toBe('caller failure') // the caller's error, not the ROLLBACK's
        expect(failRollback).toBe(false) // the fault did fire
        expect(w.destroyed()).toBe(1)
        expect(await visible(admin, fx, 'lost-rollback')).toBe(0)
        const after = await expectClean(fx, manager, w.pool)
        expect(after).not.toBe(before)
      })

      // pg-pool removes its own 'error' listener from a checked-out client, so a backend that dies
      // while no query runs (pg_terminate_backend, idle-in-transaction timeout, restart) would
      // make pg emit an unhandled 'error' and crash the process: the pinned connection listens.
      it('a pinned client has an error listener while in a scope', async () => {
        const { pool, manager } = open(1, false)
        let client: pg.PoolClient | undefined
        pool.once('acquire', (c: pg.PoolClient) => (client = c))
        const listeners = await manager.withTenant('acme', async () => client?.listenerCount('error') ?? -1)
        expect(listeners).toBeGreaterThan(0)
      })
    })
  }

  describe('server restart on a throwaway cluster', () => {
    const bin = '/usr/lib/postgresql/15/bin'
    const port = Number(process.env['PGT_FAULTS_PORT'] ?? 54329)
    const run = promisify(execFile)
    let dir: string | undefined
    let started = false
    let restartTarget: Target | undefined
    let fx: Fixture | undefined
    const pools: pg.Pool[] = []
    const available = existsSync(join(bin, 'initdb')) && process.getuid?.() === 0

    /** Runs a server binary as the postgres OS user, with a hard timeout. */
    const asPostgres = (command: string, timeoutMs: number) =>
      run('su', ['postgres', '-s', '/bin/sh', '-c', command], { timeout: timeoutMs, killSignal: 'SIGKILL' })
    const pgCtl = (args: string, timeoutMs = 40_000) => asPostgres(`${bin}/pg_ctl -D ${dir} ${args}`, timeoutMs)
    const clusterUrl = (user: string) => `postgres://${user}@127.0.0.1:${port}/postgres`
    const newPool = (user: string, max: number) => {
      const pool = new pg.Pool({ connectionString: clusterUrl(user), max, connectionTimeoutMillis: 5_000, query_timeout: 20_000 })
      pools.push(pool)
      return pool
    }

    beforeAll(async () => {
      if (!available) return
      dir = await mkdtemp(join(tmpdir(), 'pgt-faults-'))
      await chmod(dir, 0o700)
      const { uid, gid } = await run('id', ['-u', 'postgres']).then(async (u) => ({
        uid: Number(u.stdout.trim()),
        gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
      }))
      await chown(dir, uid, gid)
      await asPostgres(`${bin}/initdb -D ${dir} -A trust -U postgres >/dev/null`, 60_000)
      await pgCtl(`-o "-p ${port} -k /tmp -c listen_addresses=127.0.0.1" -l ${dir}/log -w -t 30 start`)
      started = true
      const superPool = newPool('postgres', 2)
      superPool.on('error', () => undefined) // idle clients die at the restart; the pool drops them
      restartTarget = {
        name: 'node-postgres',
        async superExec(text) {
          const result = (await superPool.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]
          return (Array.isArray(result) ? result : [result]).flatMap((r) => r.rows as Row[])
        },
        async login(role): Promise<Login> {
          const pool = newPool(role ?? 'postgres', 2)
          pool.on('error', () => undefined)
          return {
            db: drizzle(pool),
            client: pool,
            url: undefined,
            async exec(text) {
              const result = (await pool.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]
              return (Array.isArray(result) ? result : [result]).flatMap((r) => r.rows as Row[])
            },
            acquires: () => 0,
            activate: async () => undefined,
            end: () => pool.end(),
          }
        },
        close: async () => undefined,
      }
      fx = await createFixture(restartTarget, 'setting', 'owner')
    }, 120_000)

    afterAll(async () => {
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)))
      if (started) await pgCtl('-m immediate -w -t 20 stop', 30_000).catch(() => undefined)
      if (dir) await rm(dir, { recursive: true, force: true })
    }, 60_000)

    it.skipIf(!available)(
      'an in-flight scope fails clearly, and scopes after the restart are clean',
      async () => {
        const f = fx!
        const w = watch(newPool(f.owner, 2))
        const manager = f.manager('text', drizzle(w.pool))
        const admin = f.manager('text', drizzle(newPool(f.owner, 1).on('error', () => undefined)))
        for (const tenant of ['acme', 'globex']) {
          await manager.withTenant(tenant, (tx) => tx.insert(f.tables.text).values({ tenant, title: `before-${tenant}` }))
        }
        await expectClean(f, manager, w.pool)

        // In flight across the restart: written, then sleeping when the server goes down.
        let inFlightPid = 0
        const inFlight = rejection(
          manager.withTenant('acme', async (tx) => {
            await tx.insert(f.tables.text).values({ tenant: 'acme', title: 'in-flight' })
            inFlightPid = Number(rowsOf(await tx.execute(sql`SELECT pg_backend_pid() AS pid`))[0]?.['pid'])
            await tx.execute(sql`SELECT pg_sleep(15)`)
          }),
        )
        for (let i = 0; i < 100 && inFlightPid === 0; i++) await sleep(20)
        expect(inFlightPid).toBeGreaterThan(0)
        await sleep(100)
        await pgCtl(`-o "-p ${port} -k /tmp -c listen_addresses=127.0.0.1" -l ${dir}/log -m fast -w -t 30 restart`)

        const error = await inFlight
        expect(messages(error)).toMatch(CONNECTION_LOST)

        // The next scope either succeeds on a fresh connection or fails with a connection error
        // (a pooled client whose death was not yet noticed); within a few tries it succeeds.
        let pid = 0
        for (let attempt = 0; attempt < 3 && pid === 0; attempt++) {
          try {
            pid = await expectClean(f, manager, w.pool)
          } catch (e) {
            expect(messages(e)).toMatch(CONNECTION_LOST)
          }
        }
        expect(pid).toBeGreaterThan(0)
        expect(pid).not.toBe(inFlightPid)
        await expectClean(f, manager, w.pool, 'globex')
        expect(await visible(admin, f, 'in-flight')).toBe(0)
        expect(await visible(admin, f, 'before-acme')).toBe(1) // committed work survived
        await f.cleanup()
      },
      90_000,
    )
  })
})
