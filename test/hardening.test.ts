/**
 * The isolation defects an independent attack found (issue "Hardening"), one block each, written
 * once and run on every target (PGlite, the server, PgBouncer) for both strategies. Each test was
 * watched fail against the engine before its fix.
 *
 * - A tenant dropped behind a manager's known-tenant cache must never let the callback run
 *   outside a scoped transaction, and a deletion racing a scope must not leave it cached.
 * - Whatever ordinary code inside a scope leaves on the session (temporary tables, session-level
 *   settings and roles, WITH HOLD cursors, LISTEN, advisory locks) must not reach the next unit
 *   of work on the same connection.
 * - Transaction options go with BEGIN; nested scopes fail at once; errors say what happened.
 */
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { sqlState, TenantError, TenantNotFound } from '../src/index.js'
import { PostgresManager } from '../src/drizzle/index.js'
import type { AnyPgDatabase } from '../src/drizzle/bind.js'
import { useFixture, type Fixture } from './support/fixture.js'
import { describeTargets, rowsOf, type Login, type Row, type Target } from './support/targets.js'

type Manager = PostgresManager<AnyPgDatabase>
const STRATEGIES = ['setting', 'role'] as const

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  )
}

/** The `code`s of an error and its `cause` chain (Drizzle wraps driver and library errors). */
function codes(error: unknown): string[] {
  const out: string[] = []
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 6; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') out.push(e.code)
  }
  return out
}

/** Rows as the login sees them, outside any scope. */
async function rows(login: Login, query: string): Promise<Row[]> {
  return login.exec(query)
}

/** What the session looks like outside any scope: everything a scope could leave behind. */
const SNAPSHOT = `SELECT current_user::text AS role, current_setting('search_path') AS search_path,
  current_setting('statement_timeout') AS timeout, coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant,
  (SELECT count(*)::int FROM pg_listening_channels()) AS listening, (SELECT count(*)::int FROM pg_cursors) AS cursors,
  (SELECT count(*)::int FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp_tables,
  (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory`

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))

      /** A login of the owner on ONE connection (PGlite is one anyway), with a manager on it. */
      async function single(): Promise<{ login: Login; m: Manager }> {
        const login = target().name === 'pglite' ? f.login : await target().login(f.owner, { max: 1 })
        return { login, m: f.manager('text', login.db) }
      }

      describe('a tenant dropped behind the known-tenant cache', () => {
        it('never runs the callback outside a scoped transaction (dropped by another manager)', async () => {
          const m = f.manager()
          const other = f.manager() // "another process"
          await m.withTenant('kc-a', (tx) => tx.insert(f.tables.text).values({ tenant: 'kc-a', title: 'mine' }))
          await m.withTenant('kc-b', (tx) => tx.insert(f.tables.text).values({ tenant: 'kc-b', title: 'theirs' }))
          await other.deleteTenant('kc-a') // m still has kc-a cached as known
          const TXID = sql`SELECT txid_current()::text AS id, current_user::text AS role`
          const seen = await rejection(
            m.withTenant('kc-a', async (tx) => {
              const first = rowsOf(await tx.execute(TXID))[0]
              const titles = (await tx.select().from(f.tables.text)).map((r) => r.title)
              await tx.insert(f.tables.text).values({ tenant: 'kc-a', title: 'must-roll-back' })
              const last = rowsOf(await tx.execute(TXID))[0]
              throw Object.assign(new Error('caller failure'), { first, last, titles })
            }),
          )
          const { first, last, titles } = seen as { first: Row; last: Row; titles: string[] }
          // One transaction (autocommit would give each statement its own), as the tenant's role,
          // seeing only its own rows; its write rolled back with it.
          expect(last['id']).toBe(first['id'])
          expect(first['role']).toBe(strategy === 'role' ? `${f.options.rolePrefix}kc-a` : f.options.tenantRole)
          expect(titles).toEqual(['mine'])
          const left = await m.withAdmin((tx) => tx.select().from(f.tables.text))
          expect(
            left
              .filter((r) => r.tenant.startsWith('kc-'))
              .map((r) => r.title)
              .sort(),
          ).toEqual(['mine', 'theirs'])
          // The role strategy sees the missing role at once and re-creates it (createIfMissing);
          // the setting strategy re-registers it at the first scope after the known-tenant TTL.
          expect((await m.listTenants()).has('kc-a')).toBe(strategy === 'role')
        })

        it('with knownTenantTtlMs: 0 every scope checks, so a tenant in use is always registered', async () => {
          const strict = PostgresManager.fromDrizzle(f.login.db, { ...f.options, tables: [f.tables.text], knownTenantTtlMs: 0 })
          await strict.withTenant('kc-t', async () => undefined)
          await f.manager().deleteTenant('kc-t')
          await strict.withTenant('kc-t', async () => undefined)
          expect((await strict.listTenants()).has('kc-t')).toBe(true)
          expect(() => PostgresManager.fromDrizzle(f.login.db, { ...f.options, knownTenantTtlMs: -1 })).toThrow(
            expect.objectContaining({ code: 'INVALID_OPTIONS' }),
          )
        })

        it('a session opened on the stale cache is scoped too', async () => {
          const m = f.manager()
          await m.withTenant('kc-s', async () => undefined)
          await f.manager().deleteTenant('kc-s')
          const session = await m.newTenantSession('kc-s')
          try {
            const [row] = rowsOf(await session.execute(sql`SELECT current_user::text AS role`))
            expect(row?.['role']).toBe(strategy === 'role' ? `${f.options.rolePrefix}kc-s` : f.options.tenantRole)
          } finally {
            await session.close()
          }
        })

        it('a deletion racing a scope that is opening does not leave the tenant cached', async (ctx) => {
          if (target().name === 'pglite') ctx.skip() // one connection: a deletion cannot overlap a scope
          const { pool, gate } = gatedPool(target(), f.owner, (text) => text.includes('pg_tenants_found'))
          try {
            const m = f.manager('text', drizzle(pool))
            await m.createTenant('kc-r')
            const held = gate.hold() // the next scope's check passes, then waits before returning
            const scope = m.withTenant('kc-r', async () => undefined)
            await held.reached
            await m.deleteTenant('kc-r') // runs while the scope sits between its check and its use
            held.release()
            await scope
            expect((await m.listTenants()).has('kc-r')).toBe(false)
            // The next default scope must take the checked path and register the tenant again.
            await m.withTenant('kc-r', async () => undefined)
            expect((await m.listTenants()).has('kc-r')).toBe(true)
          } finally {
            await pool.end()
          }
        })
      })

      describe('state that outlives a transaction does not cross to the next unit of work', () => {
        const leftovers: { name: string; leave: string; probe?: string; expectProbe?: (rows: Row[]) => void }[] = [
          {
            name: 'a temporary table',
            leave: `CREATE TEMP TABLE IF NOT EXISTS staging (v text); INSERT INTO staging VALUES ('a-secret')`,
            probe: `CREATE TEMP TABLE IF NOT EXISTS staging (v text); SELECT v FROM staging`,
            expectProbe: (r) => expect(r).toEqual([]),
          },
          { name: 'a session-level SET search_path', leave: `SET search_path = pg_catalog` },
          { name: 'a session-level SET statement_timeout', leave: `SET statement_timeout = 4321` },
          { name: 'set_config(…, false) of the tenant setting', leave: `SELECT set_config('pg_tenants.tenant', 'lo-a', false)` },
          { name: 'a plain SET ROLE', leave: `SET ROLE "TENANT_ROLE"` },
          {
            name: 'a WITH HOLD cursor',
            leave: `DECLARE held CURSOR WITH HOLD FOR SELECT 'a-secret' AS v`,
            probe: `SELECT count(*)::int AS n FROM pg_cursors WHERE name = 'held'`,
            expectProbe: (r) => expect(r).toEqual([{ n: 0 }]),
          },
          { name: 'LISTEN', leave: `LISTEN pg_tenants_test_channel` },
          { name: 'a session advisory lock', leave: `SELECT pg_advisory_lock(424242)` },
          {
            name: 'a statement made with SQL PREPARE',
            leave: `PREPARE a_secret AS SELECT 'sk-a-secret' AS v`,
            probe: `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE from_sql`,
            expectProbe: (r) => expect(r).toEqual([{ n: 0 }]),
          },
          {
            name: 'a tiny statement_timeout with many temporary tables (the reset is not stopped by it)',
            leave: `SELECT set_config('search_path', 'pg_temp', false); CREATE TEMP TABLE t0 (v text); ${Array.from({ length: 150 }, (_, i) => `CREATE TEMP TABLE x${i} (v text)`).join('; ')}; SET statement_timeout = 1`,
          },
        ]
        for (const { name, leave, probe, expectProbe } of leftovers) {
          for (const ending of ['commit', 'rollback'] as const) {
            it(`${name} (${ending})`, async (ctx) => {
              // PGlite is one session whose own listeners (its listen(), live queries) must
              // survive: a LISTEN is not undone there (documented).
              if (name === 'LISTEN' && target().name === 'pglite') ctx.skip()
              const { login, m } = await single()
              const leaveSql = leave.replace('TENANT_ROLE', strategy === 'role' ? `${f.options.rolePrefix}lo-a` : f.options.tenantRole!)
              const before = await rows(login, SNAPSHOT)
              const outcome = m.withTenant('lo-a', async (tx) => {
                for (const statement of leaveSql.split('; ')) await tx.execute(sql.raw(statement))
                if (ending === 'rollback') throw new Error('caller failure')
              })
              if (ending === 'rollback') await expect(outcome).rejects.toThrow('caller failure')
              else await outcome
              expect(await rows(login, SNAPSHOT)).toEqual(before)
              await m.withTenant('lo-b', async (tx) => {
                const [row] = rowsOf(await tx.execute(sql`SELECT current_user::text AS role, current_setting('pg_tenants.tenant', true) AS tenant`))
                expect(row?.['role']).toBe(strategy === 'role' ? `${f.options.rolePrefix}lo-b` : f.options.tenantRole)
                if (strategy === 'setting') expect(row?.['tenant']).toBe('lo-b')
                if (probe) {
                  let last: Row[] = []
                  for (const statement of probe.split('; ')) last = rowsOf(await tx.execute(sql.raw(statement)))
                  expectProbe?.(last)
                }
              })
              expect(await rows(login, SNAPSHOT)).toEqual(before)
            })
          }
        }

        it('on PGlite, the session settings the app made before a scope survive it', async (ctx) => {
          if (target().name !== 'pglite') ctx.skip() // a pooled connection goes back to its defaults (RESET ALL, documented)
          const { login, m } = await single()
          await login.exec(`SET search_path TO "${f.schema}", public; SET TimeZone = 'Asia/Tokyo'`)
          try {
            const before = await rows(login, SNAPSHOT + `, current_setting('TimeZone') AS tz`)
            await m.withTenant('lo-a', async (tx) => {
              await tx.execute(sql.raw(`SET search_path = pg_catalog`))
              await tx.execute(sql.raw(`SET TimeZone = 'UTC'`))
            })
            expect(await rows(login, SNAPSHOT + `, current_setting('TimeZone') AS tz`)).toEqual(before)
            expect(before[0]?.['search_path']).toContain(f.schema)
          } finally {
            await login.exec(`RESET search_path; RESET TimeZone`)
          }
        })

        it('a tenant session leaves nothing behind when closed', async () => {
          const { login, m } = await single()
          const before = await rows(login, SNAPSHOT)
          const session = await m.newTenantSession('lo-a')
          await session.execute(sql.raw(`CREATE TEMP TABLE staging (v text)`))
          await session.execute(sql.raw(`SET search_path = pg_catalog`))
          await session.commit()
          // Inside one session, its own state stays (same tenant, same connection).
          expect(rowsOf(await session.execute(sql.raw(`SELECT current_setting('search_path') AS p`)))[0]?.['p']).toBe('pg_catalog')
          await session.close()
          expect(await rows(login, SNAPSHOT)).toEqual(before)
        })

        it('the login outside any scope stays fail-closed after set_config(…, false) inside one', async () => {
          const { login, m } = await single()
          await m.withTenant('lo-a', (tx) => tx.insert(f.tables.text).values({ tenant: 'lo-a', title: 'a-row' }))
          await m.withTenant('lo-a', (tx) => tx.execute(sql`SELECT set_config('pg_tenants.tenant', 'lo-a', false)`))
          const outside = await rows(login, `SELECT count(*)::int AS n FROM "${f.schema}".items_text`)
          expect(outside).toEqual([{ n: 0 }])
        })
      })

      describe('what only a superuser login could leave behind', () => {
        /** The superuser on one connection (on PGlite: the instance, as the superuser). */
        async function superSingle(): Promise<{ login: Login; m: Manager }> {
          const login = await target().login(null, { max: 1 })
          return { login, m: f.manager('text', login.db) }
        }

        it('SET SESSION AUTHORIZATION inside a scope does not outlive it', async () => {
          const { login, m } = await superSingle()
          const before = await rows(login, SNAPSHOT + ', session_user::text AS login')
          await m.withTenant('su-a', (tx) => tx.execute(sql.raw(`SET SESSION AUTHORIZATION "${f.owner}"`)))
          expect(await rows(login, SNAPSHOT + ', session_user::text AS login')).toEqual(before)
          await m.withTenant('su-b', async (tx) => {
            const [row] = rowsOf(await tx.execute(sql`SELECT session_user::text AS login`))
            expect(row?.['login']).toBe(before[0]?.['login'])
          })
        })

        it('a COMMIT or ROLLBACK sent by the callback ends the scope: nothing after it runs unscoped', async () => {
          const { m } = await superSingle()
          await m.withTenant('su-victim', (tx) => tx.insert(f.tables.text).values({ tenant: 'su-victim', title: 'victim-secret' }))
          for (const end of ['ROLLBACK', 'COMMIT', 'ROLLBACK AND CHAIN']) {
            let seen: unknown[] = []
            const error = await rejection(
              m.withTenant('su-attacker', async (tx) => {
                await tx.execute(sql.raw(end)).catch(() => undefined) // a careless "undo"
                seen = await tx
                  .select()
                  .from(f.tables.text)
                  .catch(() => [])
                await tx.insert(f.tables.text).values({ tenant: 'su-victim', title: 'planted' })
              }),
            )
            expect(codes(error), end).toContain('SESSION_CLOSED') // later queries refused
            expect(seen, end).toEqual([])
          }
          // A statement that ends the transaction and fails (no prepared transactions here), and a
          // query sent beside a COMMIT instead of after it.
          const failing = await rejection(
            m.withTenant('su-attacker', async (tx) => {
              await tx.execute(sql.raw(`PREPARE TRANSACTION 'pgt_x'`)).catch(() => undefined)
              await tx.insert(f.tables.text).values({ tenant: 'su-victim', title: 'planted' })
            }),
          )
          expect(codes(failing)).toContain('SESSION_CLOSED')
          let beside: unknown
          await rejection(
            m.withTenant('su-attacker', async (tx) => {
              const [, read] = await Promise.allSettled([tx.execute(sql.raw('COMMIT')), tx.select().from(f.tables.text)])
              beside = read.status === 'fulfilled' ? read.value : []
            }),
          )
          expect(beside).toEqual([])
          const planted = rowsOf(await m.withAdmin((tx) => tx.execute(sql`SELECT count(*)::int AS n FROM ${f.tables.text} WHERE title = 'planted'`)))
          expect(planted[0]).toEqual({ n: 0 })
          // A savepoint rolled back (tag ROLLBACK too) is not mistaken for the end of the scope.
          const kept = await m.withTenant('su-attacker', async (tx) => {
            await tx.transaction(async () => Promise.reject(new Error('inner'))).catch(() => undefined)
            return rowsOf(await tx.execute(sql`SELECT current_user::text AS r`))[0]?.['r']
          })
          expect(kept).toBe(strategy === 'role' ? `${f.options.rolePrefix}su-attacker` : f.options.tenantRole)
        })
      })

      describe('transaction options ride with BEGIN', () => {
        const SHOW = sql`SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro, current_setting('transaction_deferrable') AS def`

        it('on the first scope of a new tenant, with createIfMissing: false, on a known tenant, and for admin', async () => {
          const m = f.manager()
          const opts = { isolationLevel: 'serializable', accessMode: 'read only', deferrable: true } as const
          const expected = { iso: 'serializable', ro: 'on', def: 'on' }
          expect(rowsOf(await m.withTenant('to-new', (tx) => tx.execute(SHOW), opts))[0]).toEqual(expected)
          expect(rowsOf(await m.withTenant('to-new', (tx) => tx.execute(SHOW), { ...opts, createIfMissing: false }))[0]).toEqual(expected)
          expect(rowsOf(await m.withTenant('to-new', (tx) => tx.execute(SHOW), opts))[0]).toEqual(expected)
          expect(rowsOf(await m.withAdmin((tx) => tx.execute(SHOW), { isolationLevel: 'repeatable read' }))[0]).toMatchObject({
            iso: 'repeatable read',
            ro: 'off',
          })
        })

        it('read only refuses writes; the default is the server default', async () => {
          const m = f.manager()
          const error = await rejection(
            m.withTenant('to-ro', (tx) => tx.insert(f.tables.text).values({ tenant: 'to-ro', title: 'x' }), { accessMode: 'read only' }),
          )
          expect(sqlState(error)).toBe('25006')
          expect(rowsOf(await m.withTenant('to-ro', (tx) => tx.execute(SHOW)))[0]).toMatchObject({ iso: 'read committed', ro: 'off' })
        })

        it('sessions keep their options on every transaction they open', async () => {
          const m = f.manager()
          const session = await m.newTenantSession('to-s', { isolationLevel: 'repeatable read' })
          try {
            expect(rowsOf(await session.execute(SHOW))[0]).toMatchObject({ iso: 'repeatable read' })
            await session.commit()
            expect(rowsOf(await session.execute(SHOW))[0]).toMatchObject({ iso: 'repeatable read' })
            await session.rollback()
            expect(rowsOf(await session.execute(SHOW))[0]).toMatchObject({ iso: 'repeatable read' })
          } finally {
            await session.close()
          }
          const admin = await m.newSession({ accessMode: 'read only' })
          try {
            expect(rowsOf(await admin.execute(SHOW))[0]).toMatchObject({ ro: 'on' })
          } finally {
            await admin.close()
          }
        })

        it('tx.setTransaction() and bad options fail with a coded error that names the option', async () => {
          const m = f.manager()
          const error = await rejection(m.withTenant('to-bad', (tx) => tx.setTransaction({ isolationLevel: 'serializable' })))
          expect(error).toMatchObject({ code: 'UNSUPPORTED_OPERATION' })
          expect((error as Error).message).toContain('isolationLevel')
          const before = f.login.acquires()
          for (const bad of [{ isolationLevel: 'chaos' }, { accessMode: 'write only' }, { deferrable: 'yes' }, { isolation: 'serializable' }]) {
            const e = await rejection(m.withTenant('to-bad', async () => undefined, bad as never))
            expect(e).toMatchObject({ code: 'INVALID_OPTIONS' })
          }
          expect(f.login.acquires()).toBe(before) // refused before a connection was taken
        })
      })

      describe('nested scopes fail at once instead of waiting forever', () => {
        it('on a pool of one (or PGlite): withTenant, withAdmin, sessions and management inside a scope', { timeout: 10_000 }, async () => {
          const { m } = await single()
          const inner: [string, () => Promise<unknown>][] = [
            ['withTenant', () => m.withTenant('ns-b', async () => undefined)],
            ['withAdmin', () => m.withAdmin(async () => undefined)],
            ['newTenantSession', () => m.newTenantSession('ns-b')],
            ['newSession', () => m.newSession()],
            ['createTenant', () => m.createTenant('ns-c')],
            ['listTenants', () => m.listTenants()],
          ]
          for (const [name, call] of inner) {
            const error = await rejection(m.withTenant('ns-a', () => call()))
            expect(error, name).toMatchObject({ code: 'NESTED_SCOPE' })
            expect((error as Error).message).toContain('withTenant("ns-a")')
            const fromAdmin = await rejection(m.withAdmin(() => call()))
            expect(fromAdmin, name).toMatchObject({ code: 'NESTED_SCOPE' })
          }
          // The outer scopes were rolled back and released: the manager still works.
          expect(await m.withTenant('ns-a', async () => 'ok')).toBe('ok')
        })

        it('check() inside a scope; a timer started in a scope may open scopes after it ended', { timeout: 10_000 }, async () => {
          const { m } = await single()
          await expect(m.withTenant('ns-a', () => m.check())).rejects.toMatchObject({ code: 'NESTED_SCOPE' })
          let later: Promise<unknown> | undefined
          await m.withTenant('ns-a', async () => {
            later = new Promise((resolve) => setTimeout(resolve, 20)).then(() => m.withAdmin(async () => 'after'))
          })
          expect(await later).toBe('after')
          await expect(m.withTenant('ns-a', async () => undefined, { createIfMissing: 'false' } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
        })

        it('on PGlite, a scope while a session is open (on any manager of the instance)', { timeout: 10_000 }, async (ctx) => {
          if (target().name !== 'pglite') ctx.skip() // a pool serves other scopes while a session holds one connection
          const m = f.manager()
          const session = await m.newTenantSession('ns-s')
          try {
            await expect(m.withTenant('ns-t', async () => undefined)).rejects.toMatchObject({ code: 'NESTED_SCOPE' })
            await expect(m.listTenants()).rejects.toMatchObject({ code: 'NESTED_SCOPE' })
            await expect(f.manager().withTenant('ns-t', async () => undefined)).rejects.toMatchObject({ code: 'NESTED_SCOPE' })
            await expect(m.check()).rejects.toMatchObject({ code: 'NESTED_SCOPE' })
          } finally {
            await session.close()
          }
          expect(await m.withTenant('ns-t', async () => 'ok')).toBe('ok')
        })
      })

      describe('errors that say what happened', () => {
        it('a role-strategy session whose tenant was deleted: commit() keeps the work and throws TenantNotFound', async (ctx) => {
          if (strategy !== 'role' || target().name === 'pglite') ctx.skip() // needs a second connection to delete on
          const m = f.manager()
          const session = await m.newTenantSession('er-s')
          await session.insert(f.tables.text).values({ tenant: 'er-s', title: 'kept' })
          await f.manager().deleteTenant('er-s')
          const error = await rejection(session.commit())
          expect(error).toBeInstanceOf(TenantNotFound)
          expect(session.closed).toBe(true)
          const kept = rowsOf(await m.withAdmin((tx) => tx.execute(sql`SELECT count(*)::int AS n FROM ${f.tables.text} WHERE title = 'kept'`)))
          expect(kept[0]).toEqual({ n: 1 })
        })

        it('deleteTenant of a role that still holds privileges is TENANT_HAS_OBJECTS', async (ctx) => {
          if (strategy !== 'role') ctx.skip()
          const m = f.manager()
          await m.createTenant('er-p')
          const role = `${f.options.rolePrefix}er-p`
          await f.ownerLogin.exec(`GRANT SELECT ON "${f.schema}".items_text TO "${role}"`)
          const error = await rejection(m.deleteTenant('er-p'))
          expect(error).toBeInstanceOf(TenantError)
          expect(error).toMatchObject({ code: 'TENANT_HAS_OBJECTS' })
          expect((error as Error).message).toContain('DROP OWNED BY')
          expect(sqlState(error)).toBe('2BP01')
          await f.ownerLogin.exec(`REVOKE SELECT ON "${f.schema}".items_text FROM "${role}"`)
          await m.deleteTenant('er-p')
        })

        it('a failing ROLLBACK after a failed tenant creation does not hide the first error', async (ctx) => {
          if (strategy !== 'role' || target().name === 'pglite') ctx.skip() // fault injection on a pg pool
          const { pool, faults } = gatedPool(target(), f.owner, () => false)
          try {
            const m = f.manager('text', drizzle(pool))
            faults.push((text) => (text.includes('CREATE ROLE') ? new Error('first failure') : undefined))
            faults.push((text) => (text === 'ROLLBACK' ? new Error('rollback failure') : undefined))
            const error = await rejection(m.createTenant('er-c'))
            expect((error as Error).message).toContain('first failure')
            expect(pool.totalCount).toBe(0) // maybe still inside the failed transaction: destroyed
          } finally {
            await pool.end()
          }
        })
      })
    })
  }
})

/**
 * A pg pool as `role` whose clients can hold a matching message's result until released (to
 * interleave a deletion with a scope) and fail messages by rule (faults), with the test reading
 * the SQL text: only the test inspects SQL, never the library.
 */
function gatedPool(target: Target, role: string, hold: (text: string) => boolean) {
  const url = new URL(process.env['DATABASE_URL']!)
  url.username = role
  const inner = new pg.Pool({ connectionString: url.toString(), max: 3 })
  const faults: ((text: string) => Error | undefined)[] = []
  let armed: { reached: Promise<void>; arrive: () => void; released: Promise<void>; release: () => void } | undefined
  const gate = {
    hold() {
      let arrive!: () => void
      let release!: () => void
      const reached = new Promise<void>((r) => (arrive = r))
      const released = new Promise<void>((r) => (release = r))
      armed = { reached, arrive, released, release }
      return { reached, release }
    },
  }
  const pool = {
    connect: async () => {
      const client = await inner.connect()
      return new Proxy(client, {
        get(c, key) {
          if (key === 'query') {
            return async (text: unknown, ...rest: unknown[]) => {
              if (typeof text === 'string') {
                for (const fault of faults) {
                  const error = fault(text)
                  if (error) return Promise.reject(error)
                }
              }
              const result = await (c.query as (...a: unknown[]) => Promise<unknown>).call(c, text, ...rest)
              if (armed && typeof text === 'string' && hold(text)) {
                const a = armed
                armed = undefined
                a.arrive()
                await a.released
              }
              return result
            }
          }
          const value = Reflect.get(c, key, c) as unknown
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(c) : value
        },
      })
    },
    query: inner.query.bind(inner),
    end: () => inner.end(),
    get totalCount() {
      return inner.totalCount
    },
    get idleCount() {
      return inner.idleCount
    },
  }
  return { pool: pool as unknown as pg.Pool, gate, faults }
}
