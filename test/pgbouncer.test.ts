/**
 * Why pg-tenants keeps its scopes transaction-local (DESIGN.md §2, S1), shown through PgBouncer in
 * transaction pooling mode (PGBOUNCER_URL, started by .ci/pgbouncer.sh): a session-level
 * `SET ROLE` or `set_config(…, false)` made by one client is inherited by the next client that
 * gets the same server connection, while any number of pg-tenants scopes leave nothing behind.
 *
 * Both tests connect to the bouncer's `leakcheck` database, which has one server connection per
 * user (`pool_size=1`): consecutive clients certainly share it, and the tests check the backend
 * pid to prove it. The fault test connects to `faults`, whose connections it drops with the admin
 * console's KILL.
 */
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyPgDatabase, DrizzleTransaction } from '../src/drizzle/index.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { rowsOf, targets, uniqueSuffix, type Row, type Target } from './support/targets.js'

const bouncerUrl = process.env['PGBOUNCER_URL']
const directUrl = process.env['DATABASE_URL']

/** A URL for the bouncer's one-server-connection database, as `user`. */
function leakcheckUrl(user: string): string {
  const u = new URL(bouncerUrl!)
  u.username = user
  u.pathname = '/leakcheck'
  return u.toString()
}

/** A URL for the bouncer's `faults` database, whose connections the admin console drops. */
function faultsUrl(user: string): string {
  const u = new URL(bouncerUrl!)
  u.username = user
  u.pathname = '/faults'
  return u.toString()
}

/** Runs a command on the bouncer's admin console (database `pgbouncer`, `admin_users = postgres`). */
async function bouncerAdmin(command: string): Promise<void> {
  const u = new URL(bouncerUrl!)
  u.username = 'postgres'
  u.pathname = '/pgbouncer'
  const client = new pg.Client({ connectionString: u.toString() })
  await client.connect()
  try {
    await client.query(command)
  } finally {
    await client.end()
  }
}

/** Connects a fresh client, runs one statement, disconnects. */
async function freshClient(url: string, text: string): Promise<Row> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows[0] as Row
  } finally {
    await client.end()
  }
}

const PROBE = `SELECT current_user AS login, coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant, pg_backend_pid() AS pid`

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loops over tables of different types
type AnyTable = any

const suite = bouncerUrl && directUrl ? describe : describe.skip
const title =
  bouncerUrl && directUrl
    ? 'through PgBouncer in transaction pooling mode'
    : 'through PgBouncer (skipped: set PGBOUNCER_URL and DATABASE_URL; .ci/pgbouncer.sh starts one)'

suite(title, () => {
  let target: Target
  beforeAll(async () => {
    const factory = targets().find((t) => t.name === 'pgbouncer')
    if (!factory) throw new Error('no pgbouncer target although PGBOUNCER_URL is set')
    target = await factory.create()
  })
  afterAll(async () => {
    await target?.close()
  })

  it('session-level SET ROLE and set_config(…, false) leak to the next client (what S1 prevents)', async () => {
    const suffix = uniqueSuffix()
    const login = `pgt_leak_${suffix}`
    const victim = `pgt_leak_nl_${suffix}`
    await target.superExec(`CREATE ROLE "${login}" LOGIN; CREATE ROLE "${victim}" NOLOGIN; GRANT "${victim}" TO "${login}"`)
    try {
      const url = leakcheckUrl(login)
      const before = await freshClient(url, PROBE)
      expect(before).toMatchObject({ login, tenant: '' })

      // Client A: what a session-scoped design (the Python original) does, then disconnects.
      const a = new pg.Client({ connectionString: url })
      await a.connect()
      const results = (await a.query(`SET ROLE "${victim}"; SELECT set_config('pg_tenants.tenant', 'leaked', false); ${PROBE}`)) as unknown as pg.QueryResult[]
      await a.end()
      expect(results[2]?.rows[0]).toEqual({ login: victim, tenant: 'leaked', pid: before['pid'] })

      // Client B: a brand-new client connection, which the bouncer serves from the same server connection.
      const b = new pg.Client({ connectionString: url })
      await b.connect()
      try {
        const seenByB = (await b.query(PROBE)).rows[0] as Row
        expect(seenByB['pid'], 'the same server connection').toBe(before['pid'])
        expect(seenByB).toEqual({ login: victim, tenant: 'leaked', pid: before['pid'] })
        await b.query('RESET ROLE; RESET ALL')
      } finally {
        await b.end()
      }

      // Control: straight to the server, a new connection is a new session and sees nothing.
      const direct = new URL(directUrl!)
      direct.username = login
      expect(await freshClient(direct.toString(), PROBE)).toMatchObject({ login, tenant: '' })
    } finally {
      await target.superExec(`DROP ROLE "${victim}"; DROP ROLE "${login}"`)
    }
  })

  for (const strategy of ['setting', 'role'] as const) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      beforeAll(async () => {
        f = await createFixture(target, strategy, 'owner')
      })
      afterAll(async () => {
        await f?.cleanup()
      })

      it('scopes leave nothing on the shared server connection for the next client', async () => {
        const url = leakcheckUrl(f.owner)
        const pool = new pg.Pool({ connectionString: url, max: 5 })
        try {
          const m = f.manager('text', drizzle(pool))
          const table: AnyTable = f.tables.text
          const pids = new Set<unknown>()
          const pidOf = async (tx: Pick<DrizzleTransaction<AnyPgDatabase>, 'execute'>) =>
            pids.add(rowsOf(await tx.execute(sql`SELECT pg_backend_pid() AS pid`))[0]?.['pid'])

          const tenants = Array.from({ length: 5 }, (_, i) => `pgb-${i}`)
          const results = await Promise.all(
            Array.from({ length: 40 }, (_, i) => {
              const t = tenants[i % tenants.length]!
              return m.withTenant(t, async (tx) => {
                await pidOf(tx)
                await tx.insert(table).values({ tenant: t, title: `job-${i}` })
                const rows: Row[] = await tx.select().from(table)
                return rows.every((r) => r['tenant'] === t)
              })
            }),
          )
          expect(results.every(Boolean)).toBe(true)
          await expect(m.withTenant('pgb-0', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
          await expect(m.withTenant('pgb-1', (tx) => tx.execute(sql`SELECT 1/0`))).rejects.toBeDefined()
          {
            await using session = await m.newTenantSession('pgb-2')
            await pidOf(session)
            await session.select().from(table)
          }
          await m.withAdmin(async (tx) => pidOf(tx))
          expect(pids.size, 'every scope ran on the one server connection').toBe(1)

          // Another client, fresh connection, plain query outside any scope.
          const after = await freshClient(url, PROBE)
          expect(after).toEqual({ login: f.owner, tenant: '', pid: [...pids][0] })
          // And the shared connection still fails closed outside a scope.
          const [count] = (await pool.query(`SELECT count(*)::int AS n FROM "${f.schema}".items_text`)).rows as Row[]
          expect(count).toEqual({ n: 0 })
        } finally {
          await pool.end()
        }
      })

      it('a connection dropped by the pooler mid-scope: withTenant rejects clearly, nothing is written, the pool recovers', async () => {
        const pool = new pg.Pool({ connectionString: faultsUrl(f.owner), max: 1 })
        let destroyed = 0
        pool.on('release', (error) => {
          if (error) destroyed++
        })
        pool.on('error', () => undefined) // an idle client of the dropped connection
        const table: AnyTable = f.tables.text
        const title = `dropped-${strategy}`
        try {
          const m = f.manager('text', drizzle(pool))
          const error = await m
            .withTenant('drop-a', async (tx) => {
              await tx.insert(table).values({ tenant: 'drop-a', title })
              try {
                // Drops every client and server connection of the `faults` database, ours included.
                await bouncerAdmin('KILL faults')
              } finally {
                await bouncerAdmin('RESUME faults')
              }
              await tx.execute(sql`SELECT 1`)
            })
            .then(
              () => expect.unreachable('the scope should fail'),
              (e: unknown) => e,
            )
          expect(`${(error as Error).message} ${String((error as { cause?: Error }).cause?.message)}`).toMatch(/terminat|not queryable|connection/i)
          expect(destroyed, 'the dropped client is destroyed, not pooled').toBe(1)
          // Nothing half-written: the insert went with the server transaction.
          const seen = await f
            .manager()
            .withAdmin(
              async (tx) => ((await tx.execute(sql`SELECT count(*)::int AS n FROM ${table} WHERE title = ${title}`)) as { rows: Row[] }).rows[0]?.['n'],
            )
          expect(seen).toBe(0)
          // The pool recovers, and the next scope and the login outside it are clean.
          const rows: Row[] = await m.withTenant('drop-a', async (tx) => {
            await tx.insert(table).values({ tenant: 'drop-a', title: `${title}-after` })
            return tx.select().from(table)
          })
          expect(rows.map((r) => r['tenant'])).toEqual(['drop-a'])
          const outside = (await pool.query(PROBE)).rows[0] as Row
          expect(outside).toMatchObject({ login: f.owner, tenant: '' })
        } finally {
          await pool.end()
        }
      })
    })
  }
})
