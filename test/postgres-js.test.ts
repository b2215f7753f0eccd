/**
 * What is particular to postgres.js (npm `postgres`), on the server and through PgBouncer (the
 * shared body, test/stacks.test.ts, runs the rest): how its answers are read (a multi-statement
 * message merges command tags), the closing of connections in doubt (a reserved connection has
 * no destroy), what a scope leaves on a pool of one, the guarded `sql` a scope hands out
 * (fragments, helpers, cursors, savepoints, refusals), the doctor over a postgres.js `sql`, and
 * Drizzle on postgres.js. The login is the tables' owner, neither superuser nor BYPASSRLS.
 */
import { eq, sql as dsql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkDatabase } from '../src/check/check-database.js'
import type { CheckCode } from '../src/check/types.js'
import { TenantEngine } from '../src/core/engine.js'
import { isRlsViolation, TenantNotFound } from '../src/core/errors.js'
import { driverFor } from '../src/drivers/detect.js'
import { isPostgresJs, postgresJsDriver } from '../src/drivers/postgres-js.js'
import { fromDrizzle } from '../src/drizzle/index.js'
import { fromPostgresJs, type PostgresJsQueries, type PostgresManager } from '../src/postgres-js/index.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { postgresJsFor } from './support/stacks/postgres-js.js'
import { describeTargets, type Row } from './support/targets.js'
import { codes, rejection, sleep } from './support/errors.js'

type Sql = ReturnType<typeof postgres>

const TEMP: CheckCode = 'ROLE_CAN_CREATE_TEMP' // PUBLIC's TEMPORARY on the shared test database

const plain = (rows: Iterable<object | undefined>) => [...rows]

describeTargets((target) => {
  let f: Fixture
  /** A pool of five, and a pool of one (whatever a scope leaves, the next unit of work gets). */
  let sql: Sql
  let one: Sql
  let m: PostgresManager
  let m1: PostgresManager
  const skipped = () => target().name === 'pglite'
  const direct = () => target().name === 'node-postgres'
  const items = () => `"${f.schema}".items_text`
  const options = () => ({ ...f.options, tables: [{ name: 'items_text', type: 'text' as const }], knownTenantTtlMs: 0 })
  /** Whether a backend still runs, asked of the server itself (a backend ends a moment after its
   * connection). */
  const backendGone = async (pid: unknown) => {
    for (let i = 0; i < 100; i++) {
      const [row] = await target().superExec(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${Number(pid)}`)
      if (row?.['n'] === 0) return true
      await sleep(20)
    }
    return false
  }

  beforeAll(async () => {
    if (skipped()) return
    f = await createFixture(target(), 'setting', 'owner')
    sql = postgresJsFor(f.ownerLogin, 5)
    one = postgresJsFor(f.ownerLogin, 1)
    m = fromPostgresJs(sql, options())
    m1 = fromPostgresJs(one, options())
  })
  afterAll(async () => {
    if (skipped()) return
    await sql?.end({ timeout: 5 })
    await one?.end({ timeout: 5 })
    await f?.cleanup()
  })
  beforeEach(({ skip }) => {
    if (skipped()) skip()
  })

  describe('reading postgres.js answers', () => {
    it('postgres.js merges the tags of a multi-statement message, and answers a COMMIT after an error with ROLLBACK (measured)', async () => {
      const reserved = await sql.reserve()
      try {
        const merged = await reserved.unsafe('BEGIN; SET LOCAL statement_timeout = 1000; SELECT 1 AS found; SET LOCAL lock_timeout = 1000')
        expect((merged as unknown as (Row[] & { command?: string })[]).map((r) => ({ command: r.command, rows: [...r] }))).toEqual([
          { command: 'SET', rows: [] }, // BEGIN and the first SET
          { command: 'SET', rows: [{ found: 1 }] }, // the SELECT's rows, the last SET's tag
        ])
        await reserved.unsafe('SELECT 1/0').catch(() => undefined)
        expect((await reserved.unsafe('COMMIT')).command).toBe('ROLLBACK')
      } finally {
        reserved.release()
      }
    })

    it("finds the prelude's rows by their columns: an existing tenant opens, a missing one is TenantNotFound", async () => {
      const conn = await postgresJsDriver(sql).connect()
      try {
        // The first result stands for BEGIN and the SET after it; the second for the SELECT (its
        // rows) and the SET after it (its tag).
        expect(await conn.begin('SET LOCAL statement_timeout = 1000; SELECT 1 AS pg_tenants_found; SET LOCAL lock_timeout = 1000', 'READ ONLY')).toEqual([
          { command: 'SET', rows: [] },
          { command: 'SET', rows: [{ pg_tenants_found: 1 }] },
        ])
        expect(await conn.exec('SELECT 2 AS b; SHOW transaction_read_only')).toEqual([
          { command: 'SELECT', rows: [{ b: 2 }] },
          { command: 'SHOW', rows: [{ transaction_read_only: 'on' }] },
        ])
        expect(await conn.commit()).toBe(true)
        expect(await conn.begin('SELECT 3 AS c', '')).toEqual([{ command: 'SELECT', rows: [{ c: 3 }] }]) // BEGIN's own result left out
        await conn.rollback()
      } finally {
        await conn.release(false)
      }
      const engine = new TenantEngine(postgresJsDriver(sql), f.options, [{ type: 'text' }], { knownTenantTtlMs: 0 })
      await engine.createTenant('found')
      const role = await engine.run(
        { kind: 'tenant', id: 'found', createIfMissing: false },
        async (c) => (await c.query('SELECT current_user::text AS r', [])).rows[0]?.['r'],
      )
      expect(role).toBe(f.options.tenantRole)
      let called = false
      const missing = engine.run({ kind: 'tenant', id: 'never-made', createIfMissing: false }, async () => (called = true))
      await expect(missing).rejects.toBeInstanceOf(TenantNotFound)
      expect(called).toBe(false)
    })

    it('a COMMIT after an error is TRANSACTION_ABORTED: nothing is kept, and the connection is kept, clean', async () => {
      let inside: unknown
      const error = await rejection(
        m1.withTenant('abort', async (tx) => {
          inside = (await tx`select pg_backend_pid() as pid`)[0]?.['pid'] as unknown
          await tx`insert into ${tx(f.schema)}.items_text ${tx({ tenant: 'abort', title: 'lost' })}`
          await tx`select 1/0`.catch(() => undefined)
        }),
      )
      expect(codes(error)).toEqual(['TRANSACTION_ABORTED'])
      const [after] = await one`select current_user::text as login, coalesce(current_setting('pg_tenants.tenant', true), '') as tenant, pg_backend_pid() as pid`
      expect(after).toMatchObject({ login: f.owner, tenant: '' })
      if (direct()) expect(after?.['pid']).toBe(inside) // not closed: its state was known
      expect(plain(await m1.withTenant('abort', (tx) => tx`select title from ${tx(f.schema)}.items_text`))).toEqual([])
    })

    it('sends query() parameters as node-postgres does: text typed by the server (a JSON string stays JSON)', async () => {
      const conn = await postgresJsDriver(sql).connect()
      try {
        const { rows } = await conn.query('SELECT json_array_elements_text($1::json) AS e, $2::int + 1 AS n, $3::text[] AS a, $4::bool AS b', [
          '["x","y"]',
          41,
          ['p', 'q,"r"'],
          'true',
        ])
        expect(rows).toEqual([
          { e: 'x', n: 42, a: ['p', 'q,"r"'], b: true },
          { e: 'y', n: 42, a: ['p', 'q,"r"'], b: true },
        ])
      } finally {
        await conn.release(false)
      }
    })
  })

  describe('connections in doubt', () => {
    it('a connection in doubt is closed: the next unit of work has another backend, and the old one is gone', async () => {
      const pidOf = async (tx: PostgresJsQueries) => (await tx`select pg_backend_pid() as pid`)[0]?.['pid'] as unknown
      // A COMMIT of the caller's (the connection is settled again when it is closed), a role set
      // for the session (the reset's row differs from the login), SQL PREPARE.
      const enders: ((tx: PostgresJsQueries) => Promise<unknown>)[] = [
        (tx) => tx`commit`.catch(() => undefined),
        (tx) => tx.unsafe(`SET ROLE "${f.options.tenantRole}"`),
        (tx) => tx.unsafe('PREPARE pgt_leak AS SELECT 1'),
      ]
      for (const end of enders) {
        let pid: unknown
        await m1
          .withTenant('doubt', async (tx) => {
            pid = await pidOf(tx)
            await end(tx)
          })
          .catch(() => undefined)
        const next = await m1.withTenant('doubt', pidOf)
        // Behind PgBouncer a settled server session goes back to its pool (reset): only our client
        // connection ends.
        if (direct()) {
          expect(next).not.toBe(pid)
          expect(await backendGone(pid)).toBe(true)
        }
      }
      // In a transaction, as the scope's role: the backend is ended (rolled back first, since the
      // scope's role may not end the login's backend), on the server and behind PgBouncer.
      const conn = await postgresJsDriver(one).connect()
      const [row] = (await conn.begin(`SELECT pg_backend_pid() AS pid; SET LOCAL ROLE "${f.options.tenantRole}"`, '')).flatMap((r) => r.rows)
      await conn.release(true)
      expect(await backendGone(row?.['pid'])).toBe(true)
      expect((await one`select current_user::text as u`)[0]).toEqual({ u: f.owner })
    })

    it('a backend that dies under a scope fails it with SESSION_CLOSED (no crash), and the pool goes on', async () => {
      const error = await rejection(
        m1.withTenant('dead', async (tx) => {
          const [row] = await tx`select pg_backend_pid() as pid`
          await target().superExec(`SELECT pg_terminate_backend(${Number(row?.['pid'])})`)
          await sleep(200)
          await tx`select 1`
        }),
      )
      expect(codes(error)).toContain('SESSION_CLOSED')
      expect(plain(await m1.withTenant('dead', (tx) => tx`select current_user::text as r`))).toEqual([{ r: f.options.tenantRole }])
    })

    it('more units of work than connections, some closing theirs: every one finishes (none is lost waiting)', { timeout: 20_000 }, async () => {
      const two = postgresJsFor(f.ownerLogin, 2)
      try {
        const manager = fromPostgresJs(two, options())
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            manager.withTenant(`gate-${i % 3}`, async (tx) => {
              if (i % 2 === 0) await tx.unsafe(`SET ROLE "${f.options.tenantRole}"`) // closed on release
              return (await tx`select current_setting('pg_tenants.tenant') as t`)[0]?.['t'] as unknown
            }),
          ),
        )
        expect(results).toEqual(Array.from({ length: 12 }, (_, i) => `gate-${i % 3}`))
      } finally {
        await two.end({ timeout: 5 })
      }
    })
  })

  describe('what a scope leaves', () => {
    it(
      'leaves nothing on a pool of one: role, settings, temporary tables, LISTEN, advisory locks, cursors, prepared statements',
      { timeout: 30_000 },
      async () => {
        const probe = () => one`select current_user::text as login, current_setting('search_path') as path,
        coalesce(current_setting('pg_tenants.tenant', true), '') as tenant, to_regclass('pg_temp.leak') is null as no_temp,
        (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as locks,
        (select count(*)::int from pg_listening_channels()) as channels, (select count(*)::int from pg_cursors where name <> '') as cursors,
        (select count(*)::int from pg_prepared_statements where from_sql) as prepared,
        current_setting('statement_timeout') as statement_timeout, current_setting('lock_timeout') as lock_timeout`
        const [clean] = await probe()
        expect(clean).toMatchObject({ login: f.owner, tenant: '', no_temp: true, locks: 0, channels: 0, cursors: 0, prepared: 0 })
        const leftovers: ((tx: PostgresJsQueries) => PromiseLike<unknown>)[] = [
          (tx) => tx`set search_path = pg_catalog`,
          (tx) => tx`select set_config('pg_tenants.tenant', 'pool-a', false)`,
          (tx) => tx.unsafe(`SET ROLE "${f.options.tenantRole}"`),
          (tx) => tx.unsafe('CREATE TEMP TABLE leak (v text)'),
          (tx) => tx`select pg_advisory_lock(424242)`,
          (tx) => tx.unsafe('LISTEN pgt_pjs_channel'),
          (tx) => tx.unsafe('DECLARE pgt_cursor CURSOR WITH HOLD FOR SELECT 1'),
          (tx) => tx.unsafe('PREPARE pgt_stmt AS SELECT 1'),
          (tx) => tx.unsafe("SET statement_timeout = '5s'; SET lock_timeout = '5s'"),
        ]
        for (const [i, leave] of leftovers.entries()) {
          for (const ending of ['commit', 'rollback'] as const) {
            const outcome = m1.withTenant('pool-a', async (tx) => {
              await leave(tx)
              if (ending === 'rollback') throw new Error('caller failure')
            })
            if (ending === 'rollback') await expect(outcome, `${i} ${ending}`).rejects.toThrow('caller failure')
            else await outcome
            expect((await probe())[0], `${i} ${ending}`).toEqual(clean)
            const next = await m1.withTenant('pool-b', (tx) => tx`select current_user::text as r, to_regclass('pg_temp.leak') is null as no_temp`)
            expect(plain(next), `${i} ${ending}`).toEqual([{ r: f.options.tenantRole, no_temp: true }])
          }
        }
      },
    )

    it('refuses a query left after its scope (SESSION_CLOSED), and it never runs', async () => {
      let lazy: PromiseLike<unknown> | undefined
      let kept: PostgresJsQueries | undefined
      let started: Promise<unknown> | undefined // its outcome: 'ran', or the code it failed with
      await m.withTenant('late', async (tx) => {
        kept = tx
        lazy = tx`insert into ${tx(f.schema)}.items_text (tenant, title) values ('late', 'lazy')` // runs when awaited
        // Started once the callback has returned: while the scope commits, or after.
        started = sleep(1)
          .then(() => tx`insert into ${tx(f.schema)}.items_text (tenant, title) values ('late', 'started')`)
          .then(
            () => 'ran',
            (e: unknown) => codes(e),
          )
      })
      expect(codes(await rejection(lazy!))).toEqual(['SESSION_CLOSED'])
      expect(await started).toEqual(['SESSION_CLOSED'])
      expect(codes(await rejection(kept!.unsafe('select 1')))).toEqual(['SESSION_CLOSED'])
      expect(plain(await m.withTenant('late', (tx) => tx`select title from ${tx(f.schema)}.items_text`))).toEqual([])
    })

    it("a COMMIT or ROLLBACK sent inside a scope is UNSUPPORTED_OPERATION and nothing after it runs, even when postgres.js's tags hide it", async () => {
      const enders: ((tx: PostgresJsQueries) => PromiseLike<unknown>)[] = [
        (tx) => tx`commit`,
        (tx) => tx.unsafe('COMMIT'),
        (tx) => tx.unsafe('COMMIT; SET search_path = public'), // tagged SET only
        (tx) => tx.unsafe('ROLLBACK; BEGIN; SET LOCAL search_path = public'), // a transaction of its own, unscoped
        (tx) => tx.unsafe('COMMIT; CREATE TEMP TABLE t AS SELECT 1 AS x'), // tagged SELECT, with no rows
        (tx) => tx.unsafe('ROLLBACK AND CHAIN'),
      ]
      for (const [i, end] of enders.entries()) {
        let after: unknown = 'not run'
        const error = await rejection(
          m.withTenant('enders', async (tx) => {
            await Promise.resolve(end(tx)).catch(() => undefined)
            after = await tx`insert into ${tx(f.schema)}.items_text (tenant, title) values ('enders', 'planted')`.then(
              () => 'ran',
              (e: unknown) => codes(e)[0],
            )
          }),
        )
        expect(codes(error), String(i)).toContain('UNSUPPORTED_OPERATION')
        expect(after, String(i)).toBe('SESSION_CLOSED')
      }
      expect(plain(await m.withAdmin((tx) => tx`select count(*)::int as n from ${tx(f.schema)}.items_text where title = 'planted'`))).toEqual([{ n: 0 }])
      // A savepoint rolled back (tagged ROLLBACK too) is not the end of the scope.
      const role = await m.withTenant('enders', async (tx) => {
        await tx.unsafe('SAVEPOINT sp; ROLLBACK TO SAVEPOINT sp')
        return (await tx`select current_user::text as r`)[0]?.['r'] as unknown
      })
      expect(role).toBe(f.options.tenantRole)
    })
  })

  describe('the sql a scope hands out', () => {
    it('composes fragments and helpers, and runs json, arrays, values(), cursors, savepoints and unsafe() in the scope', async () => {
      const seen = await m.withTenant('frag', async (tx) => {
        const table = tx(f.schema)
        await tx`insert into ${table}.items_text ${tx([
          { tenant: 'frag', title: 'a' },
          { tenant: 'frag', title: 'b' },
        ])}`
        const where = tx`title = ${'a'}`
        const picked = await tx`select ${tx(['tenant', 'title'])} from ${table}.items_text where ${where} and ${tx`tenant = ${tx.tenant}`}`
        const typed = await tx`select ${tx.json({ k: [1, 2] })}::jsonb as j, ${tx.array([1, 2])}::int[] as a`
        const values = await tx`select title from ${table}.items_text order by title`.values()
        const batches: string[][] = []
        for await (const batch of tx`select title from ${table}.items_text order by title`.cursor(1)) batches.push(batch.map((r) => String(r['title'])))
        const undone = await tx
          .savepoint(async (sp) => {
            await sp`insert into ${table}.items_text (tenant, title) values ('frag', 'undone')`
            throw new Error('undo')
          })
          .catch((e: Error) => e.message)
        const kept = await tx.savepoint('named', (sp) => sp`insert into ${table}.items_text (tenant, title) values ('frag', 'kept') returning title`)
        const [count] = await tx.unsafe(`select count(*)::int as n from ${items()} where title = $1`, ['a'])
        const titles = await tx`select title from ${table}.items_text order by title`
        return {
          picked: plain(picked),
          typed: plain(typed),
          values: [...values],
          batches,
          undone,
          kept: plain(kept),
          count,
          titles: titles.map((r) => r['title'] as unknown),
        }
      })
      expect(seen).toEqual({
        picked: [{ tenant: 'frag', title: 'a' }],
        typed: [{ j: { k: [1, 2] }, a: [1, 2] }],
        values: [['a'], ['b']],
        batches: [['a'], ['b']],
        undone: 'undo',
        kept: [{ title: 'kept' }],
        count: { n: 1 },
        titles: ['a', 'b', 'kept'],
      })
      // notify() runs on the scope's connection (postgres.js' own would wait for a second
      // connection of a pool of one), and sessions are the same sql.
      await m1.withTenant('frag', (tx) => tx.notify('pgt_pjs_channel', 'hello'))
      const session = await m1.newTenantSession('frag')
      try {
        await session`insert into ${session(f.schema)}.items_text (tenant, title) values ('frag', 'session')`
        await session.commit()
        expect(plain(await session`select count(*)::int as n from ${session(f.schema)}.items_text`)).toEqual([{ n: 4 }])
      } finally {
        await session.close()
      }
    })

    it('refuses what needs a connection of its own or ends the transaction (UNSUPPORTED_OPERATION), and goes on', async () => {
      const refused = await m.withTenant('refuse', async (tx) => {
        const out: Record<string, unknown> = {}
        for (const member of ['begin', 'reserve', 'release', 'end', 'listen', 'subscribe', 'prepare']) {
          try {
            ;(tx as unknown as Record<string, () => unknown>)[member]!()
            out[member] = 'allowed'
          } catch (error) {
            out[member] = [(error as { code?: unknown }).code, (error as Error).message.startsWith(`tx.${member}() is not available inside a scope.`)]
          }
        }
        out['after'] = plain(await tx`select 1 as one`)
        return out
      })
      for (const member of ['begin', 'reserve', 'release', 'end', 'listen', 'subscribe', 'prepare'])
        expect(refused[member], member).toEqual(['UNSUPPORTED_OPERATION', true])
      expect(refused['after']).toEqual([{ one: 1 }])
    })

    it('takes only a postgres.js sql: a reserved connection, a transaction sql or a pg.Pool is UNSUPPORTED_CLIENT', async () => {
      expect(isPostgresJs(sql)).toBe(true)
      expect(driverFor(sql).name).toBe('postgres-js')
      const reserved = await sql.reserve()
      try {
        expect(isPostgresJs(reserved)).toBe(false)
        expect(() => fromPostgresJs(reserved as never)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CLIENT' }))
        await expect(checkDatabase(reserved)).rejects.toMatchObject({ code: 'UNSUPPORTED_CLIENT' })
      } finally {
        reserved.release()
      }
      await sql.begin(async (t) => {
        expect(() => fromPostgresJs(t as never)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CLIENT' }))
      })
      expect(() => fromPostgresJs(f.ownerLogin.client as never)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CLIENT' }))
      expect(await m.withTenant('shape', async (tx) => isPostgresJs(tx))).toBe(false)
    })

    it('works over a sql that renames columns (transform: postgres.camel): the engine still reads its own', async () => {
      const camel = postgres(f.ownerLogin.url!, { max: 2, onnotice: () => {}, transform: postgres.camel, prepare: direct() })
      try {
        const manager = fromPostgresJs(camel, options())
        await manager.createTenant('camel')
        expect((await manager.listTenants()).has('camel')).toBe(true)
        const rows = await manager.withTenant('camel', (tx) => tx`select current_user::text as current_role`, { createIfMissing: false })
        expect(plain(rows)).toEqual([{ currentRole: f.options.tenantRole }]) // the caller's rows, renamed as asked
        await manager.deleteTenant('camel')
        const report = await checkDatabase(camel, { ...f.options, schemas: [f.schema], ignore: [TEMP] })
        expect(report.findings).toEqual([])
      } finally {
        await camel.end({ timeout: 5 })
      }
    })
  })

  describe('checkDatabase over postgres.js', () => {
    it('finds nothing on the migrated schema, and finds what is broken', async () => {
      const report = await checkDatabase(sql, { ...f.options, schemas: [f.schema], ignore: [TEMP] })
      expect(report.findings).toEqual([])
      expect([...report.tables].sort()).toEqual(['bigint', 'integer', 'text', 'uuid', 'varchar'].map((t) => `${f.schema}.items_${t}`))
      expect((await m.check({ schemas: [f.schema], ignore: [TEMP] })).ok).toBe(true)
      await f.ownerLogin.exec(`ALTER TABLE ${items()} NO FORCE ROW LEVEL SECURITY`)
      try {
        const broken = await checkDatabase(sql, { ...f.options, schemas: [f.schema], ignore: [TEMP] })
        expect(broken.findings.map((x) => x.code)).toContain('FORCE_DISABLED')
      } finally {
        await f.ownerLogin.exec(`ALTER TABLE ${items()} FORCE ROW LEVEL SECURITY`)
      }
    })
  })

  describe('Drizzle on postgres.js', () => {
    it('scopes queries, relational queries, nested transactions and sessions; refuses what ends the scope', async () => {
      const todos = f.tables.text
      const db = drizzle(sql, { schema: { todos } })
      const dm = fromDrizzle(db, { ...f.options, knownTenantTtlMs: 0 })
      await dm.withTenant('d-a', (tx) => tx.insert(todos).values({ tenant: 'd-a', title: 'a1' }))
      await dm.withTenant('d-b', (tx) => tx.insert(todos).values({ tenant: 'd-b', title: 'b1' }))
      const mine = await dm.withTenant('d-a', async (tx) => {
        await tx.insert(todos).values({ tenant: 'd-a', title: 'outer' })
        await tx
          .transaction(async (inner) => {
            await inner.insert(todos).values({ tenant: 'd-a', title: 'inner' })
            inner.rollback()
          })
          .catch(() => undefined)
        await tx.transaction((inner) => inner.insert(todos).values({ tenant: 'd-a', title: 'nested' }))
        return tx.select({ title: todos.title }).from(todos).orderBy(todos.title)
      })
      expect(mine).toEqual([{ title: 'a1' }, { title: 'nested' }, { title: 'outer' }])
      const relational = await dm.withTenant('d-b', (tx) => tx.query.todos.findMany({ columns: { title: true } }))
      expect(relational).toEqual([{ title: 'b1' }])
      const planted = await rejection(dm.withTenant('d-a', (tx) => tx.insert(todos).values({ tenant: 'd-b', title: 'planted' })))
      expect(isRlsViolation(planted)).toBe(true)
      const committed = await rejection(
        dm.withTenant('d-a', async (tx) => {
          await tx.execute(dsql`commit`).catch(() => undefined)
          await tx.delete(todos).where(eq(todos.title, 'a1'))
        }),
      )
      expect(codes(committed)).toEqual(expect.arrayContaining([expect.stringMatching(/^(SESSION_CLOSED|UNSUPPORTED_OPERATION)$/)]))
      expect(codes(await rejection(dm.withTenant('d-a', (tx) => tx.setTransaction({ isolationLevel: 'serializable' }))))).toEqual(['UNSUPPORTED_OPERATION'])
      const session = await dm.newTenantSession('d-b')
      try {
        await session.insert(todos).values({ tenant: 'd-b', title: 'session' })
        await session.commit()
      } finally {
        await session.close()
      }
      const b = await dm.withTenant('d-b', (tx) => tx.select({ title: todos.title }).from(todos).orderBy(todos.title))
      expect(b).toEqual([{ title: 'b1' }, { title: 'session' }])
      const everyone = await dm.withAdmin((tx) => tx.execute(dsql`select count(*)::int as n from ${todos} where ${todos.tenant} like 'd-%'`))
      expect(plain(everyone as unknown as Row[])).toEqual([{ n: 5 }])
    })
  })
})
