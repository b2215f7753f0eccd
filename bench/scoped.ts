/**
 * `manager.scoped()`: what a scoped statement costs against the same statement bare (unscoped,
 * autocommit), per driver, in one run: round trips per statement (counted on the wire, through a
 * TCP proxy: a round trip is a burst the client sends after the server answered) and time per
 * statement (interleaved rounds, median), printed with their ratios. PGlite has no wire: time only.
 *
 * Usage: `npm run bench:scoped` (DATABASE_URL: a superuser URL, default the local test server).
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
import net from 'node:net'
import pg from 'pg'
import postgres from 'postgres'
import { buildMigration, runWithTenant, type TableSpec } from '../src/index.js'
import { fromPg } from '../src/pg/index.js'
import { fromPglite, leaveSuperuser } from '../src/pglite/index.js'
import { fromPostgresJs } from '../src/postgres-js/index.js'
import { createOwner, DATABASE_URL, loginUrl, teardown } from './lib/setup.js'

const N = Number(process.env['SCOPED_N'] ?? 400)
const ROUNDS = 5
const id = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`
const schema = `bsc_${id}`
const owner = `bsc_owner_${id}`
const options = { schema, tenantRole: `bsc_rls_${id}`, adminRole: `bsc_admin_${id}` }
const items: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
const SETUP = `CREATE TABLE ${schema}.items (id int PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`
const SELECT = `SELECT title FROM ${schema}.items WHERE id = $1`

/** A proxy to `target` that counts round trips: client bursts that follow a server answer. */
async function countingProxy(target: URL): Promise<{ url: string; trips: () => number; close: () => Promise<void> }> {
  let trips = 0
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    let answered = true
    client.on('data', (chunk) => {
      if (answered) trips++
      answered = false
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      answered = true
      client.write(chunk)
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(target.href)
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  return { url: url.href, trips: () => trips, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

interface Runner {
  readonly bare: (i: number) => Promise<unknown>
  readonly scoped: (i: number) => Promise<unknown>
}

/** Median time per statement (µs) of each variant over interleaved rounds. */
async function times(run: Runner): Promise<{ bare: number; scoped: number }> {
  const out = { bare: [] as number[], scoped: [] as number[] }
  for (let r = 0; r < ROUNDS; r++) {
    for (const key of r % 2 === 0 ? (['bare', 'scoped'] as const) : (['scoped', 'bare'] as const)) {
      const t0 = performance.now()
      for (let i = 0; i < N; i++) await run[key](i % 10)
      out[key].push(((performance.now() - t0) * 1000) / N)
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  return { bare: median(out.bare), scoped: median(out.scoped) }
}

async function trips(run: Runner, count: () => number): Promise<{ bare: number; scoped: number }> {
  await run.bare(0)
  await run.scoped(0) // warm: connections open, statements prepared
  const per = async (f: (i: number) => Promise<unknown>) => {
    const before = count()
    for (let i = 0; i < 20; i++) await f(i % 10)
    return (count() - before) / 20
  }
  return { bare: await per(run.bare), scoped: await per(run.scoped) }
}

interface Row {
  driver: string
  trips?: { bare: number; scoped: number }
  time: { bare: number; scoped: number }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  await createOwner(DATABASE_URL, owner, schema)
  const proxy = await countingProxy(new URL(loginUrl(DATABASE_URL, owner)))
  try {
    const setupPool = new pg.Pool({ connectionString: loginUrl(DATABASE_URL, owner), max: 1 })
    await setupPool.query(SETUP + buildMigration([items], options).up)
    await setupPool.end()
    {
      const pool = new pg.Pool({ connectionString: proxy.url, max: 1 })
      const manager = fromPg(pool, { ...options, tables: [items] })
      await manager.createTenant('acme')
      await manager.withTenant('acme', (tx) => tx.query(`INSERT INTO ${schema}.items SELECT g, 'acme', 't' || g FROM generate_series(0, 9) g`))
      const db = manager.scoped()
      const run: Runner = { bare: (i) => pool.query(SELECT, [i]), scoped: (i) => db.query(SELECT, [i]) }
      await runWithTenant('acme', async () => rows.push({ driver: 'node-postgres', trips: await trips(run, proxy.trips), time: await times(run) }))
      await pool.end()
    }
    {
      const sql = postgres(proxy.url, { max: 1, onnotice: () => undefined })
      const manager = fromPostgresJs(sql, { ...options, tables: [items] })
      const db = manager.scoped()
      const run: Runner = { bare: (i) => sql.unsafe(SELECT, [i]), scoped: (i) => db.unsafe(SELECT, [i]) }
      await runWithTenant('acme', async () => rows.push({ driver: 'postgres.js', trips: await trips(run, proxy.trips), time: await times(run) }))
      await sql.end({ timeout: 5 })
    }
  } finally {
    await proxy.close()
    await teardown(DATABASE_URL, { schema, owner, roles: [options.tenantRole, options.adminRole] })
  }
  {
    const lite = await PGlite.create()
    await leaveSuperuser(lite)
    await lite.exec(`CREATE SCHEMA ${schema}; ${SETUP}`)
    await lite.exec(buildMigration([items], options).up)
    const manager = fromPglite(lite, { ...options, tables: [items] })
    await manager.createTenant('acme')
    await manager.withTenant('acme', (tx) => tx.query(`INSERT INTO ${schema}.items SELECT g, 'acme', 't' || g FROM generate_series(0, 9) g`))
    const db = manager.scoped()
    const run: Runner = { bare: (i) => lite.query(SELECT, [i]), scoped: (i) => db.query(SELECT, [i]) }
    await runWithTenant('acme', async () => rows.push({ driver: 'PGlite', time: await times(run) }))
    await lite.close()
  }
  console.log(`scoped() statement vs the same statement bare (a primary-key SELECT, one connection, ${N} x ${ROUNDS} rounds, median)\n`)
  console.log('| driver | round trips bare | round trips scoped | ratio | µs bare | µs scoped | time ratio | throughput scoped/bare |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const t = r.trips
    console.log(
      `| ${r.driver} | ${t ? t.bare.toFixed(1) : 'n/a'} | ${t ? t.scoped.toFixed(1) : 'n/a'} | ${t ? (t.scoped / t.bare).toFixed(2) : 'n/a'} | ` +
        `${r.time.bare.toFixed(0)} | ${r.time.scoped.toFixed(0)} | ${(r.time.scoped / r.time.bare).toFixed(2)} | ${(r.time.bare / r.time.scoped).toFixed(2)} |`,
    )
  }
}

await main()
