/**
 * Concurrency fuzz of tenant isolation on a real server (directly or through PgBouncer).
 *
 * Many concurrent clients share one node-postgres pool that is deliberately smaller than the
 * number of clients, so that connections are handed from tenant to tenant all the time. Each
 * client runs a seeded random mix of units of work against random tenants and checks every
 * answer against what row-level security promises:
 *
 * - select all: every returned row belongs to the scope's tenant;
 * - insert (unique marker) then read back in the same transaction: exactly that row, own tenant;
 * - insert then roll back: the row must never be seen again (checked by the admin totals);
 * - update without WHERE: every row `.returning()` gives back is the scope's tenant's;
 * - delete of a random own row: the deleted row is the scope's tenant's;
 * - insert into another tenant: must fail with SQLSTATE 42501 (a success is a mismatch);
 * - `newTenantSession` with 2–3 commits, reading its own rows back after each commit;
 * - `current_user` / the tenant setting inside a scope, and outside any scope on a bare pooled
 *   connection (nothing may leak from a previous scope: owner, no tenant, zero visible rows);
 * - `withAdmin` totals: one snapshot's per-tenant counts must lie within the bounds that the
 *   clients' own bookkeeping allows (committed inserts and deletes, and those still in flight),
 *   markers are unique, and no row has a tenant outside the set; at the end they must match the
 *   bookkeeping exactly.
 *
 * Setup (as the superuser in --url, undone at the end): a fresh, uniquely named LOGIN role that
 * is NOT a superuser and owns a fresh schema and its table; the migration runs as
 * that owner, and the fuzz logs in as it (a superuser would bypass RLS and prove nothing).
 * Leftovers of crashed runs (no session, older than a minute) are removed first.
 *
 *   npm run fuzz                                         # DATABASE_URL, setting strategy
 *   npm run fuzz -- --strategy role --transactions 5000
 *   npm run fuzz -- --url "$PGBOUNCER_URL" --seed 1234   # replay a seed through PgBouncer
 *
 * The seed fixes each client's sequence of operations and tenants; the interleaving between
 * clients is up to the scheduler, so a replay repeats the workload, not the exact timing.
 * Exit code 1 on any mismatch or unexpected error; deadlocks between concurrent updates are
 * counted, not failed.
 */
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { integer, pgSchema, serial, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import type { Strategy } from '../src/core/options.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'
import { createOwner, DATABASE_URL, loginUrl, serverInfo, superExec, teardown, withClient } from './lib/setup.js'

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: DATABASE_URL },
    strategy: { type: 'string', default: 'setting' },
    transactions: { type: 'string', default: '20000' },
    clients: { type: 'string', default: '32' },
    pool: { type: 'string', default: '10' },
    tenants: { type: 'string', default: '20' },
    seed: { type: 'string' },
  },
  strict: true,
})

const URL_ = args.url
const STRATEGY = args.strategy as Strategy
if (STRATEGY !== 'setting' && STRATEGY !== 'role') fail(`--strategy must be 'setting' or 'role', not ${String(args.strategy)}`)
const TRANSACTIONS = positive('transactions')
const CLIENTS = positive('clients')
const POOL = positive('pool')
const TENANT_COUNT = positive('tenants')
const SEED = args.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : Number(args.seed) >>> 0
if (args.seed !== undefined && !/^\d+$/.test(args.seed)) fail('--seed must be a non-negative integer')

function positive(name: 'transactions' | 'clients' | 'pool' | 'tenants'): number {
  const n = Number(args[name])
  if (!Number.isInteger(n) || n <= 0) fail(`--${name} must be a positive integer`)
  return n
}

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

// ---------------------------------------------------------------------------------------------
// Names (unique per run; roles are cluster-wide) and the table

const STAMP = Math.floor(Date.now() / 1000).toString(36)
const SUFFIX = `${STAMP}_${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`
const PREFIX = 'pgt_fuzz_'
const SCHEMA = `${PREFIX}${SUFFIX}`
const OWNER = `${PREFIX}${SUFFIX}_owner`
const OPTIONS = {
  schema: SCHEMA,
  strategy: STRATEGY,
  tenantRole: `${PREFIX}${SUFFIX}_rls`,
  adminRole: `${PREFIX}${SUFFIX}_admin`,
  rolePrefix: `${PREFIX}${SUFFIX}_t_`,
}

const items = withRls(
  pgSchema(SCHEMA).table('items', {
    id: serial('id').primaryKey(),
    tenant: text('tenant').notNull(),
    marker: text('marker').notNull(),
    n: integer('n').notNull().default(0),
  }),
)

/** Tenant ids, a few with characters that must survive quoting (as a literal and in a role name). */
const ODD = [`o'brien`, 'back\\slash', 'ünïcødé', 'semi;colon', '$$dollar', 'dq"uote']
const TENANTS = Array.from({ length: TENANT_COUNT }, (_, i) => (i < ODD.length ? ODD[i]! : `t${String(i).padStart(2, '0')}`))
const SEED_ROWS = 10

// ---------------------------------------------------------------------------------------------
// Seeded randomness

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping and reporting

/** Per tenant, monotonic counters; `net` of committed rows is insCommitted - delRows. */
interface Book {
  insStarted: number
  insFinished: number
  insCommitted: number
  delStarted: number
  delFinished: number
  delRows: number
}
const books = new Map<string, Book>(TENANTS.map((t) => [t, { insStarted: 0, insFinished: 0, insCommitted: 0, delStarted: 0, delFinished: 0, delRows: 0 }]))
const book = (t: string): Book => books.get(t)!

let mismatches = 0
let errors = 0
let conflicts = 0
let transactions = 0
let issued = 0
let stop = false
const opCounts = new Map<string, number>()

function mismatch(where: string, detail: string): void {
  mismatches++
  if (mismatches <= 20) console.error(`MISMATCH [${where}] ${detail}`)
}

function sqlState(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  }
  return undefined
}

function unexpected(where: string, error: unknown): void {
  const code = sqlState(error)
  if (code === '40P01' || code === '40001') {
    conflicts++
    return
  }
  errors++
  if (errors <= 20) {
    const e = error as { message?: string; cause?: { message?: string } }
    console.error(`ERROR [${where}] ${code ?? ''} ${e?.message ?? String(error)}${e?.cause?.message ? ` (cause: ${e.cause.message})` : ''}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Setup and cleanup (as the superuser)

const ident = (s: string) => pg.escapeIdentifier(s)
const lit = (s: string) => pg.escapeLiteral(s)

/** Drops one run's schema and roles (`base` = `pgt_fuzz_<suffix>`). Idempotent. */
const dropRun = (base: string): Promise<void> => teardown(URL_, { schema: base, owner: `${base}_owner`, rolePrefix: `${base}_` })

/** Leftovers of earlier runs that crashed: no session as their owner, older than a minute. */
async function dropLeftovers(): Promise<void> {
  const [found] = await superExec<{ nspname: string }>(
    URL_,
    `
    SELECT n.nspname FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner
    WHERE starts_with(n.nspname, ${lit(PREFIX)}) AND o.rolname = n.nspname || '_owner'
      AND NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.usename = o.rolname)`,
  )
  const now = Date.now() / 1000
  for (const row of found!.rows) {
    const base = String(row.nspname)
    const born = parseInt(base.slice(PREFIX.length).split('_')[0] ?? '', 36)
    if (Number.isFinite(born) && now - born > 60) {
      console.log(`removing leftover ${base}`)
      await dropRun(base)
    }
  }
}

const OWNER_URL = loginUrl(URL_, OWNER)

async function setup(): Promise<string> {
  const { superuser, version } = await serverInfo(URL_)
  if (!superuser) fail('--url must log in as a superuser (to create the owner role and schema)')
  await dropLeftovers()
  await createOwner(URL_, OWNER, SCHEMA)
  await withClient(OWNER_URL, async (owner) => {
    await owner.query(
      `CREATE TABLE ${ident(SCHEMA)}.items (id serial PRIMARY KEY, tenant text NOT NULL, marker text NOT NULL UNIQUE, n integer NOT NULL DEFAULT 0)`,
    )
    await owner.query(migrationSql([items], OPTIONS).up)
  })
  return version
}

// ---------------------------------------------------------------------------------------------
// The fuzz

const pool = new pg.Pool({ connectionString: OWNER_URL, max: POOL })
const db = drizzle(pool)
const manager = PostgresManager.fromDrizzle(db, { ...OPTIONS, tables: [items] })
type Tx = Parameters<Parameters<typeof manager.withTenant>[1]>[0]

const scopeRole = (t: string) => (STRATEGY === 'setting' ? OPTIONS.tenantRole : OPTIONS.rolePrefix + t)
const SETTING = 'pg_tenants.tenant'

async function whoami(tx: Pick<Tx, 'execute'>): Promise<{ u: string; s: string | null; priv: boolean }> {
  const r = await tx.execute(
    sql`SELECT current_user::text AS u, current_setting(${SETTING}, true) AS s,
        (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS priv`,
  )
  return r.rows[0] as { u: string; s: string | null; priv: boolean }
}

function checkWho(where: string, t: string, w: { u: string; s: string | null; priv: boolean }): void {
  if (w.u !== scopeRole(t)) mismatch(where, `tenant ${t}: current_user is ${w.u}, expected ${scopeRole(t)}`)
  if (w.priv) mismatch(where, `tenant ${t}: scope runs as a superuser or BYPASSRLS role ${w.u}`)
  if (STRATEGY === 'setting' && w.s !== t) mismatch(where, `tenant ${t}: setting is ${JSON.stringify(w.s)}`)
}

function checkRows(where: string, t: string, rows: readonly { tenant: string }[]): void {
  for (const row of rows) {
    if (row.tenant !== t) {
      mismatch(where, `scope ${JSON.stringify(t)} got a row of ${JSON.stringify(row.tenant)}`)
      return
    }
  }
}

type Op = (rand: () => number, t: string, mark: () => string) => Promise<number>

const OPS: [name: string, weight: number, op: Op][] = [
  [
    'select',
    20,
    async (_r, t) => {
      const rows = await manager.withTenant(t, (tx) => tx.select().from(items))
      checkRows('select', t, rows)
      return 1
    },
  ],
  [
    'insert',
    18,
    async (_r, t, mark) => {
      const m = mark()
      const b = book(t)
      b.insStarted++
      try {
        await manager.withTenant(t, async (tx) => {
          const [inserted] = await tx.insert(items).values({ tenant: t, marker: m }).returning()
          if (inserted?.tenant !== t || inserted.marker !== m) mismatch('insert', `returned ${JSON.stringify(inserted)}`)
          const back = await tx.select().from(items).where(eq(items.marker, m))
          if (back.length !== 1 || back[0]!.tenant !== t) mismatch('insert', `read back ${JSON.stringify(back)} for ${t}/${m}`)
        })
        b.insCommitted++
      } finally {
        b.insFinished++
      }
      return 1
    },
  ],
  [
    'rollback',
    4,
    async (_r, t, mark) => {
      const m = mark()
      const b = book(t)
      b.insStarted++
      const sentinel = new Error('rollback on purpose')
      try {
        await manager.withTenant(t, async (tx) => {
          await tx.insert(items).values({ tenant: t, marker: m })
          throw sentinel
        })
        mismatch('rollback', 'withTenant resolved although its callback threw')
      } catch (error) {
        if (error !== sentinel) throw error
      } finally {
        b.insFinished++
      }
      return 1
    },
  ],
  [
    'update',
    8,
    async (_r, t) => {
      const rows = await manager.withTenant(t, (tx) =>
        tx
          .update(items)
          .set({ n: sql`${items.n} + 1` })
          .returning({ id: items.id, tenant: items.tenant }),
      )
      checkRows('update', t, rows)
      return 1
    },
  ],
  [
    'delete',
    22,
    async (_r, t) => {
      const b = book(t)
      b.delStarted++
      try {
        const rows = await manager.withTenant(t, (tx) =>
          tx
            .delete(items)
            .where(eq(items.id, sql`(SELECT id FROM ${items} ORDER BY random() LIMIT 1)`))
            .returning({ id: items.id, tenant: items.tenant }),
        )
        checkRows('delete', t, rows)
        if (rows.length > 1) mismatch('delete', `deleted ${rows.length} rows by one id`)
        b.delRows += rows.length
      } finally {
        b.delFinished++
      }
      return 1
    },
  ],
  [
    'cross-insert',
    10,
    async (rand, t, mark) => {
      let other = TENANTS[Math.floor(rand() * TENANTS.length)]!
      if (other === t) other = TENANTS[(TENANTS.indexOf(t) + 1) % TENANTS.length]!
      const m = mark()
      try {
        await manager.withTenant(t, (tx) => tx.insert(items).values({ tenant: other, marker: m }))
        mismatch('cross-insert', `scope ${JSON.stringify(t)} inserted a row for ${JSON.stringify(other)} (${m})`)
        // It is in the table now: account for it so that the totals stay meaningful.
        book(other).insStarted++
        book(other).insFinished++
        book(other).insCommitted++
      } catch (error) {
        if (sqlState(error) !== '42501') throw error
      }
      return 1
    },
  ],
  [
    'session',
    5,
    async (rand, t, mark) => {
      const commits = 2 + Math.floor(rand() * 2)
      const b = book(t)
      const session = await manager.newTenantSession(t)
      let done = 0
      try {
        for (let i = 0; i < commits; i++) {
          const m = mark()
          b.insStarted++
          let ok = false
          try {
            await session.insert(items).values({ tenant: t, marker: m })
            // Uncommitted, so no other client can have deleted it yet.
            const back = await session.select().from(items).where(eq(items.marker, m))
            if (back.length !== 1 || back[0]!.tenant !== t) mismatch('session', `read back ${JSON.stringify(back)} for ${t}/${m}`)
            await session.commit()
            ok = true
          } finally {
            b.insFinished++
            if (ok) b.insCommitted++
          }
          done++
          // After a commit the session must still be scoped to its tenant.
          checkWho('session', t, await whoami(session))
          checkRows('session', t, await session.select().from(items))
        }
      } finally {
        await session.close()
      }
      return done
    },
  ],
  [
    'whoami',
    5,
    async (_r, t) => {
      checkWho('whoami', t, await manager.withTenant(t, (tx) => whoami(tx)))
      return 1
    },
  ],
  [
    'bare',
    4,
    async () => {
      // A pooled connection outside any scope: nothing of an earlier scope may be left on it.
      const r = await pool.query(
        `SELECT current_user::text AS u, current_setting('${SETTING}', true) AS s, (SELECT count(*)::int FROM ${ident(SCHEMA)}.items) AS c`,
      )
      const row = r.rows[0] as { u: string; s: string | null; c: number }
      if (row.u !== OWNER || (row.s ?? '') !== '' || row.c !== 0) mismatch('bare', `outside a scope: ${JSON.stringify(row)}`)
      return 0
    },
  ],
  [
    'admin',
    4,
    async () => {
      await adminTotals(false)
      return 1
    },
  ],
]
const TOTAL_WEIGHT = OPS.reduce((s, [, w]) => s + w, 0)

/** One snapshot of per-tenant counts, checked against the bookkeeping's bounds (or, with
 * `exact`, after every client is done, against the exact numbers). */
async function adminTotals(exact: boolean): Promise<void> {
  const before = new Map([...books].map(([t, b]) => [t, { ...b }]))
  const rows = await manager.withAdmin(async (tx) => {
    checkWhoAdmin(await whoami(tx))
    const r = await tx.execute(
      sql`SELECT tenant, count(*)::int AS c, count(DISTINCT marker)::int AS d, GROUPING(tenant) AS g
          FROM ${items} GROUP BY GROUPING SETS ((tenant), ())`,
    )
    return r.rows as { tenant: string | null; c: number; d: number; g: number }[]
  })
  const after = books
  let sum = 0
  let total: { c: number; d: number } | undefined
  const counts = new Map<string, number>()
  for (const row of rows) {
    if (row.g === 1) total = row
    else {
      counts.set(row.tenant!, row.c)
      sum += row.c
      if (!books.has(row.tenant!)) mismatch('admin', `a row of unknown tenant ${JSON.stringify(row.tenant)}`)
    }
  }
  if (!total || total.c !== sum || total.d !== total.c) mismatch('admin', `total ${JSON.stringify(total)} vs per-tenant sum ${sum}`)
  for (const t of TENANTS) {
    const a = before.get(t)!
    const b = after.get(t)!
    const c = counts.get(t) ?? 0
    const lo = exact ? b.insCommitted - b.delRows : a.insCommitted - a.delRows - (b.delStarted - a.delFinished)
    const hi = exact ? lo : b.insCommitted + (b.insStarted - a.insFinished) - a.delRows
    if (c < lo || c > hi) mismatch(exact ? 'final' : 'admin', `tenant ${JSON.stringify(t)} has ${c} rows, expected ${lo === hi ? lo : `${lo}..${hi}`}`)
  }
}

function checkWhoAdmin(w: { u: string; priv: boolean }): void {
  if (w.u !== OPTIONS.adminRole || w.priv) mismatch('admin', `admin scope runs as ${w.u}${w.priv ? ' (privileged)' : ''}`)
}

async function client(index: number): Promise<void> {
  const rand = mulberry32((SEED ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0)
  let n = 0
  const mark = () => `${SEED}-${index}-${n++}`
  while (!stop && issued < TRANSACTIONS) {
    let pick = rand() * TOTAL_WEIGHT
    let chosen = OPS[0]!
    for (const op of OPS) {
      pick -= op[1]
      if (pick < 0) {
        chosen = op
        break
      }
    }
    const [name, , op] = chosen
    const t = TENANTS[Math.floor(rand() * TENANTS.length)]!
    issued += name === 'session' ? 2.5 : name === 'bare' ? 0 : 1
    opCounts.set(name, (opCounts.get(name) ?? 0) + 1)
    try {
      const done = await op(rand, t, mark)
      transactions += done
    } catch (error) {
      unexpected(`${name} ${JSON.stringify(t)} client ${index}`, error)
    }
  }
}

async function main(): Promise<void> {
  const target = new URL(URL_)
  console.log(
    `fuzz: seed ${SEED}, strategy ${STRATEGY}, ${TRANSACTIONS} transactions, ${CLIENTS} clients on a pool of ${POOL}, ` +
      `${TENANTS.length} tenants, ${target.host}${target.pathname}`,
  )
  console.log(`replay: npm run fuzz -- --seed ${SEED} --strategy ${STRATEGY} --transactions ${TRANSACTIONS} --clients ${CLIENTS} --url '${URL_}'`)
  process.on('SIGINT', () => {
    stop = true
  })
  const version = await setup()
  console.log(`PostgreSQL ${version}; schema ${SCHEMA}, login ${OWNER} (not a superuser, owns the table)`)
  let code = 0
  try {
    for (const t of TENANTS) await manager.createTenant(t)
    await manager.withAdmin(async (tx) => {
      for (const t of TENANTS) {
        await tx.insert(items).values(Array.from({ length: SEED_ROWS }, (_, i) => ({ tenant: t, marker: `seed-${t}-${i}` })))
      }
    })
    for (const b of books.values()) b.insStarted = b.insFinished = b.insCommitted = SEED_ROWS

    const started = performance.now()
    let last = started
    const progress = setInterval(() => {
      const now = performance.now()
      if (now - last < 10_000) return
      last = now
      console.log(`  … ${transactions} transactions, ${((transactions * 1000) / (now - started)).toFixed(0)} tx/s, mismatches ${mismatches}, errors ${errors}`)
    }, 1000)
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)))
    clearInterval(progress)
    const seconds = (performance.now() - started) / 1000
    if (!stop) await adminTotals(true).catch((e) => unexpected('final totals', e))

    console.log(`operations: ${[...opCounts].map(([k, v]) => `${k} ${v}`).join(', ')}`)
    console.log(`transactions: ${transactions}`)
    console.log(`tx/s: ${(transactions / seconds).toFixed(0)} (${seconds.toFixed(1)} s)`)
    console.log(`deadlocks/serialization conflicts (retryable, not failures): ${conflicts}`)
    console.log(`errors: ${errors}`)
    console.log(`mismatches: ${mismatches}`)
    if (mismatches > 0 || errors > 0 || stop) {
      console.log(`FAILED — replay with --seed ${SEED}`)
      code = 1
    }
  } finally {
    await pool.end()
    await dropRun(`${PREFIX}${SUFFIX}`).catch((e) => console.error(`cleanup failed: ${e}`))
  }
  process.exitCode = code
}

await main()
