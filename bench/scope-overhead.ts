/**
 * Cost of tenant scoping on node-postgres (DESIGN.md §3), measured in one run:
 *
 * 1. Round trips per transaction, counted for real on the pooled pg client (every `query` call
 *    that reaches the server, cross-checked with the ReadyForQuery messages it gets back): a
 *    scoped transaction must cost exactly as many as a plain `db.transaction` doing the same work.
 * 2. Throughput of `manager.withTenant(t, tx => select by primary key)` relative to
 *    `db.transaction(tx => the same select)` on `items_plain` (no RLS), one pooled connection
 *    (Pool max 1), for both strategies and drivers, for 1 and for 10 selects per transaction, in
 *    two families measured side by side in the same cycles:
 *    - "scoping alone": withTenant on `items_plain`, the baseline's own table, where no policy
 *      applies: the library's cost only (the BEGIN message with the scope, the role switch, the
 *      registry check, the ORM binding);
 *    - "scoping + RLS policies": withTenant on `items` (FORCE RLS, the library's policies): the
 *      above plus PostgreSQL's per-statement cost of planning the policies into every unnamed
 *      statement (bench/policy-cost.ts measures that cost alone, inside the server).
 *    Both are held to the targets. On node-postgres, raw references separate Drizzle's cost,
 *    the library's cost and the server's cost of RLS itself, and an informational pair with
 *    named prepared statements at 10 selects shows what the plan cache does to the RLS cost.
 *
 * Fairness: every variant runs on the same single backend connection and walks the same keys.
 * After a warm-up, cycles of ROUNDS: within a cycle the variants take turns in blocks of ~10 ms
 * (bench/interleave.ts); a variant's tx/s in a cycle is its transactions ÷ the time spent in them,
 * and a ratio is the median of per-cycle ratios. Load bursts and CPU migrations so land on every
 * variant alike, while each variant still runs warm, as an application's one kind of work does.
 *
 * Setup (idempotent, undone at the end): as the superuser of DATABASE_URL, a schema `pgt_bench`
 * owned by a non-superuser LOGIN role `pgt_bench_owner` (CREATEROLE). The manager logs in as that
 * owner — a superuser would bypass RLS and nothing would be measured.
 *
 *   npm run bench                       # defaults: 15 cycles of 250 ms per variant and strategy
 *   BENCH_ROUNDS=30 BENCH_ROUND_MS=500 npm run bench   # steadier, slower
 *   BENCH_STRATEGIES=setting BENCH_KEEP=1 npm run bench  # one strategy, keep the schema after
 *   BENCH_DRIVERS=pglite npm run bench  # one driver (node-postgres or pglite); writes no files
 *
 * Exit code 1 only when the round trips differ (scoped on either table vs db.transaction, for 1 and
 * for 10 statements, on node-postgres), a select returned a wrong row, or the
 * scope did not switch to the tenant role;
 * throughput below target is reported, not failed (it depends on the machine).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { and, eq, sql } from 'drizzle-orm'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import type { Strategy } from '../src/core/options.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'
import { interleave, median, perSecond } from './interleave.js'

// ---------------------------------------------------------------------------------------------
// Configuration

const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const ROUNDS = intEnv('BENCH_ROUNDS', 15)
const ROUND_MS = intEnv('BENCH_ROUND_MS', 250)
const WARMUP_MS = intEnv('BENCH_WARMUP_MS', 500)
const RT_SAMPLE = 200 // transactions per variant when counting round trips
const TARGET = 0.82
/** Statements per transaction in the multi-statement variants, and their target. */
const STMTS = 10
const TARGET_MULTI = 0.95
/** PGlite: fewer, shorter rounds (it runs in-process; the whole bench stays under ~2.5 min). */
const PGLITE_ROUNDS = intEnv('BENCH_PGLITE_ROUNDS', 9)
const PGLITE_ROUND_MS = intEnv('BENCH_PGLITE_ROUND_MS', 200)
const TENANTS = 10
const ROWS_PER_TENANT = 1000
const ROWS = TENANTS * ROWS_PER_TENANT

const SCHEMA = 'pgt_bench'
/** The scoped table and its RLS-free twin (same rows and indexes), for every driver. */
const TABLES_SQL = `
  CREATE TABLE ${SCHEMA}.items (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items (id, tenant, payload)
    SELECT g, 't' || (g % ${TENANTS}), md5(g::text) FROM generate_series(1, ${ROWS}) g;
  SELECT setval(pg_get_serial_sequence('${SCHEMA}.items', 'id'), ${ROWS});
  CREATE TABLE ${SCHEMA}.items_plain (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items_plain SELECT * FROM ${SCHEMA}.items;
  SELECT setval(pg_get_serial_sequence('${SCHEMA}.items_plain', 'id'), ${ROWS});
  CREATE INDEX items_plain_tenant_idx ON ${SCHEMA}.items_plain (tenant);
  ALTER TABLE ${SCHEMA}.items_plain ADD CONSTRAINT items_plain_tenant_not_empty CHECK (tenant <> '');`
const OWNER = 'pgt_bench_owner'
const TENANT_ROLE = 'pgt_bench_rls'
const ADMIN_ROLE = 'pgt_bench_admin'
const ROLE_PREFIX = 'pgt_bench_t_'
const STRATEGIES = (process.env['BENCH_STRATEGIES'] ?? 'setting,role').split(',') as Strategy[]
/** Which drivers to measure: `node-postgres`, `pglite` or both (the default). */
const DRIVERS = (process.env['BENCH_DRIVERS'] ?? 'node-postgres,pglite').split(',')
/** Keep the schema and roles after the run (for poking at them with psql / pgbench). */
const KEEP = process.env['BENCH_KEEP'] === '1'

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name])
  return Number.isInteger(v) && v > 0 ? v : fallback
}

// ---------------------------------------------------------------------------------------------
// Drizzle tables

const s = pgSchema(SCHEMA)
/** The tenant table: RLS enabled and forced, the library's policies. */
const items = withRls(
  s.table('items', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), payload: text('payload') }),
)
/**
 * The baseline's table: the same columns, rows, primary key, tenant index and check, but no RLS.
 * The baseline runs as the same owner login; on `items` it would see zero rows (FORCE RLS, no
 * tenant in scope: fail closed), so its select would return nothing and do less work than the
 * scoped one. On this copy both do the same work: find one row by primary key and return it.
 */
const itemsPlain = s.table('items_plain', {
  id: serial('id').primaryKey(),
  tenant: text('tenant').notNull(),
  payload: text('payload'),
})

/** Seeded so that row `id` belongs to tenant `t${id % TENANTS}`. */
const tenantOf = (id: number) => `t${id % TENANTS}`
/** A deterministic walk over all keys (7919 is prime, coprime with ROWS). */
const keyAt = (i: number) => 1 + ((i * 7919) % ROWS)
/** The j-th of STMTS keys of transaction i: all of the same tenant as keyAt(i). */
const keyOf = (i: number, j: number) => 1 + ((keyAt(i) - 1 + j * TENANTS * 37) % ROWS)

/**
 * The Drizzle variants, for any driver: one or STMTS primary-key selects per transaction, scoped
 * on the RLS table (withTenant on `items`: scoping + RLS policies), scoped on the RLS-free table
 * (withTenant on `items_plain`: scoping alone) and plain (db.transaction on `items_plain`: the
 * baseline of both). Typed loosely because the node-postgres and PGlite Drizzle databases are
 * different types with the same query API.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function drizzleVariants(db: any, manager: any): Variant[] {
  type Row = { id: number; tenant: string }
  /** How a variant runs its selects: in withTenant, in db.transaction, or in db.transaction with
   * the tenant filter written by hand (what an application without RLS does). */
  type Mode = 'scoped' | 'plain' | 'filtered'
  const where = (table: typeof items | typeof itemsPlain, k: number, t: string, mode: Mode) =>
    mode === 'filtered' ? and(eq(table.id, k), eq(table.tenant, t)) : eq(table.id, k)
  const unit = <T>(mode: Mode, t: string, body: (tx: any) => Promise<T>): Promise<T> =>
    mode === 'scoped' ? manager.withTenant(t, body) : db.transaction(body)
  /** One select per transaction on `table` (the row must be the tenant's). */
  const one = (key: string, label: string, table: typeof items | typeof itemsPlain, mode: Mode): Variant => ({
    key,
    label,
    run: async (i) => {
      const k = keyAt(i)
      const t = tenantOf(k)
      const rows: Row[] = await unit(mode, t, (tx) => tx.select().from(table).where(where(table, k, t, mode)))
      check(rows.length === 1 && rows[0]!.tenant === t, `${label}, key ${k}`)
    },
  })
  /** STMTS selects of one tenant's keys per transaction. */
  const many = (key: string, label: string, table: typeof items | typeof itemsPlain, mode: Mode): Variant => ({
    key,
    label,
    run: async (i) => {
      const t = tenantOf(keyAt(i))
      const n = await unit(mode, t, async (tx) => {
        let found = 0
        for (let j = 0; j < STMTS; j++) {
          const rows: Row[] = await tx.select().from(table).where(where(table, keyOf(i, j), t, mode))
          if (rows.length === 1 && rows[0]!.tenant === t) found++
        }
        return found
      })
      check(n === STMTS, `${label}, tx ${i}`)
    },
  })
  return [
    one('scoped', 'withTenant, items (RLS)', items, 'scoped'),
    one('scopedPlain', 'withTenant, items_plain (no RLS)', itemsPlain, 'scoped'),
    one('plain', 'db.transaction, items_plain', itemsPlain, 'plain'),
    one('filtered', 'db.transaction, items_plain, WHERE tenant = by hand', itemsPlain, 'filtered'),
    many('scoped10', `withTenant, items (RLS), ${STMTS} selects`, items, 'scoped'),
    many('scopedPlain10', `withTenant, items_plain, ${STMTS} selects`, itemsPlain, 'scoped'),
    many('plain10', `db.transaction, items_plain, ${STMTS} selects`, itemsPlain, 'plain'),
    many('filtered10', `db.transaction, items_plain, WHERE tenant = by hand, ${STMTS} selects`, itemsPlain, 'filtered'),
  ]
}

// ---------------------------------------------------------------------------------------------
// Round-trip counting on the pool's client

interface Counter {
  queries: number // client.query calls
  ready: number // ReadyForQuery messages from the server (one per round trip)
  connects: number // physical connections opened (must stay 1: nothing destroyed)
  sent?: unknown[] | undefined // when set, the SQL text of each call is recorded
}

function countingPool(url: string, counter: Counter): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  pool.on('connect', (client) => {
    counter.connects++
    const original = client.query
    // Every path to the server — Drizzle's prepared queries, the library's BEGIN+scope message,
    // raw calls — goes through this client's query method.
    client.query = function (this: pg.PoolClient, ...args: unknown[]) {
      counter.queries++
      if (counter.sent) counter.sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown })?.text)
      return (original as (...a: unknown[]) => unknown).apply(this, args)
    } as typeof client.query
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection
    connection.on('readyForQuery', () => counter.ready++)
  })
  return pool
}

/**
 * PGlite has no network, but every call into its WASM backend costs (~40–60 µs even for a
 * `SET`): counts them on the instance, as `queries` (and `ready`, the same number). A
 * `transaction()` is two calls of PGlite's own (its BEGIN, and its COMMIT or ROLLBACK) plus the
 * `exec`/`query` calls made on it; a top-level `exec`/`query` is one.
 */
function countPgliteCalls(client: PGlite, counter: Counter): void {
  type Tx = Parameters<Parameters<PGlite['transaction']>[0]>[0]
  const transaction = client.transaction.bind(client)
  const count = (n = 1) => {
    counter.queries += n
    counter.ready += n
  }
  client.transaction = (<T>(fn: (tx: Tx) => Promise<T>) =>
    transaction(async (tx) => {
      count(2)
      const counted = Object.create(tx) as Tx
      counted.exec = (...args: Parameters<Tx['exec']>) => (count(), tx.exec(...args))
      counted.query = ((...args: Parameters<Tx['query']>) => (count(), tx.query(...args))) as Tx['query']
      return fn(counted)
    })) as PGlite['transaction']
}

// ---------------------------------------------------------------------------------------------
// Setup and cleanup (as the superuser)

async function superExec(sql: string): Promise<pg.QueryResult[]> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    const r = (await client.query(sql)) as pg.QueryResult | pg.QueryResult[]
    return Array.isArray(r) ? r : [r]
  } finally {
    await client.end()
  }
}

/** Removes the schema and every role the bench created (also leftovers of a crashed run). */
async function cleanup(): Promise<void> {
  await superExec(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  const [found] = await superExec(
    `SELECT rolname FROM pg_roles WHERE rolname IN ('${OWNER}', '${TENANT_ROLE}', '${ADMIN_ROLE}')
       OR starts_with(rolname, '${ROLE_PREFIX}') ORDER BY rolname = '${OWNER}'`,
  )
  const roles = found!.rows.map((r) => pg.escapeIdentifier(String(r['rolname'])))
  if (roles.length === 0) return
  await superExec(`DROP OWNED BY ${roles.join(', ')}; ${roles.map((r) => `DROP ROLE ${r};`).join(' ')}`)
}

function ownerUrl(): string {
  const url = new URL(DATABASE_URL)
  url.username = OWNER
  url.password = ''
  return url.toString()
}

async function setup(): Promise<{ pgVersion: string }> {
  const [who] = await superExec(`SELECT rolsuper, current_setting('server_version') AS v FROM pg_roles WHERE rolname = current_user`)
  const me = who!.rows[0]
  if (!me?.['rolsuper']) throw new Error(`DATABASE_URL must log in as a superuser (to create ${OWNER}).`)
  await cleanup()
  await superExec(`CREATE ROLE ${OWNER} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
    CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${OWNER};`)
  // Tables and data, created by the owner (so it owns them), before RLS is enabled.
  const owner = new pg.Client({ connectionString: ownerUrl() })
  await owner.connect()
  try {
    await owner.query(`
      ${TABLES_SQL}
    `)
  } finally {
    await owner.end()
  }
  return { pgVersion: String(me['v']) }
}

// ---------------------------------------------------------------------------------------------
// Variants

interface Variant {
  readonly key: string
  readonly label: string
  /** Runs one transaction for key index i. */
  readonly run: (i: number) => Promise<void>
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`wrong result: ${what}`)
}

function variantsFor(strategy: Strategy, pool: pg.Pool) {
  const db = drizzle({ client: pool })
  const manager = PostgresManager.fromDrizzle(db, {
    schema: SCHEMA,
    strategy,
    tenantRole: TENANT_ROLE,
    adminRole: ADMIN_ROLE,
    rolePrefix: ROLE_PREFIX,
    tables: [items],
  })
  // The raw references send exactly the SQL text Drizzle sends for the select.
  const plainSelect = db.select().from(itemsPlain).where(eq(itemsPlain.id, 0)).toSQL().sql
  const rlsSelect = db.select().from(items).where(eq(items.id, 0)).toSQL().sql
  const rawTx = async (prelude: (tenant: string) => string, text: string, i: number, scoped: boolean) => {
    const k = keyAt(i)
    const client = await pool.connect()
    try {
      await client.query(prelude(tenantOf(k)))
      const r = await client.query({ text, values: [k], rowMode: 'array' })
      await client.query('COMMIT')
      check(r.rows.length === 1 && (!scoped || r.rows[0]?.[1] === tenantOf(k)), `raw key ${k} ${JSON.stringify(r.rows)} ${prelude(tenantOf(k))}`)
    } finally {
      client.release()
    }
  }
  // The DESIGN.md §3 reference (setting): BEGIN and the scope in ONE simple-query message.
  const designPrelude = (tenant: string) =>
    `BEGIN; SET LOCAL ROLE ${TENANT_ROLE}; SET LOCAL pg_tenants.tenant = ${pg.escapeLiteral(tenant)}`
  // What the library really sends to open a scope, captured from the wire (see captureScopes).
  const libraryPreludes = new Map<string, string>()

  const byKey = new Map(drizzleVariants(db, manager).map((v) => [v.key, v]))
  const drizzleVariant = (key: string) => byKey.get(key)!
  // Named prepared statements (informational, node-postgres only): each variant prepares its
  // select once per transaction under a fixed name and runs it STMTS times, so pg parses it once
  // per connection and PostgreSQL can reuse the plan (the RLS policies are planned into it, not
  // re-planned at each statement). Two names, since one name can only ever hold one SQL text.
  const prepared10 = (key: string, label: string, table: typeof items | typeof itemsPlain, scoped: boolean): Variant => ({
    key,
    label,
    run: async (i) => {
      const t = tenantOf(keyAt(i))
      const body = async (tx: Pick<typeof db, 'select'>): Promise<number> => {
        const select = tx
          .select()
          .from(table)
          .where(eq(table.id, sql.placeholder('id')))
          .prepare(`pgt_bench_${key}`)
        let found = 0
        for (let j = 0; j < STMTS; j++) {
          const rows = await select.execute({ id: keyOf(i, j) })
          if (rows.length === 1 && rows[0]!.tenant === t) found++
        }
        return found
      }
      const n = scoped ? await manager.withTenant(t, body) : await db.transaction(body)
      check(n === STMTS, `${label}, tx ${i}`)
    },
  })
  const variants: Variant[] = [
    drizzleVariant('scoped'),
    drizzleVariant('scopedPlain'),
    drizzleVariant('plain'),
    drizzleVariant('filtered'),
    {
      key: 'rawPlain',
      label: 'raw pg: BEGIN; SELECT; COMMIT',
      run: (i) => rawTx(() => 'BEGIN', plainSelect, i, false),
    },
    {
      key: 'rawLibrary',
      label: "raw pg: library's scope message",
      run: (i) => rawTx((t) => libraryPreludes.get(t)!, rlsSelect, i, true),
    },
  ]
  if (strategy === 'setting') {
    // In the role strategy the library's message is this one already; in the setting strategy
    // the library's also checks the registry (so that an unknown tenant is detected).
    variants.push({
      key: 'rawDesign',
      label: 'raw pg: BEGIN; SET LOCAL ×2',
      run: (i) => rawTx(designPrelude, rlsSelect, i, true),
    })
  }
  variants.push(
    drizzleVariant('scoped10'),
    drizzleVariant('scopedPlain10'),
    drizzleVariant('plain10'),
    drizzleVariant('filtered10'),
    prepared10('scopedPrep10', `withTenant, items (RLS), ${STMTS} named prepared`, items, true),
    prepared10('plainPrep10', `db.transaction, items_plain, ${STMTS} named prepared`, itemsPlain, false),
  )
  return { manager, variants, libraryPreludes }
}

/** Records the first message of a steady-state scoped transaction per tenant (the second one:
 * the first checks the registry, later ones for a tenant seen to exist do not). */
async function captureScopes(
  manager: PostgresManager<ReturnType<typeof drizzle>>,
  counter: Counter,
  into: Map<string, string>,
): Promise<void> {
  for (let t = 0; t < TENANTS; t++) {
    for (let pass = 0; pass < 2; pass++) {
      counter.sent = []
      await manager.withTenant(`t${t}`, (tx) => tx.select().from(items).where(eq(items.id, t)))
    }
    const first = counter.sent?.[0]
    if (typeof first !== 'string' || !/^BEGIN\b/i.test(first)) throw new Error(`unexpected first message: ${String(first)}`)
    into.set(`t${t}`, first)
  }
  counter.sent = undefined
}

// ---------------------------------------------------------------------------------------------
// Measurement

async function countRoundTrips(v: Variant, counter: Counter): Promise<{ queries: number; ready: number }> {
  counter.queries = 0
  counter.ready = 0
  for (let i = 0; i < RT_SAMPLE; i++) await v.run(i)
  return { queries: counter.queries / RT_SAMPLE, ready: counter.ready / RT_SAMPLE }
}

interface PhaseResult {
  driver: 'node-postgres' | 'PGlite'
  strategy: Strategy
  labels: Record<string, string>
  roundTrips: Record<string, { queries: number; ready: number }>
  tps: Record<string, number[]>
  ratio: number // median per-cycle scoped / plain (drizzle)
  ratioRange: [number, number]
  /** The same, with STMTS selects per transaction (scoped10 / plain10). */
  ratio10: number
  ratio10Range: [number, number]
  /** Scoping alone: withTenant on items_plain ÷ db.transaction on items_plain, 1 and STMTS selects. */
  alone: number
  aloneRange: [number, number]
  alone10: number
  alone10Range: [number, number]
  /** Scoping + RLS ÷ db.transaction with the tenant filter written by hand (the same work without
   * RLS), 1 and STMTS selects. */
  filtered: number
  filteredRange: [number, number]
  filtered10: number
  filtered10Range: [number, number]
  /** node-postgres only (informational): named prepared statements at STMTS selects, withTenant
   * on items ÷ db.transaction on items_plain (both named), and each ÷ the unnamed baseline. */
  prepared10?: { ratio: number; range: [number, number]; scopedVsUnnamed: number; plainVsUnnamed: number } | undefined
  /** Median per-cycle raw-variant / rawPlain: the server's cost of scope + RLS, without JS. */
  rawRatios: Record<string, number>
  connects: number
  /** The library's BEGIN+scope message for tenant t3, as captured from the wire ('' on PGlite). */
  message: string
  /** current_user inside withTenant('t3'), and what it should be. */
  scopeUser: { expected: string; actual: string }
}

/** Transactions per second of every variant, one figure per cycle (bench/interleave.ts). */
async function measure(variants: Variant[], warmupMs: number, rounds: number, roundMs: number): Promise<Record<string, number[]>> {
  const ms = await interleave(Object.fromEntries(variants.map((v) => [v.key, v.run])), { warmupMs, rounds, roundMs })
  return Object.fromEntries(Object.entries(ms).map(([key, xs]) => [key, perSecond(xs)]))
}

/** Median and range of the per-cycle ratios tps[a] / tps[b]. */
function pairRatio(tps: Record<string, number[]>, a: string, b: string): { ratio: number; range: [number, number] } {
  const ratios = tps[a]!.map((x, r) => x / tps[b]![r]!)
  return { ratio: median(ratios), range: [Math.min(...ratios), Math.max(...ratios)] }
}

/** Median per-cycle scoped/plain ratios, for 1 and STMTS statements per transaction, for both
 * families (scoping + RLS policies on items, scoping alone on items_plain). */
function ratiosOf(
  tps: Record<string, number[]>,
): Pick<
  PhaseResult,
  | 'ratio' | 'ratioRange' | 'ratio10' | 'ratio10Range' | 'alone' | 'aloneRange' | 'alone10' | 'alone10Range'
  | 'filtered' | 'filteredRange' | 'filtered10' | 'filtered10Range' | 'prepared10'
> {
  const rls = pairRatio(tps, 'scoped', 'plain')
  const rls10 = pairRatio(tps, 'scoped10', 'plain10')
  const alone = pairRatio(tps, 'scopedPlain', 'plain')
  const alone10 = pairRatio(tps, 'scopedPlain10', 'plain10')
  const filtered = pairRatio(tps, 'scoped', 'filtered')
  const filtered10 = pairRatio(tps, 'scoped10', 'filtered10')
  const prep = tps['scopedPrep10'] && tps['plainPrep10'] ? pairRatio(tps, 'scopedPrep10', 'plainPrep10') : undefined
  return {
    ratio: rls.ratio,
    ratioRange: rls.range,
    ratio10: rls10.ratio,
    ratio10Range: rls10.range,
    alone: alone.ratio,
    aloneRange: alone.range,
    alone10: alone10.ratio,
    alone10Range: alone10.range,
    filtered: filtered.ratio,
    filteredRange: filtered.range,
    filtered10: filtered10.ratio,
    filtered10Range: filtered10.range,
    prepared10: prep && {
      ...prep,
      scopedVsUnnamed: pairRatio(tps, 'scopedPrep10', 'plain10').ratio,
      plainVsUnnamed: pairRatio(tps, 'plainPrep10', 'plain10').ratio,
    },
  }
}

/**
 * The same Drizzle variants on embedded, in-memory PGlite (one fresh instance per strategy). PGlite
 * starts as a superuser, which bypasses RLS: like examples/demo.ts, create a non-superuser owner
 * and `SET ROLE` to it for the session before any setup. No network, so no round trips to count.
 */
async function pglitePhase(strategy: Strategy): Promise<PhaseResult> {
  const client = new PGlite()
  try {
    await client.exec(`CREATE ROLE ${OWNER} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
      CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${OWNER};
      SET ROLE ${OWNER};
      ${TABLES_SQL}`)
    // items_plain (no RLS) is a shared table that tenant scopes read: declared, as the least-privilege grants want.
    const options = { schema: SCHEMA, strategy, tenantRole: TENANT_ROLE, adminRole: ADMIN_ROLE, rolePrefix: ROLE_PREFIX, sharedTables: { items_plain: 'read' } } as const
    await client.exec(migrationSql([items], options).up)
    await client.exec(`ANALYZE ${SCHEMA}.items; ANALYZE ${SCHEMA}.items_plain`)
    const counter: Counter = { queries: 0, ready: 0, connects: 1 }
    countPgliteCalls(client, counter)
    const db = drizzlePglite(client)
    const manager = PostgresManager.fromDrizzle(db, { ...options, tables: [items] })
    for (let t = 0; t < TENANTS; t++) await manager.createTenant(`t${t}`)
    const variants = drizzleVariants(db, manager)

    const own = await manager.withTenant('t3', (tx) => tx.select().from(items))
    check(own.length === ROWS_PER_TENANT && own.every((r) => r.tenant === 't3'), 'PGlite: tenant t3 sees only its rows')
    check((await db.select().from(items)).length === 0, 'PGlite: the owner sees no row of items')
    const expectedUser = strategy === 'setting' ? TENANT_ROLE : `${ROLE_PREFIX}t3`
    const whoami = await manager.withTenant('t3', (tx) => tx.execute(sql`SELECT current_user::text AS u`))
    const actualUser = String((whoami as unknown as { rows: { u: unknown }[] }).rows[0]?.u)

    const roundTrips: PhaseResult['roundTrips'] = {}
    for (const v of variants) roundTrips[v.key] = await countRoundTrips(v, counter)

    const tps = await measure(variants, WARMUP_MS, PGLITE_ROUNDS, PGLITE_ROUND_MS)
    return {
      driver: 'PGlite',
      strategy,
      labels: Object.fromEntries(variants.map((v) => [v.key, v.label])),
      roundTrips,
      tps,
      ...ratiosOf(tps),
      rawRatios: {},
      connects: 1,
      message: '',
      scopeUser: { expected: expectedUser, actual: actualUser },
    }
  } finally {
    await client.close()
  }
}

async function phase(strategy: Strategy): Promise<PhaseResult> {
  // The migration, as the owner (it creates the tenant and admin roles and grants them to the
  // owner). Switching strategy replaces the policies.
  const { up } = migrationSql([items], { schema: SCHEMA, strategy, tenantRole: TENANT_ROLE, adminRole: ADMIN_ROLE, rolePrefix: ROLE_PREFIX, sharedTables: { items_plain: 'read' } })
  const migrator = new pg.Client({ connectionString: ownerUrl() })
  await migrator.connect()
  try {
    await migrator.query(up)
    await migrator.query(`ANALYZE ${SCHEMA}.items; ANALYZE ${SCHEMA}.items_plain`)
  } finally {
    await migrator.end()
  }

  const counter: Counter = { queries: 0, ready: 0, connects: 0 }
  const pool = countingPool(ownerUrl(), counter)
  try {
    const { manager, variants, libraryPreludes } = variantsFor(strategy, pool)
    for (let t = 0; t < TENANTS; t++) await manager.createTenant(`t${t}`)
    await captureScopes(manager, counter, libraryPreludes)

    // Sanity: RLS really applies — a tenant sees only its own rows, and the owner login outside
    // a scope sees none (FORCE RLS: it is not a superuser, so RLS cost is really measured).
    const own = await manager.withTenant('t3', (tx) => tx.select().from(items))
    check(own.length === ROWS_PER_TENANT && own.every((r) => r.tenant === 't3'), 'tenant t3 sees only its rows')
    check((await drizzle({ client: pool }).select().from(items)).length === 0, 'the owner login sees no row of items')
    // S2: the scope must drop privileges (SET LOCAL ROLE). Not a hard failure, so the numbers
    // still print, but flagged: without the switch they measure a cheaper, unsafe scope. (On
    // PostgreSQL 15 the login inherits the tenant role, so its policies apply to the login too and
    // the rows alone cannot show a missing switch.)
    const expectedUser = strategy === 'setting' ? TENANT_ROLE : `${ROLE_PREFIX}t3`
    const whoami = await manager.withTenant('t3', (tx) => tx.execute(sql`SELECT current_user::text AS u`))
    const actualUser = String((whoami as unknown as { rows: { u: unknown }[] }).rows[0]?.u)

    const roundTrips: PhaseResult['roundTrips'] = {}
    for (const v of variants) roundTrips[v.key] = await countRoundTrips(v, counter)

    const tps = await measure(variants, WARMUP_MS, ROUNDS, ROUND_MS)
    return {
      driver: 'node-postgres',
      strategy,
      labels: Object.fromEntries(variants.map((v) => [v.key, v.label])),
      roundTrips,
      tps,
      ...ratiosOf(tps),
      rawRatios: Object.fromEntries(
        ['rawLibrary', 'rawDesign']
          .filter((key) => tps[key])
          .map((key) => [key, median(tps[key]!.map((x, r) => x / tps['rawPlain']![r]!))]),
      ),
      connects: counter.connects,
      message: libraryPreludes.get('t3')!,
      scopeUser: { expected: expectedUser, actual: actualUser },
    }
  } finally {
    await pool.end()
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function versionOf(pkg: string): string {
  try {
    const file = new URL(`../node_modules/${pkg}/package.json`, import.meta.url)
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const rt = (x: { queries: number; ready: number } | undefined) =>
  x === undefined ? 'n/a' : x.queries === x.ready ? String(x.queries) : `${x.queries} (${x.ready} RFQ)`
/** `setting` on node-postgres, `PGlite, setting` on PGlite (the tag in printed lines). */
const tagOf = (r: PhaseResult) => (r.driver === 'PGlite' ? `PGlite, ${r.strategy}` : r.strategy)
/** Two decimals, or three when two would round a miss up to the target (0.949 is not 0.95). */
const ratioText = (v: number, target: number) =>
  v < target && v.toFixed(2) === target.toFixed(2) ? v.toFixed(3) : v.toFixed(2)
const verdictOf = (x: number, target: number) => (x >= target ? `>= ${target} OK` : `BELOW TARGET ${target}`)

const escapeXml = (t: string) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')

/** The three families of ratios, with their colours in the chart. */
const FAMILIES = [
  { name: 'scoping alone', detail: 'withTenant on items_plain ÷ db.transaction', colour: '#3b82c4' },
  { name: 'scoping + RLS policies', detail: 'withTenant on items ÷ db.transaction', colour: '#8e5bb5' },
  { name: 'scoping + RLS policies vs the filter by hand', detail: 'withTenant on items ÷ db.transaction with WHERE tenant =', colour: '#2e9e6b' },
] as const

/**
 * A small hand-written SVG horizontal bar chart: per driver, strategy and statement count, one bar
 * per family (FAMILIES), with the row's target. A miss is written out beside its bar (and
 * outlined), never rounded up.
 */
function chartSvg(results: PhaseResult[]): string {
  const rows = results.flatMap((r) => [
    { label: `${r.driver} · ${r.strategy} · 1 statement`, values: [r.alone, r.ratio, r.filtered], target: TARGET },
    { label: `${r.driver} · ${r.strategy} · ${STMTS} statements`, values: [r.alone10, r.ratio10, r.filtered10], target: TARGET_MULTI },
  ])
  const W = 900
  const left = 300
  const right = 170
  const top = 64
  const barH = 15
  const inner = 2 // between the bars of a row
  const rowH = FAMILIES.length * barH + (FAMILIES.length - 1) * inner
  const gap = 14
  const plotW = W - left - right
  const max = Math.max(1.2, Math.ceil(Math.max(...rows.flatMap((b) => b.values)) * 10 + 0.5) / 10)
  const x = (v: number) => left + (v / max) * plotW
  const H = top + rows.length * (rowH + gap) + 72 + 22 * FAMILIES.length
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Scope overhead: withTenant throughput ÷ db.transaction throughput (no RLS)</text>`)
  out.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">higher is better; 1.00 = no overhead; dashed line = target (${TARGET} for 1 statement, ${TARGET_MULTI} for ${STMTS})</text>`)
  // Grid and axis.
  const plotBottom = top + rows.length * (rowH + gap) - gap / 2
  for (let v = 0; v <= max + 1e-9; v += 0.2) {
    const gx = x(v).toFixed(1)
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${plotBottom}" stroke="#e3e3e3"/>`)
    out.push(`<text x="${gx}" y="${plotBottom + 16}" text-anchor="middle" fill="#555">${v.toFixed(1)}</text>`)
  }
  out.push(`<text x="${left + plotW / 2}" y="${plotBottom + 36}" text-anchor="middle" fill="#333">throughput ratio (median of per-cycle ratios)</text>`)
  rows.forEach((row, i) => {
    const y = top + i * (rowH + gap)
    out.push(`<text x="${left - 8}" y="${y + rowH / 2 + 4.5}" text-anchor="end">${escapeXml(row.label)}</text>`)
    row.values.forEach((value, f) => {
      const by = y + f * (barH + inner)
      const ok = value >= row.target
      const outline = ok ? '' : ' stroke="#c0392b" stroke-width="1.5"'
      out.push(`<rect x="${left}" y="${by}" width="${(x(value) - left).toFixed(1)}" height="${barH}" fill="${FAMILIES[f]!.colour}"${outline}/>`)
      // The value goes right of both the bar and the target line, so neither hides it.
      out.push(
        `<text x="${(Math.max(x(value), x(row.target)) + 8).toFixed(1)}" y="${by + barH / 2 + 4.5}" font-size="12" ` +
          `font-weight="bold"${ok ? '' : ' fill="#c0392b"'}>${ratioText(value, row.target)}${ok ? ' ✓' : ` ✗ below ${row.target}`}</text>`,
      )
    })
    const tx = x(row.target).toFixed(1)
    out.push(`<line x1="${tx}" y1="${y - 3}" x2="${tx}" y2="${y + rowH + 3}" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 2"/>`)
  })
  const legendTop = plotBottom + 56
  FAMILIES.forEach((fam, f) => {
    const ly = legendTop + f * 22
    out.push(`<rect x="${left - 200}" y="${ly - 10}" width="12" height="12" fill="${fam.colour}"/>`)
    out.push(`<text x="${left - 182}" y="${ly}">${escapeXml(`${fam.name} (${fam.detail})`)}</text>`)
  })
  const ly2 = legendTop + FAMILIES.length * 22
  out.push(`<line x1="${left - 200}" y1="${ly2 - 10}" x2="${left - 200}" y2="${ly2 + 2}" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 2"/><text x="${left - 192}" y="${ly2}">target</text>`)
  out.push(`<rect x="${left - 130}" y="${ly2 - 10}" width="12" height="12" fill="#ffffff" stroke="#c0392b" stroke-width="1.5"/><text x="${left - 112}" y="${ly2}">outlined, ✗ = below target</text>`)
  out.push('</svg>', '')
  return out.join('\n')
}

function report(results: PhaseResult[], pgVersion: string, seconds: number): { text: string; markdown: string; ok: boolean } {
  const lines: string[] = []
  const md: string[] = []
  let rtOk = true
  const unscoped: string[] = []
  const header = ['strategy', 'variant', 'round trips', 'tx/s (median)', 'min–max', 'vs db.transaction']
  const widths = [16, 46, 12, 14, 16, 17]
  lines.push(header.map((h, i) => pad(h, widths[i]!, i >= 2)).join(' '))
  lines.push(widths.map((w) => '-'.repeat(w)).join(' '))
  md.push(`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i >= 2 ? '---:' : '---')).join('|')}|`)
  for (const r of results) {
    for (const key of Object.keys(r.labels)) {
      const xs = r.tps[key]!
      const base = key.endsWith('10') ? 'plain10' : 'plain'
      const rel = median(xs.map((x, i) => x / r.tps[base]![i]!))
      const cells = [
        r.driver === 'PGlite' ? `${r.strategy} (PGlite)` : r.strategy,
        r.labels[key]!,
        r.driver === 'PGlite' ? `${rt(r.roundTrips[key])} calls` : rt(r.roundTrips[key]),
        fmt(median(xs)),
        `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`,
        rel.toFixed(2),
      ]
      lines.push(cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join(' '))
      md.push(`| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`)
    }
  }
  lines.push('')
  md.push('')

  // The two families side by side: per driver, strategy and statement count, each ÷ the same
  // db.transaction on items_plain, each with its verdict.
  const cell = (v: number, range: [number, number], target: number) =>
    `${ratioText(v, target)} [${range[0].toFixed(2)}–${range[1].toFixed(2)}] ${v >= target ? 'OK' : 'BELOW'}`
  const sideHeader = [
    'driver', 'strategy', 'statements', 'target',
    'scoping alone (items_plain)', 'scoping + RLS policies (items)', 'scoping + RLS ÷ WHERE tenant by hand',
  ]
  const sideWidths = [13, 8, 22, 6, 30, 30, 36]
  lines.push('withTenant ÷ db.transaction on items_plain (last column: ÷ db.transaction filtering by tenant by hand), median of per-cycle ratios [per-cycle range]:')
  lines.push(sideHeader.map((h, i) => pad(h, sideWidths[i]!)).join(' '))
  lines.push(sideWidths.map((w) => '-'.repeat(w)).join(' '))
  md.push(
    '**Scoping alone, scoping + RLS policies, and RLS vs the filter by hand** (each ÷ a `db.transaction` on `items_plain` in the same cycle; median of per-cycle ratios, per-cycle range in brackets).',
    '"Scoping alone" is `withTenant` on `items_plain`, the baseline\'s own table where no policy applies: what the library itself costs',
    '(the BEGIN message with the scope, the role switch, the registry check, the ORM binding).',
    '"Scoping + RLS policies" is `withTenant` on `items` under FORCE ROW LEVEL SECURITY: the same plus what PostgreSQL pays to plan the',
    'policies into every unnamed statement (measured alone, inside the server, by bench/policy-cost.ts).',
    '"Scoping + RLS ÷ WHERE tenant by hand" compares the same `withTenant` on `items` with what an application without RLS',
    'runs for the same rows: `db.transaction` on `items_plain` with `WHERE id = $1 AND tenant = $2` written in every query.',
    'The named-prepared row is informational (no target): both sides use named statements, so the plan cache spares the re-planning.',
    '',
    `| ${sideHeader.join(' | ')} |`,
    '|---|---|---|---:|---:|---:|---:|',
  )
  const sideRow = (cells: string[]) => {
    lines.push(cells.map((c, i) => pad(c, sideWidths[i]!)).join(' '))
    md.push(`| ${cells.join(' | ')} |`)
  }
  for (const r of results) {
    sideRow([
      r.driver, r.strategy, '1', String(TARGET),
      cell(r.alone, r.aloneRange, TARGET), cell(r.ratio, r.ratioRange, TARGET), cell(r.filtered, r.filteredRange, TARGET),
    ])
    sideRow([
      r.driver, r.strategy, String(STMTS), String(TARGET_MULTI),
      cell(r.alone10, r.alone10Range, TARGET_MULTI), cell(r.ratio10, r.ratio10Range, TARGET_MULTI), cell(r.filtered10, r.filtered10Range, TARGET_MULTI),
    ])
    if (r.prepared10) {
      const p = r.prepared10
      sideRow([
        r.driver,
        r.strategy,
        `${STMTS}, named prepared`,
        '—',
        '—',
        `${p.ratio.toFixed(2)} [${p.range[0].toFixed(2)}–${p.range[1].toFixed(2)}] vs named baseline`,
        '—',
      ])
    }
  }
  lines.push('')
  md.push('')

  for (const r of results) {
    const tag = tagOf(r)
    const familyLines = [
      `throughput ratio (${tag}), scoping alone: ${ratioText(r.alone, TARGET)} [per-cycle ${r.aloneRange[0].toFixed(2)}–${r.aloneRange[1].toFixed(2)}] ${verdictOf(r.alone, TARGET)}`,
      `throughput ratio (${tag}), scoping + RLS policies: ${ratioText(r.ratio, TARGET)} [per-cycle ${r.ratioRange[0].toFixed(2)}–${r.ratioRange[1].toFixed(2)}] ${verdictOf(r.ratio, TARGET)}`,
      `throughput ratio (${tag}, ${STMTS} statements), scoping alone: ${ratioText(r.alone10, TARGET_MULTI)} ` +
        `[per-cycle ${r.alone10Range[0].toFixed(2)}–${r.alone10Range[1].toFixed(2)}] ${verdictOf(r.alone10, TARGET_MULTI)}`,
      `throughput ratio (${tag}, ${STMTS} statements), scoping + RLS policies: ${ratioText(r.ratio10, TARGET_MULTI)} ` +
        `[per-cycle ${r.ratio10Range[0].toFixed(2)}–${r.ratio10Range[1].toFixed(2)}] ${verdictOf(r.ratio10, TARGET_MULTI)}`,
      `throughput ratio (${tag}), scoping + RLS ÷ WHERE tenant by hand: ${ratioText(r.filtered, TARGET)} ` +
        `[per-cycle ${r.filteredRange[0].toFixed(2)}–${r.filteredRange[1].toFixed(2)}] ${verdictOf(r.filtered, TARGET)}`,
      `throughput ratio (${tag}, ${STMTS} statements), scoping + RLS ÷ WHERE tenant by hand: ${ratioText(r.filtered10, TARGET_MULTI)} ` +
        `[per-cycle ${r.filtered10Range[0].toFixed(2)}–${r.filtered10Range[1].toFixed(2)}] ${verdictOf(r.filtered10, TARGET_MULTI)}`,
    ]
    if (r.driver === 'PGlite') {
      const userOk = r.scopeUser.actual === r.scopeUser.expected
      if (!userOk) unscoped.push(tag)
      for (const l of [
        `calls into PGlite (${tag}): scoped ${rt(r.roundTrips['scoped'])} (items_plain: ${rt(r.roundTrips['scopedPlain'])}), plain ${rt(r.roundTrips['plain'])} ` +
          `(${STMTS} statements: ${rt(r.roundTrips['scoped10'])} (items_plain: ${rt(r.roundTrips['scopedPlain10'])}) vs ${rt(r.roundTrips['plain10'])}; embedded: no network round trips)`,
        ...familyLines,
        userOk ? '' : `WARNING (${tag}): withTenant ran as ${r.scopeUser.actual}, expected ${r.scopeUser.expected}`,
      ].filter(Boolean)) {
        lines.push(l)
        md.push(`- ${l}`)
      }
      continue
    }
    const same = (a: string, b: string) => {
      const x = r.roundTrips[a]!
      const y = r.roundTrips[b]!
      return x.queries === y.queries && x.ready === y.ready && x.queries === x.ready
    }
    const equal = same('scoped', 'plain') && same('scopedPlain', 'plain')
    const equal10 = same('scoped10', 'plain10') && same('scopedPlain10', 'plain10')
    if (!equal || !equal10) rtOk = false
    const rtLine =
      `round trips (${tag}): scoped ${rt(r.roundTrips['scoped'])} (items_plain: ${rt(r.roundTrips['scopedPlain'])}), plain ${rt(r.roundTrips['plain'])} ` +
      `(${equal ? 'equal' : 'NOT EQUAL'}); ${STMTS} statements: scoped ${rt(r.roundTrips['scoped10'])} (items_plain: ${rt(r.roundTrips['scopedPlain10'])}), ` +
      `plain ${rt(r.roundTrips['plain10'])} (${equal10 ? 'equal' : 'NOT EQUAL'})`
    const p = r.prepared10
    const preparedLine =
      p === undefined
        ? ''
        : `named prepared statements (${tag}, ${STMTS} statements, informational): withTenant on items ÷ db.transaction on items_plain, both named: ` +
          `${p.ratio.toFixed(2)} [per-cycle ${p.range[0].toFixed(2)}–${p.range[1].toFixed(2)}]; ÷ the unnamed db.transaction: scoped ${p.scopedVsUnnamed.toFixed(2)}, plain ${p.plainVsUnnamed.toFixed(2)}`
    const serverLine =
      `server side (${tag}, raw pg vs raw plain): library's scope message ${r.rawRatios['rawLibrary']!.toFixed(2)}` +
      (r.rawRatios['rawDesign'] === undefined ? '' : `, DESIGN.md message (no registry check) ${r.rawRatios['rawDesign'].toFixed(2)}`)
    const msgLine = `library's scope message (${tag}): ${r.message}`
    const userOk = r.scopeUser.actual === r.scopeUser.expected
    if (!userOk) unscoped.push(tag)
    const userLine = userOk
      ? ''
      : `WARNING (${tag}): withTenant ran as ${r.scopeUser.actual}, expected ${r.scopeUser.expected}: the scope ` +
        'did not drop privileges (SET LOCAL ROLE), so these numbers do not measure the designed scope'
    const connLine = r.connects === 1 ? '' : `connections opened (${tag}): ${r.connects} (expected 1: something was destroyed)`
    for (const l of [rtLine, ...familyLines, preparedLine, serverLine, userLine, connLine].filter(Boolean)) {
      lines.push(l)
      md.push(`- ${l}`)
    }
    lines.push(msgLine)
    md.push(`- library's scope message (${tag}): \`${r.message}\``)
  }
  const slow = results.flatMap((r) =>
    [
      { v: r.alone, target: TARGET, what: `1 statement, scoping alone` },
      { v: r.ratio, target: TARGET, what: `1 statement, scoping + RLS` },
      { v: r.alone10, target: TARGET_MULTI, what: `${STMTS} statements, scoping alone` },
      { v: r.ratio10, target: TARGET_MULTI, what: `${STMTS} statements, scoping + RLS` },
      { v: r.filtered, target: TARGET, what: `1 statement, scoping + RLS ÷ WHERE tenant by hand` },
      { v: r.filtered10, target: TARGET_MULTI, what: `${STMTS} statements, scoping + RLS ÷ WHERE tenant by hand` },
    ]
      .filter((x) => x.v < x.target)
      .map((x) => `${tagOf(r)} (${x.what}: ${ratioText(x.v, x.target)} < ${x.target})`),
  )
  const verdict =
    (rtOk ? 'verdict: round trips equal on node-postgres (a scope costs no extra round trip)' : 'verdict: FAIL — a scope costs extra round trips') +
    `; throughput ${slow.length === 0 ? `>= target for every driver, strategy, statement count and family (${TARGET} for 1, ${TARGET_MULTI} for ${STMTS})` : `below target for: ${slow.join(', ')}`}` +
    (unscoped.length === 0 ? '' : `; FAIL — no role switch in: ${unscoped.join(', ')}`)
  const ok = rtOk && unscoped.length === 0
  lines.push(verdict)
  md.push(`- ${verdict}`)

  const env =
    `PostgreSQL ${pgVersion}, Node ${process.version}, pg ${versionOf('pg')}, drizzle-orm ${versionOf('drizzle-orm')}, ` +
    `${process.platform}/${process.arch}; loopback, Pool max 1; ${ROUNDS} cycles × ${ROUND_MS} ms per variant, interleaved in 10 ms blocks ` +
    `(warm-up ${WARMUP_MS} ms); PGlite ${versionOf('@electric-sql/pglite')} in-memory, ${PGLITE_ROUNDS} cycles × ${PGLITE_ROUND_MS} ms; ` +
    `${TENANTS} tenants × ${ROWS_PER_TENANT} rows; run took ${seconds.toFixed(0)} s; ` +
    // Other processes on the machine skew every ratio (per-cycle ranges widen far beyond 0.8–1.1):
    // the load is printed so that a reader can tell a quiet run from a contended one.
    `1-minute load average ${LOAD_AT_START.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end, on ${availableParallelism()} CPUs`
  const markdown = [
    '# Scope overhead benchmark',
    '',
    `Generated by \`npm run bench\` (bench/scope-overhead.ts) on ${new Date().toISOString()}.`,
    '',
    env + '.',
    '',
    '![scope overhead](chart.svg)',
    '',
    `One primary-key select per transaction, or ${STMTS} of them (same tenant) in the "${STMTS} selects" variants, whose`,
    `"vs db.transaction" is relative to \`db.transaction\` with ${STMTS} selects. Targets: ${TARGET} for 1 statement, ${TARGET_MULTI} for ${STMTS},`,
    'held against all three families below.',
    'The "(PGlite)" rows run the same Drizzle variants on embedded in-memory PGlite (a non-superuser owner via',
    '`SET ROLE`, as in examples/demo.ts); there is no network, so their "round trips" column counts calls into',
    "PGlite's WASM backend instead (its own BEGIN and COMMIT included), each of which costs ~40–60 µs.",
    '',
    '"round trips" are `client.query` calls on the pooled',
    'connection, cross-checked with ReadyForQuery messages from the server. Within a cycle the variants take turns',
    'in blocks of ~10 ms on the same keys, only the time inside transactions counted (bench/interleave.ts), so load',
    'bursts land on every variant alike. "vs db.transaction" is the median over cycles of (variant tx/s ÷',
    '`db.transaction` tx/s in the same cycle). The baseline,',
    '`db.transaction`, reads `items_plain` (same rows and indexes, no RLS) as the same non-superuser owner;',
    '"withTenant, items_plain" scopes the same reads (scoping alone), "withTenant, items (RLS)" reads `items`',
    'under FORCE ROW LEVEL SECURITY (scoping + RLS policies). The "named prepared" pair (node-postgres only)',
    `prepares its select once per transaction under a fixed name and runs it ${STMTS} times. "raw pg: BEGIN; SET LOCAL ×2" is the`,
    'DESIGN.md §3 reference: BEGIN and the scope in one simple-query message, without the',
    "library's registry check; \"raw pg: library's scope message\" sends the exact message the library",
    'sends (captured from the wire), so (withTenant − that) is the JavaScript side of the library.',
    '',
    ...md,
    '',
  ].join('\n')
  return { text: [env, '', ...lines].join('\n'), markdown, ok }
}

// ---------------------------------------------------------------------------------------------

const LOAD_AT_START = loadavg()[0]!

async function main(): Promise<void> {
  const t0 = performance.now()
  let ok = false
  try {
    const { pgVersion } = await setup()
    const results: PhaseResult[] = []
    for (const strategy of DRIVERS.includes('node-postgres') ? STRATEGIES : []) {
      process.stderr.write(`measuring strategy '${strategy}'…\n`)
      results.push(await phase(strategy))
    }
    for (const strategy of DRIVERS.includes('pglite') ? STRATEGIES : []) {
      process.stderr.write(`measuring strategy '${strategy}' on PGlite…\n`)
      results.push(await pglitePhase(strategy))
    }
    const out = report(results, pgVersion, (performance.now() - t0) / 1000)
    console.log(out.text)
    if (DRIVERS.length === 2 && STRATEGIES.length === 2) {
      writeFileSync(new URL('./RESULTS.md', import.meta.url), out.markdown)
      writeFileSync(new URL('./chart.svg', import.meta.url), chartSvg(results))
    } else console.error('partial run (BENCH_DRIVERS / BENCH_STRATEGIES): RESULTS.md and chart.svg left as they were')
    ok = out.ok
  } finally {
    if (KEEP) console.error(`BENCH_KEEP=1: kept schema ${SCHEMA} and roles ${OWNER}, ${TENANT_ROLE}, … (a re-run drops them)`)
    else await cleanup().catch((error: unknown) => console.error('cleanup failed:', error))
  }
  if (!ok) process.exitCode = 1
}

await main()
