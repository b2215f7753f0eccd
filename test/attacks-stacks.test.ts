/**
 * Attacks on the SQL-level adapters and the new stacks (pg-tenants/pg, pg-tenants/pglite,
 * pg-tenants/postgres-js, Drizzle on postgres.js, pg-tenants/kysely on pg, postgres.js and PGlite
 * with its PGliteDialect), from inside a scope: SQL that ends the scope's transaction, state left
 * on a pooled connection, queries that run late or on another client, concurrency.
 *
 * Every test runs as a non-superuser owner login (FORCE ROW LEVEL SECURITY binds it), on PGlite,
 * the server (DATABASE_URL) and PgBouncer in transaction mode (PGBOUNCER_URL). A passing `it`
 * names the defence it shows (it goes red without it). The tests marked "fixed" were attacks that
 * succeeded when this file was written (a late `tx.file()` reading the next tenant's rows; a COMMIT
 * or PREPARE hidden in postgres.js' merged results): each went red with its fix undone. An `it.fails`
 * is an attack that still succeeds (a known defect, in docs/known-limits.md).
 */
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql as dsql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import { CamelCasePlugin, sql as ksql, type Transaction } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import type { TenantOptions } from '../src/core/options.js'
import { TenantNotFound } from '../src/core/errors.js'
import { fromDrizzle, withRls } from '../src/drizzle/index.js'
import { fromPglite, type PgliteQueries } from '../src/pglite/index.js'
import { fromPostgresJs, type PostgresJsQueries } from '../src/postgres-js/index.js'
import { cleanupSql } from './support/fixture.js'
import { STACKS, type Stack, type StackManager } from './support/stacks/index.js'
import { postgresJsFor } from './support/stacks/postgres-js.js'
import { describeTargets, uniqueSuffix, type Login, type Row, type Target } from './support/targets.js'
import { codeOf, codes, rejection, sleep } from './support/errors.js'

const stack = (name: string): Stack => {
  const found = STACKS.find((s) => s.name === name)
  if (!found) throw new Error(`no stack ${name}`)
  return found
}

interface World {
  readonly target: Target
  readonly schema: string
  readonly owner: string
  readonly options: TenantOptions
  readonly spec: TableSpec
  readonly login: Login
  readonly items: string
  cleanup(): Promise<void>
}

async function createWorld(target: Target): Promise<World> {
  const suffix = uniqueSuffix()
  const schema = `pga_${suffix}`
  const owner = `pga_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy: 'setting',
    rolePrefix: `pga_t${suffix}_`,
    tenantRole: `pga_rls_${suffix}`,
    adminRole: `pga_admin_${suffix}`,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const login = await target.login(owner)
  const spec: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
  await login.exec(`CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`)
  await login.exec(buildMigration([spec], options).up)
  return {
    target,
    schema,
    owner,
    options,
    spec,
    login,
    items: `"${schema}".items`,
    cleanup: () => target.superExec(cleanupSql(schema, options, owner)).then(() => undefined),
  }
}

/**
 * A login with ONE server session that every unit of work on it certainly shares: a pool of one
 * on the server; through PgBouncer, its `leakcheck` database (pool_size=1 per user, see
 * .ci/pgbouncer.sh), so that what one client leaves on the server session the next one gets.
 */
async function pinnedLogin(w: World): Promise<Login> {
  if (w.target.name === 'node-postgres') return w.target.login(w.owner, { max: 1 })
  const u = new URL(w.login.url!)
  u.pathname = '/leakcheck'
  const url = u.toString()
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  const rows = (r: unknown) => (Array.isArray(r) ? r : [r]).flatMap((x: pg.QueryResult) => x.rows as Row[])
  return {
    db: drizzleNodePg(pool),
    client: pool,
    url,
    exec: async (text) => rows(await pool.query(text)),
    acquires: () => 0,
    activate: async () => undefined,
    end: () => pool.end(),
  }
}

/** The multi-statement message that hides its middle statement from postgres.js' command tags:
 * one result (started by the first SELECT's RowDescription), with that SELECT's columns and the
 * tag of the last statement, `SELECT 1` of a CREATE TABLE AS, which returns no rows. */
const hiding = (middle: string, n: string) => `SELECT 1 AS x; ${middle}; CREATE TEMP TABLE pga_hide_${n} AS SELECT 1 AS y`

describeTargets((target) => {
  let w: World
  const onServer = () => target().name !== 'pglite'
  const lite = () => target().name === 'pglite'

  beforeAll(async () => {
    w = await createWorld(target())
  })
  afterAll(async () => {
    await w?.cleanup()
  })

  /** Opens a stack (one of test/support/stacks) over `login`, runs `body`, closes it. */
  async function withStack<T>(name: string, login: Login, body: (s: StackManager) => Promise<T>, max?: number): Promise<T> {
    const s = await stack(name).open(login, w.options, [w.spec], { knownTenantTtlMs: 0, ...(max ? { max } : {}) })
    try {
      return await body(s)
    } finally {
      await s.end()
    }
  }
  const adminCount = (s: StackManager, title: string) =>
    s.manager.withAdmin(async (tx) => (await s.query(tx, `SELECT count(*)::int AS n FROM ${w.items} WHERE title = $1`, [title]))[0]?.['n'])

  describe('postgres.js: a statement hidden in a merged result', () => {
    beforeEach(({ skip }) => {
      if (!onServer()) skip()
    })

    for (const name of ['postgres-js', 'drizzle-postgres-js']) {
      // DEFECT. postgres.js answers `SELECT 1 AS x; COMMIT; CREATE TEMP TABLE t AS SELECT 1` with ONE
      // result: the SELECT's columns, the tag `SELECT 1` of the CREATE TABLE AS. The guard's probe
      // (src/postgres-js/scoped-sql.ts, `exact`) takes a result tagged SELECT with columns as one
      // statement, so it neither sees the COMMIT nor asks the server: the scope goes on OUTSIDE any
      // transaction, as the login, and what it wrote before the COMMIT stays although the callback
      // throws.
      it(`${name}: a COMMIT hidden behind a SELECT-tagged CREATE TABLE AS is seen: nothing after it runs (the guard asks the server after a simple query)`, async () => {
        await withStack(name, w.login, async (s) => {
          let after: unknown = 'not run'
          const error = await rejection(
            s.manager.withTenant('hide-a', async (tx) => {
              await s.query(tx, `INSERT INTO ${w.items} (tenant, title) VALUES ('hide-a', 'hc-${name}')`)
              await s.query(tx, hiding('COMMIT', 'c')).catch(() => undefined)
              after = await s.query(tx, 'SELECT current_user::text AS r, now() = statement_timestamp() AS outside_tx').catch((e: unknown) => codeOf(e))
              throw new Error('roll back, please')
            }),
          )
          void error // the callback's own error (it threw after the refusal)
          expect(after).toBe('SESSION_CLOSED') // before the fix: [{ r: <the owner login>, outside_tx: true }]
          expect(await adminCount(s, `hc-${name}`)).toBe(1) // committed by the caller's own COMMIT, as on every stack; nothing after it ran
        })
      })

      // DEFECT. Same hiding, for a SQL PREPARE: its tag is hidden, the guard never asks
      // pg_prepared_statements, the connection is not tainted, and the closing message has no
      // DEALLOCATE: the statement stays on the pooled server session (behind PgBouncer, the next
      // client's). (The same as the documented PREPARE-in-a-function limit, reached without one.)
      it(`${name}: a PREPARE hidden in a merged result outlives the scope on the pooled session (fixed)`, async () => {
        const one = await pinnedLogin(w)
        const stmt = `pga_hidden_${uniqueSuffix()}`
        try {
          await withStack(
            name,
            one,
            async (s) => {
              await s.manager.withTenant('hide-p', (tx) => s.query(tx, hiding(`PREPARE ${stmt} AS SELECT 1`, 'p')))
              const [row] = await s.outside(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = '${stmt}'`)
              expect(row?.['n']).toBe(0) // today: 1
            },
            1,
          )
        } finally {
          await one.end()
        }
      })
    }

    // DEFECT. A COPY answer resolves a postgres.js query with a stream, which has no tags: the
    // guard takes it as scoped, whatever came before it in the message (a COMMIT).
    it('postgres-js: a COMMIT followed by COPY … TO STDOUT (.readable()) is seen: nothing after it runs (the guard asks the server after a simple query)', async () => {
      const sql = postgresJsFor(w.login, 2)
      try {
        const m = fromPostgresJs(sql, { ...w.options, tables: [{ name: 'items', type: 'text' }], knownTenantTtlMs: 0 })
        let after: unknown = 'not run'
        await rejection(
          m.withTenant('hide-copy', async (tx) => {
            await tx`insert into ${tx(w.schema)}.items (tenant, title) values ('hide-copy', 'hc-copy')`
            const stream = (await tx.unsafe('COMMIT; COPY (SELECT 1) TO STDOUT').readable()) as AsyncIterable<unknown>
            for await (const chunk of stream) void chunk
            after = await tx`select current_user::text as r, now() = statement_timestamp() as outside_tx`.then(
              (rows) => [...rows],
              (e: unknown) => codeOf(e),
            )
            throw new Error('roll back, please')
          }),
        )
        expect(['SESSION_CLOSED', 'not run']).toContain(after) // the COPY call itself is refused now; before the fix: [{ r: <owner>, outside_tx: true }]
        expect(
          await m.withAdmin(async (tx) => (await tx<{ n: number }[]>`select count(*)::int as n from ${tx(w.schema)}.items where title = 'hc-copy'`)[0]?.n),
        ).toBe(1) // committed by the caller's own COMMIT; nothing after it ran
      } finally {
        await sql.end({ timeout: 5 })
      }
    })

    // DEFENDED by the guard's tags: a COMMIT that does share a result with rows keeps its own tag
    // in that result (the tag of a result is its LAST statement's), and `.simple()`, `.values()`,
    // `.raw()`, `.forEach()` and `.execute()` all go through the same guarded handler.
    it('postgres-js: the COMMITs the tags do show are refused, whatever the query form (guard: tags, the simple-query flag, one handler)', async () => {
      const sql = postgresJsFor(w.login, 2)
      try {
        const m = fromPostgresJs(sql, { ...w.options, tables: [{ name: 'items', type: 'text' }], knownTenantTtlMs: 0 })
        const enders: [string, (tx: PostgresJsQueries) => PromiseLike<unknown>][] = [
          ['COMMIT last of a rows result', (tx) => tx.unsafe('SELECT 1 AS x; COMMIT; SELECT 2 AS y')],
          ['template .simple()', (tx) => tx`commit; set search_path = public`.simple()],
          ['.values()', (tx) => tx.unsafe('COMMIT').values()],
          ['.raw()', (tx) => tx.unsafe('COMMIT').raw()],
          ['.forEach()', (tx) => tx.unsafe('SELECT 1 AS x; COMMIT; SET search_path = public').forEach(() => undefined)],
          ['.execute()', (tx) => tx.unsafe('COMMIT').execute()],
          ['savepoint callback', (tx) => tx.savepoint((sp) => sp`commit`)],
          ['ROLLBACK hidden, BEGIN again', (tx) => tx.unsafe('ROLLBACK; BEGIN; SET LOCAL search_path = public')],
        ]
        for (const [label, end] of enders) {
          let after: unknown = 'not run'
          const error = await rejection(
            m.withTenant('enders', async (tx) => {
              await Promise.resolve(end(tx)).catch(() => undefined)
              after = await tx`insert into ${tx(w.schema)}.items (tenant, title) values ('enders', 'planted')`.then(
                () => 'ran',
                (e: unknown) => codeOf(e),
              )
            }),
          )
          expect(codes(error), label).toContain('UNSUPPORTED_OPERATION')
          expect(after, label).toBe('SESSION_CLOSED')
        }
        expect(
          await m.withAdmin(async (tx) => (await tx<{ n: number }[]>`select count(*)::int as n from ${tx(w.schema)}.items where title = 'planted'`)[0]?.n),
        ).toBe(0)
      } finally {
        await sql.end({ timeout: 5 })
      }
    })

    // DEFENDED by SESSION_RESET, which does not depend on tags: one merged message (its only
    // result SELECT-tagged with columns, so the guard trusts it and asks nothing) leaves LISTEN, a
    // session SET and tenant setting, a session advisory lock, a WITH HOLD cursor and a temp table
    // (and, in the second variant, a session SET ROLE to the admin role: then the role check
    // closes the connection): nothing of it reaches the next unit of work on the same server
    // session, PgBouncer included.
    for (const setRole of [false, true]) {
      it(`postgres-js: session state hidden in a merged result${setRole ? ', with a SET ROLE,' : ''} does not reach the next unit of work (SESSION_RESET${setRole ? ', the role check' : ''})`, async () => {
        const one = await pinnedLogin(w)
        try {
          await withStack(
            'postgres-js',
            one,
            async (s) => {
              const pid = w.target.name === 'node-postgres' ? ', pg_backend_pid() AS pid' : ''
              const probe = `SELECT current_user::text AS r, current_setting('search_path') AS path,
                (SELECT count(*)::int FROM pg_listening_channels()) AS listening, (SELECT count(*)::int FROM pg_cursors) AS cursors,
                (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
                to_regclass('pg_temp.pga_hide_s') IS NULL AS no_temp, coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant${pid}`
              const [clean] = await s.outside(probe)
              const left = await s.manager
                .withTenant('leave', (tx) =>
                  s.query(
                    tx,
                    hiding(
                      `LISTEN pga_chan; SET search_path = pg_catalog; DO $$ BEGIN PERFORM pg_advisory_lock(4711); END $$; ` +
                        `DECLARE pga_c CURSOR WITH HOLD FOR SELECT 1; SET pg_tenants.tenant = 'leave'${setRole ? `; SET ROLE "${w.options.adminRole}"` : ''}`,
                      's',
                    ),
                  ),
                )
                .catch((e: unknown) => codes(e).filter((c) => c === 'UNSUPPORTED_OPERATION'))
              expect(left).toEqual(setRole ? ['UNSUPPORTED_OPERATION'] : [{ x: 1 }]) // with the SET ROLE the guard, asking the server, sees another role
              const [after] = await s.outside(probe)
              if (setRole) {
                expect({ ...after, pid: undefined }).toEqual({ ...clean, pid: undefined })
                if (pid) expect(after?.['pid']).not.toBe(clean?.['pid']) // closed, not pooled
              } else expect(after).toEqual(clean) // the same server session, reset
              expect(await s.manager.withTenant('next', (tx) => s.query(tx, `SELECT current_user::text AS r, count(*)::int AS n FROM ${w.items}`))).toEqual([
                { r: w.options.tenantRole, n: 0 },
              ])
            },
            1,
          )
        } finally {
          await one.end()
        }
      })
    }
  })

  describe('PREPARE in a call that fails', () => {
    // KNOWN DEFECT, not fixed (docs/known-limits.md): tainting every connection on which a
    // parameterless call failed destroyed healthy connections on every failed statement (a
    // SELECT 1/0 through Drizzle), so the fix waits for a cheaper check in the closing message.
    // `PREPARE p AS …; SELECT 1/0` in one simple-query message: the PREPARE succeeds (a
    // prepared statement is not transactional, it survives the ROLLBACK), the call fails, and the
    // guard reads tags only from successful calls (src/core/guard.ts, `run`): no taint, and the
    // probe after a failure asks only current_user (postgres.js' pg_prepared_statements probe then
    // fails with 25P02 in the aborted transaction). The connection goes back to the pool, idle
    // and reset, with the statement: the next unit of work (behind PgBouncer, the next client) has it.
    for (const name of ['pg', 'drizzle', 'kysely-pg', 'postgres-js', 'drizzle-postgres-js']) {
      it.fails(`${name}: a PREPARE before a failing statement of the same call outlives the scope (KNOWN DEFECT)`, async ({ skip }) => {
        if (!onServer()) skip()
        const one = await pinnedLogin(w)
        const stmt = `pga_failed_${uniqueSuffix()}`
        try {
          await withStack(
            name,
            one,
            async (s) => {
              const error = await rejection(s.manager.withTenant('fail-p', (tx) => s.query(tx, `PREPARE ${stmt} AS SELECT 1; SELECT 1/0`)))
              expect(codes(error)).toContain('22012')
              const [row] = await s.outside(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = '${stmt}'`)
              expect(row?.['n']).toBe(0) // today: 1
            },
            1,
          )
        } finally {
          await one.end()
        }
      })
    }

    // DEFENDED on PGlite by the embedded reset (sessionResetTo: DEALLOCATE ALL), on the rollback path.
    for (const via of ['pglite', 'kysely-pglite'] as const) {
      it(`${via}: a PREPARE (failed call, or hidden) never outlives the scope (PGlite's reset deallocates all)`, async ({ skip }) => {
        if (!lite()) skip()
        const stmt = `pga_lite_${uniqueSuffix()}`
        const text = `PREPARE ${stmt} AS SELECT 1; SELECT 1/0`
        if (via === 'pglite') {
          const m = fromPglite(w.login.client as never, { ...w.options, tables: [{ name: 'items', type: 'text' }] })
          expect(codes(await rejection(m.withTenant('lite-p', (tx: PgliteQueries) => tx.exec(text))))).toContain('22012')
          await m.withTenant('lite-p', (tx: PgliteQueries) => tx.exec(`PREPARE ${stmt}_ok AS SELECT 1`))
        } else {
          await withStack('kysely-pglite', w.login, async (s) => {
            expect(codes(await rejection(s.manager.withTenant('lite-p', (tx) => s.query(tx, text))))).toContain('22012')
            await s.manager.withTenant('lite-p', (tx) => s.query(tx, `PREPARE ${stmt}_ok AS SELECT 1`))
          })
        }
        expect(await w.login.exec(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE '${stmt}%'`)).toEqual([{ n: 0 }])
      })
    }
  })

  describe('the merged-result trick on the other stacks', () => {
    // DEFENDED by exact tags: node-postgres and PGlite give one result per statement (and
    // node-postgres the transaction status), so the COMMIT that postgres.js hides is seen there.
    for (const name of ['pg', 'drizzle', 'kysely-pg', 'kysely-pglite', 'pglite-exec', 'kysely-postgres-js']) {
      it(`${name}: SELECT …; COMMIT; CREATE TEMP TABLE … AS SELECT ends the scope with UNSUPPORTED_OPERATION, nothing after it runs`, async ({ skip }) => {
        const onLite = name === 'kysely-pglite' || name === 'pglite-exec'
        if (onLite !== lite()) skip()
        const run = async (m: { withTenant: StackManager['manager']['withTenant'] }, query: (tx: unknown, text: string) => Promise<unknown>) => {
          let after: unknown = 'not run'
          let ended: unknown = 'not run'
          const error = await rejection(
            m.withTenant('merge', async (tx) => {
              ended = await query(tx, hiding('COMMIT', 'm')).then(
                () => 'sent',
                (e: unknown) => codeOf(e),
              )
              after = await query(tx, 'SELECT current_user::text AS r').then(
                () => 'ran',
                (e: unknown) => codeOf(e),
              )
              return ended
            }),
          )
          return { error: codes(error), after, ended }
        }
        const outcome =
          name === 'pglite-exec'
            ? await run(fromPglite(w.login.client as never, { ...w.options, tables: [{ name: 'items', type: 'text' }] }), (tx, t) =>
                (tx as PgliteQueries).exec(t),
              )
            : await withStack(name, w.login, (s) => run(s.manager, (tx, t) => s.query(tx, t)))
        if (name === 'kysely-postgres-js') {
          // One statement per call (extended protocol): the server refuses the message (42601), which
          // aborts the scope's own transaction; nothing runs after it, nothing is committed.
          expect(outcome).toEqual({ ended: '42601', after: '25P02', error: ['TRANSACTION_ABORTED'] })
          return
        }
        expect(outcome.error).toContain('UNSUPPORTED_OPERATION')
        expect(outcome.after).toBe('SESSION_CLOSED')
      })
    }
  })

  describe('late queries: built or started in a scope, run after it', () => {
    beforeEach(({ skip }) => {
      if (!onServer()) skip()
    })

    // DEFENDED (was a cross-tenant defect): `tx.file(path)` passed the guard when it started, then
    // postgres.js read the file and sent its SQL whenever the read ended: after the scope, or (a
    // slow file: a FIFO) inside the NEXT tenant's scope on the connection, reading its rows. It is
    // refused inside a scope now.
    it('postgres-js: tx.file() is refused inside a scope, before anything is read or sent (guard: file refused)', async () => {
      const sql = postgresJsFor(w.login, 1)
      const path = join(tmpdir(), `pga_${uniqueSuffix()}.sql`)
      writeFileSync(path, `INSERT INTO ${w.items} (tenant, title) VALUES ('late-file', 'from-file')`)
      try {
        const m = fromPostgresJs(sql, { ...w.options, tables: [{ name: 'items', type: 'text' }] })
        let refused: unknown
        await m.withTenant('late-file', async (tx) => {
          try {
            void tx.file(path)
          } catch (error) {
            refused = codeOf(error)
          }
        })
        expect(refused).toBe('UNSUPPORTED_OPERATION')
        expect(await m.withAdmin((tx) => tx`select count(*)::int as n from ${tx(w.schema)}.items where title = 'from-file'`)).toEqual([{ n: 0 }])
      } finally {
        rmSync(path, { force: true })
        await sql.end({ timeout: 5 })
      }
    })

    // DEFENDED by the guard's handler: a postgres.js query is lazy, and every way of starting one
    // (await, .execute(), .cursor(), .forEach(), .describe(), .values(), .raw(), .simple(),
    // .readable()) calls its handler, which the guard replaced: after the scope it is refused
    // before anything is sent; so are savepoint(), notify() and a file query first started after.
    it('postgres-js: a query built in a scope and started after it, in any form, is SESSION_CLOSED and never runs (guard: assertUsable in the handler)', async () => {
      const sql = postgresJsFor(w.login, 2)
      const path = join(tmpdir(), `pga_${uniqueSuffix()}.sql`)
      writeFileSync(path, `INSERT INTO ${w.items} (tenant, title) VALUES ('late', 'late-file')`)
      try {
        const m = fromPostgresJs(sql, { ...w.options, tables: [{ name: 'items', type: 'text' }] })
        const insert = (tx: PostgresJsQueries, how: string) => tx`insert into ${tx(w.schema)}.items (tenant, title) values ('late', ${how})`
        let kept!: PostgresJsQueries
        const built: Record<string, unknown> = {}
        await m.withTenant('late', async (tx) => {
          kept = tx
          for (const how of ['await', 'execute', 'cursor', 'forEach', 'describe', 'values', 'raw', 'simple', 'readable']) built[how] = insert(tx, how)
        })
        const started: Record<string, Promise<unknown>> = {
          await: Promise.resolve(built['await'] as PromiseLike<unknown>),
          execute: Promise.resolve((built['execute'] as { execute(): PromiseLike<unknown> }).execute()),
          cursor: (async () => {
            for await (const batch of (built['cursor'] as { cursor(n: number): AsyncIterable<unknown> }).cursor(1)) void batch
          })(),
          forEach: Promise.resolve((built['forEach'] as { forEach(fn: () => void): PromiseLike<unknown> }).forEach(() => undefined)),
          describe: Promise.resolve((built['describe'] as { describe(): PromiseLike<unknown> }).describe()),
          values: Promise.resolve((built['values'] as { values(): PromiseLike<unknown> }).values()),
          raw: Promise.resolve((built['raw'] as { raw(): PromiseLike<unknown> }).raw()),
          simple: Promise.resolve((built['simple'] as { simple(): PromiseLike<unknown> }).simple()),
          readable: (built['readable'] as { readable(): Promise<unknown> }).readable(),
          savepoint: kept.savepoint((sp) => insert(sp, 'savepoint')),
          notify: Promise.resolve(kept.notify('pga_late', 'x')),
          unsafe: Promise.resolve(kept.unsafe(`INSERT INTO ${w.items} (tenant, title) VALUES ('late', 'unsafe')`)),
        }
        for (const [how, promise] of Object.entries(started)) expect(codeOf(await rejection(promise)), how).toBe('SESSION_CLOSED')
        expect(
          await m.withAdmin(async (tx) => (await tx<{ n: number }[]>`select count(*)::int as n from ${tx(w.schema)}.items where tenant = 'late'`)[0]?.n),
        ).toBe(0)
      } finally {
        rmSync(path, { force: true })
        await sql.end({ timeout: 5 })
      }
    })

    // DEFENDED by ScopedTransaction (savepoints) and the guard under Drizzle's postgres.js session:
    // a COMMIT in a nested transaction ends the scope; a relational query built in a scope and run
    // after it is refused.
    it('drizzle on postgres.js: tx.transaction() is a savepoint whose COMMIT ends the scope; a relational query run late is refused', async () => {
      const sql = postgresJsFor(w.login, 2)
      try {
        const items = withRls(
          pgSchema(w.schema).table('items', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }),
          {
            strategy: 'setting',
            tenantRole: w.options.tenantRole,
          },
        )
        const db = drizzlePostgresJs(sql, { schema: { items } })
        const m = fromDrizzle(db, { ...w.options, tables: [items] })
        let after: unknown = 'not run'
        const error = await rejection(
          m.withTenant('dz', async (tx) => {
            await tx.transaction((sp) => sp.execute(dsql`commit`)).catch(() => undefined)
            after = await tx
              .insert(items)
              .values({ tenant: 'dz', title: 'dz-after' })
              .then(
                () => 'ran',
                (e: unknown) => codeOf(e),
              )
          }),
        )
        expect(codes(error)).toContain('UNSUPPORTED_OPERATION')
        expect(after).toBe('SESSION_CLOSED')
        let lateQuery: PromiseLike<unknown> | undefined
        await m.withTenant('dz', async (tx) => {
          lateQuery = tx.query.items.findMany()
        })
        expect(codeOf(await rejection(lateQuery!))).toBe('SESSION_CLOSED')
        expect(await m.withAdmin(async (tx) => (await tx.select().from(items)).filter((r) => r.title === 'dz-after'))).toEqual([])
      } finally {
        await sql.end({ timeout: 5 })
      }
    })
  })

  describe('Kysely', () => {
    // DEFENDED by scopeTransaction: every Transaction derived from the scope's (withPlugin,
    // withSchema, introspection) and a stream left half-read run through the scope's connection,
    // so after the scope they are refused; startTransaction() meets the refusing driver.
    for (const name of ['kysely-pg', 'kysely-postgres-js', 'kysely-pglite']) {
      it(`${name}: derived transactions, introspection and a half-read stream are refused after the scope; startTransaction() inside it`, async ({ skip }) => {
        if ((name === 'kysely-pglite') !== lite()) skip()
        const ky = `ky-${name}`
        await withStack(name, w.login, async (s) => {
          await s.manager.withTenant(ky, (tx) => s.query(tx, `INSERT INTO ${w.items} (tenant, title) VALUES ($1, 'a'), ($1, 'b'), ($1, 'c')`, [ky]))
          let kept!: Transaction<Record<string, { tenant: string; title: string }>>
          let stream!: AsyncIterator<unknown>
          let first: unknown
          const refused = await s.manager.withTenant(ky, async (trx) => {
            kept = trx as never
            // (Before the stream: a half-read stream holds the transaction's one connection, in Kysely.)
            const code = codeOf(await rejection(kept.startTransaction().execute()))
            stream = kept.withSchema(w.schema).selectFrom('items').select('title').orderBy('title').stream(1)[Symbol.asyncIterator]()
            first = (await stream.next()).value
            return code
          })
          expect(refused).toBe('UNSUPPORTED_OPERATION')
          expect(first).toEqual({ title: 'a' })
          // The stream first: until it ends, Kysely keeps its connection for it.
          const late: Record<string, () => PromiseLike<unknown>> = {
            stream: () => stream.next(),
            withPlugin: () => kept.withPlugin(new CamelCasePlugin()).withSchema(w.schema).selectFrom('items').selectAll().execute(),
            withSchema: () => kept.withSchema(w.schema).insertInto('items').values({ tenant: ky, title: 'late' }).execute(),
            introspection: () => kept.introspection.getTables(),
            raw: () => ksql`insert into ${ksql.table(`${w.schema}.items`)} (tenant, title) values (${ky}, 'late')`.execute(kept),
          }
          for (const [how, start] of Object.entries(late)) expect(codeOf(await rejection(start())), how).toBe('SESSION_CLOSED')
          expect(await s.manager.withTenant(ky, (tx) => s.query(tx, `SELECT title FROM ${w.items} ORDER BY title`))).toEqual([
            { title: 'a' },
            { title: 'b' },
            { title: 'c' },
          ])
        })
      })
    }

    // DEFENDED by PGlite's lock and PGliteDialect's connection, which queries the instance (never a
    // scope's transaction) outside its own transactions: a db query fired during a scope from a
    // timer set outside it (so not refused as NESTED_SCOPE) waits for the scope and runs after it,
    // as the login, seeing no tenant's rows; nor does it see the scope's uncommitted row.
    it('PGliteDialect: a db query fired while a scope holds PGlite waits for it and runs outside it (PGlite lock)', async ({ skip }) => {
      if (!lite()) skip()
      await withStack('kysely-pglite', w.login, async (s) => {
        const order: string[] = []
        const outside = sleep(20).then(async () => {
          const rows = await s.outside(`SELECT current_user::text AS r, (SELECT count(*)::int FROM ${w.items}) AS n`)
          order.push('db')
          return rows
        })
        await s.manager.withTenant('dialect', async (tx) => {
          await s.query(tx, `INSERT INTO ${w.items} (tenant, title) VALUES ('dialect', 'uncommitted-yet')`)
          await sleep(100)
          order.push('scope')
        })
        expect(await outside).toEqual([{ r: w.owner, n: 0 }])
        expect(order).toEqual(['scope', 'db'])
      })
    })
  })

  describe('concurrency and caches', () => {
    beforeEach(({ skip }) => {
      if (!onServer()) skip()
    })

    // DEFENDED by the per-sql Gate (src/drivers/postgres-js.ts, a WeakMap over every driver made on
    // one sql): two managers on one postgres.js sql of ONE connection, 24 concurrent scopes, every
    // third closing its connection in doubt (its caller's COMMIT): none hangs, each sees its own tenant.
    it(
      'postgres-js: two managers on one sql of one connection, concurrent scopes, some closing theirs: all finish, each its own tenant (Gate)',
      { timeout: 30_000 },
      async () => {
        const sql = postgresJsFor(w.login, 1)
        try {
          const opts = { ...w.options, tables: [{ name: 'items', type: 'text' as const }] }
          const managers = [fromPostgresJs(sql, opts), fromPostgresJs(sql, { ...opts, knownTenantTtlMs: 0 })]
          const results = await Promise.all(
            Array.from({ length: 24 }, (_, i) => {
              const id = `gate-${i % 4}`
              return managers[i % 2]!.withTenant(id, async (tx) => {
                await tx`insert into ${tx(w.schema)}.items (tenant, title) values (${id}, ${`g${i}`})`
                const seen = [...(await tx`select distinct tenant from ${tx(w.schema)}.items`)]
                if (i % 3 === 0) await tx`commit`.catch(() => undefined)
                return seen
              }).then(
                (seen) => seen,
                (e: unknown) => codeOf(e),
              )
            }),
          )
          results.forEach((r, i) => expect(r, String(i)).toEqual(i % 3 === 0 ? 'UNSUPPORTED_OPERATION' : [{ tenant: `gate-${i % 4}` }]))
        } finally {
          await sql.end({ timeout: 5 })
        }
      },
    )

    // DEFENDED by the engine's deletion counters (#deletions, #deleting) and the checked prelude: a
    // tenant deleted while scopes open never leaves a scope unscoped or the tenant cached.
    it(
      'postgres-js: a tenant deleted while scopes open: each scope is TenantNotFound or scoped; afterwards it is not cached',
      { timeout: 30_000 },
      async () => {
        const sql = postgresJsFor(w.login, 3)
        try {
          const m = fromPostgresJs(sql, { ...w.options, tables: [{ name: 'items', type: 'text' }] })
          for (let round = 0; round < 5; round++) {
            await m.createTenant('racy').catch(() => undefined)
            await m.withTenant('racy', async () => undefined) // cached as existing
            const scopes = Array.from({ length: 6 }, () =>
              m
                .withTenant('racy', async (tx) => [...(await tx`select current_user::text as r, current_setting('pg_tenants.tenant', true) as t`)], {
                  createIfMissing: false,
                })
                .catch((e: unknown) => e),
            )
            await m.deleteTenant('racy')
            for (const outcome of await Promise.all(scopes)) {
              if (outcome instanceof TenantNotFound) continue
              expect(outcome).toEqual([{ r: w.options.tenantRole, t: 'racy' }])
            }
            // Not cached as existing: the next scope that may create it takes the checked path and registers it again.
            await m.withTenant('racy', async () => undefined)
            expect((await m.listTenants()).has('racy'), String(round)).toBe(true)
          }
        } finally {
          await sql.end({ timeout: 5 })
        }
      },
    )
  })
})
