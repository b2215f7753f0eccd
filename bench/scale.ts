/**
 * Scale benchmark (DESIGN.md §1 and §3), one run against DATABASE_URL:
 *
 * 1. RLS-scoped query (`manager.withTenant`, setting strategy) vs the same query with an explicit
 *    `WHERE tenant = $1` run as admin (`manager.withAdmin`), on 1,000,000 rows over 1,000 tenants:
 *    point query (by id within the tenant) and range query (100 rows of a tenant ordered by id),
 *    plus the EXPLAIN of the scoped queries (taken inside a tenant scope).
 * 2. Tenant scale: creating 100,000 `setting` tenants and 10,000 `role` tenants, first 1,000 vs
 *    last 1,000 via `manager.createTenant` (all of them, one by one), and the cost of
 *    the first scope on a fresh connection with 10,000 role tenants.
 * 3. The Python original's approach reproduced in SQL: `SET SESSION ROLE` + RESET per session
 *    (5 round trips) vs a plain transaction, and per-tenant GRANTs on one table until the ACL no
 *    longer fits in its pg_class row ("row is too big").
 *
 * Everything created carries the prefix `pgt_scale_` and is removed at the end (bench/lib/setup.ts).
 *   npm run bench:scale
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { bigint, pgSchema, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import type { Strategy } from '../src/core/options.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'
import { interleave, median } from './interleave.js'
import { createOwner, DATABASE_URL, loginUrl, serverInfo, superExec, teardown, withClient } from './lib/setup.js'
import { check, keyWalk } from './lib/workload.js'

const PREFIX = 'pgt_scale_'
const SCHEMA = 'pgt_scale'
const OWNER = `${PREFIX}owner`
const TENANT_ROLE = `${PREFIX}rls`
const ADMIN_ROLE = `${PREFIX}admin`
const ROLE_PREFIX = `${PREFIX}t_`
const PY_PREFIX = `${PREFIX}py_`
const ROWS = 1_000_000
const TENANTS = 1_000
/** Rows copied into items_plain, the RLS-free table of part 3. */
const PLAIN_ROWS = 100_000
const SETTING_TENANTS = 100_000
const ROLE_TENANTS = 10_000
const EDGE = 1_000 // first / last tenants created through manager.createTenant
const ACL_MAX = 5_000
const ROUNDS = 25
const ROUND_MS = 200
const INTERLEAVE = { warmupMs: 300, rounds: ROUNDS, roundMs: ROUND_MS }

const s = pgSchema(SCHEMA)
const items = withRls(s.table('items', { id: bigint('id', { mode: 'number' }).primaryKey(), tenant: text('tenant').notNull(), payload: text('payload') }))
const { tenantOf, keyAt } = keyWalk(ROWS, TENANTS)
const plainKeyAt = keyWalk(PLAIN_ROWS, TENANTS).keyAt
const OWNER_URL = loginUrl(DATABASE_URL, OWNER)

const out: string[] = [] // result lines (console + markdown)
const log = (line: string) => {
  console.log(line)
  out.push(line)
}
const progress = (m: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`)

const asOwner = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => withClient(OWNER_URL, fn)

async function countRoles(): Promise<number> {
  const [r] = await superExec<{ n: number }>(DATABASE_URL, `SELECT count(*)::int AS n FROM pg_roles WHERE starts_with(rolname, '${PREFIX}')`)
  return Number(r!.rows[0]?.n)
}

/** Drops the schema and every role with the prefix. */
const cleanup = (): Promise<void> => teardown(DATABASE_URL, { schema: SCHEMA, owner: OWNER, rolePrefix: PREFIX })

function managerFor(pool: pg.Pool, strategy: Strategy) {
  return PostgresManager.fromDrizzle(drizzle({ client: pool }), {
    schema: SCHEMA,
    strategy,
    tenantRole: TENANT_ROLE,
    adminRole: ADMIN_ROLE,
    rolePrefix: ROLE_PREFIX,
    tables: [items],
  })
}

async function migrate(strategy: Strategy): Promise<void> {
  const { up } = migrationSql([items], {
    schema: SCHEMA,
    strategy,
    tenantRole: TENANT_ROLE,
    adminRole: ADMIN_ROLE,
    rolePrefix: ROLE_PREFIX,
    sharedTables: { items_plain: 'read' },
  })
  await asOwner(async (c) => {
    await c.query(up)
    await c.query(`ANALYZE ${SCHEMA}.items`)
  })
}

const ms = (x: number) => `${x.toFixed(3)} ms`
const sec = (x: number) => `${(x / 1000).toFixed(2)} s`

// ---------------------------------------------------------------------------------------------
// 1. scoped vs explicit WHERE at 1M rows

async function part1(): Promise<void> {
  progress('part 1: loading 1,000,000 rows')
  const t0 = performance.now()
  await asOwner((c) =>
    c.query(`
      CREATE TABLE ${SCHEMA}.items (id bigint NOT NULL, tenant text NOT NULL, payload text);
      INSERT INTO ${SCHEMA}.items SELECT g, 't' || (g % ${TENANTS}), md5(g::text) FROM generate_series(1, ${ROWS}) g;
      ALTER TABLE ${SCHEMA}.items ADD PRIMARY KEY (id);
      CREATE INDEX items_tenant_id_idx ON ${SCHEMA}.items (tenant, id);
      CREATE TABLE ${SCHEMA}.items_plain AS SELECT * FROM ${SCHEMA}.items WHERE id <= ${PLAIN_ROWS};
      ALTER TABLE ${SCHEMA}.items_plain ADD PRIMARY KEY (id);
      ANALYZE ${SCHEMA}.items_plain;`),
  )
  const loadMs = performance.now() - t0
  await migrate('setting')
  const setupMs = performance.now() - t0
  log(`## 1. RLS scope vs explicit WHERE tenant = $1 (${ROWS.toLocaleString('en-US')} rows, ${TENANTS.toLocaleString('en-US')} tenants)`)
  log('')
  log(
    `- load (INSERT … SELECT generate_series + indexes, as the owner): ${sec(loadMs)}; with migration (ENABLE/FORCE RLS, policies, tenant index) and ANALYZE: ${sec(setupMs)}`,
  )

  const pool = new pg.Pool({ connectionString: OWNER_URL, max: 1 })
  try {
    const manager = managerFor(pool, 'setting')
    await asOwner((c) => c.query(`INSERT INTO ${SCHEMA}.tenant_registry (id) SELECT 't' || g FROM generate_series(0, ${TENANTS - 1}) g`))
    const lat = await interleave(
      {
        scopedPoint: async (i) => {
          const k = keyAt(i)
          const rows = await manager.withTenant(tenantOf(k), (tx) => tx.select().from(items).where(eq(items.id, k)))
          check(rows.length === 1 && rows[0]!.tenant === tenantOf(k), `scoped point ${k}`)
        },
        explicitPoint: async (i) => {
          const k = keyAt(i)
          const rows = await manager.withAdmin((tx) =>
            tx
              .select()
              .from(items)
              .where(and(eq(items.tenant, tenantOf(k)), eq(items.id, k))),
          )
          check(rows.length === 1, `explicit point ${k}`)
        },
        scopedRange: async (i) => {
          const t = tenantOf(keyAt(i))
          const rows = await manager.withTenant(t, (tx) => tx.select().from(items).orderBy(items.id).limit(100))
          check(rows.length === 100 && rows.every((r) => r.tenant === t), `scoped range ${t}`)
        },
        explicitRange: async (i) => {
          const t = tenantOf(keyAt(i))
          const rows = await manager.withAdmin((tx) => tx.select().from(items).where(eq(items.tenant, t)).orderBy(items.id).limit(100))
          check(rows.length === 100, `explicit range ${t}`)
        },
      },
      INTERLEAVE,
    )
    const ratio = (a: string, b: string) => median(lat[a]!.map((x, r) => x / lat[b]![r]!))
    const rp = ratio('scopedPoint', 'explicitPoint')
    const rr = ratio('scopedRange', 'explicitRange')
    log('')
    log('| query | withTenant (RLS) median | withAdmin + WHERE tenant median | scoped / explicit (target <= 1.05) |')
    log('|---|---:|---:|---:|')
    log(
      `| point (id within tenant) | ${ms(median(lat['scopedPoint']!))} | ${ms(median(lat['explicitPoint']!))} | ${rp.toFixed(3)}x ${rp <= 1.05 ? 'OK' : 'ABOVE TARGET'} |`,
    )
    log(
      `| range (100 rows by id) | ${ms(median(lat['scopedRange']!))} | ${ms(median(lat['explicitRange']!))} | ${rr.toFixed(3)}x ${rr <= 1.05 ? 'OK' : 'ABOVE TARGET'} |`,
    )
    log('')
    log(
      `(median latency per transaction over ${ROUNDS} cycles of ${ROUND_MS} ms per variant, interleaved in 10 ms blocks, one pooled connection; the ratio is the median of per-cycle ratios)`,
    )

    for (const [name, q] of [
      ['point', sql`EXPLAIN SELECT * FROM ${sql.raw(SCHEMA)}.items WHERE id = ${keyAt(7)}`],
      ['range', sql`EXPLAIN SELECT * FROM ${sql.raw(SCHEMA)}.items ORDER BY id LIMIT 100`],
    ] as const) {
      const r = await manager.withTenant(tenantOf(keyAt(7)), (tx) => tx.execute(q))
      const plan = (r as unknown as { rows: Record<string, unknown>[] }).rows.map((row) => String(row['QUERY PLAN']))
      const indexOnTenant = plan.some((l) => /Index Cond: .*tenant/.test(l))
      log('')
      log(`EXPLAIN of the scoped ${name} query inside withTenant: Index Cond on tenant: ${indexOnTenant ? 'yes' : 'NO'}`)
      log('```')
      for (const l of plan) log(l)
      log('```')
    }
  } finally {
    await pool.end()
  }
}

// ---------------------------------------------------------------------------------------------
// 2. tenant scale

interface Creation {
  first: number
  last: number
  total: number
}

/** Creates tenants prefix0 … prefix(n-1) one by one, timing the first and the last EDGE. */
async function createAll(manager: ReturnType<typeof managerFor>, n: number, prefix: string): Promise<Creation> {
  const chunks: number[] = []
  const t0 = performance.now()
  for (let from = 0; from < n; from += EDGE) {
    const c0 = performance.now()
    for (let i = from; i < Math.min(from + EDGE, n); i++) await manager.createTenant(`${prefix}${i}`)
    chunks.push(performance.now() - c0)
  }
  return { first: chunks[0]!, last: chunks[chunks.length - 1]!, total: performance.now() - t0 }
}

function row(strategy: string, n: number, c: Creation): string {
  const r = c.last / c.first
  return `| ${strategy} | ${n.toLocaleString('en-US')} | ${sec(c.total)} | ${sec(c.first)} | ${sec(c.last)} | ${r.toFixed(2)}x ${r <= 1.2 ? 'OK' : 'ABOVE TARGET'} |`
}

async function part2(): Promise<void> {
  log('')
  log('## 2. Tenant scale')
  log('')
  log('| strategy | tenants | all via createTenant | first 1,000 | last 1,000 | last / first (target <= 1.2) |')
  log('|---|---:|---:|---:|---:|---:|')
  const pool = new pg.Pool({ connectionString: OWNER_URL, max: 1 })
  try {
    progress(`part 2: ${SETTING_TENANTS} setting tenants`)
    const setting = await createAll(managerFor(pool, 'setting'), SETTING_TENANTS, 's')
    const nReg = await asOwner((c) => c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.tenant_registry WHERE id LIKE 's%'`))
    if (Number(nReg.rows[0]?.n) !== SETTING_TENANTS) throw new Error(`registry holds ${String(nReg.rows[0]?.n)} tenants`)
    log(row('setting', SETTING_TENANTS, setting))

    progress(`part 2: ${ROLE_TENANTS} role tenants`)
    await migrate('role')
    const role = await createAll(managerFor(pool, 'role'), ROLE_TENANTS, 'r')
    const [nRoles] = await superExec<{ n: number }>(DATABASE_URL, `SELECT count(*)::int AS n FROM pg_roles WHERE starts_with(rolname, '${ROLE_PREFIX}')`)
    if (Number(nRoles!.rows[0]?.n) !== ROLE_TENANTS) throw new Error(`${String(nRoles!.rows[0]?.n)} tenant roles exist`)
    log(row('role', ROLE_TENANTS, role))
    log('')
    log(
      `Every tenant was created one by one through manager.createTenant on one pooled connection (no bulk SQL); the counts were checked afterwards (registry rows, roles with the prefix). "last / first" compares the last ${EDGE.toLocaleString('en-US')} creations with the first ${EDGE.toLocaleString('en-US')}.`,
    )
  } finally {
    await pool.end()
  }

  progress('part 2: first scope on a fresh connection')
  const firsts: number[] = []
  const seconds: number[] = []
  for (let i = 0; i < 3; i++) {
    const pool2 = new pg.Pool({ connectionString: OWNER_URL, max: 1 })
    try {
      const m = managerFor(pool2, 'role')
      await pool2.query('SELECT 1') // the connection itself is not part of the scope's cost
      const tenant = `r${ROLE_TENANTS - 1 - i}`
      const go = async () => {
        const t0 = performance.now()
        const rows = await m.withTenant(tenant, (tx) => tx.select().from(items).limit(1))
        if (rows.length !== 0) throw new Error('a role tenant without rows saw rows')
        return performance.now() - t0
      }
      firsts.push(await go())
      seconds.push(await go())
    } finally {
      await pool2.end()
    }
  }
  log('')
  log(
    `First scope on a fresh connection with ${ROLE_TENANTS.toLocaleString('en-US')} role tenants (new pg.Pool, connection opened first; median of 3 pools): first withTenant ${ms(median(firsts))}, second ${ms(median(seconds))} (${(median(firsts) / median(seconds)).toFixed(1)}x; firsts ${firsts.map((x) => x.toFixed(1)).join(', ')} ms)`,
  )
}

// ---------------------------------------------------------------------------------------------
// 3. the Python original's approach in SQL

async function part3(): Promise<void> {
  log('')
  log("## 3. The Python original's approach, reproduced in SQL")
  log('')
  progress('part 3: SET SESSION ROLE per session')
  const client = new pg.Client({ connectionString: OWNER_URL })
  await client.connect()
  try {
    const role = (k: number) => pg.escapeIdentifier(`${ROLE_PREFIX}r${k % 1000}`)
    const rlsSelect = `SELECT id, tenant, payload FROM ${SCHEMA}.items WHERE id = $1`
    const plainSelect = `SELECT id, tenant, payload FROM ${SCHEMA}.items_plain WHERE id = $1`
    const lat = await interleave(
      {
        plain: async (i) => {
          const k = plainKeyAt(i)
          await client.query('BEGIN')
          const r = await client.query(plainSelect, [k])
          await client.query('COMMIT')
          if (r.rows.length !== 1) throw new Error('plain select')
        },
        sessionRole: async (i) => {
          const k = plainKeyAt(i)
          await client.query(`SET SESSION ROLE ${role(k)}`)
          await client.query('BEGIN')
          await client.query(rlsSelect, [k])
          await client.query('COMMIT')
          await client.query('RESET ROLE')
        },
        localRole: async (i) => {
          const k = plainKeyAt(i)
          await client.query(`BEGIN; SET LOCAL ROLE ${role(k)}`)
          await client.query(rlsSelect, [k])
          await client.query('COMMIT')
        },
      },
      INTERLEAVE,
    )
    const rel = (k: string) => median(lat[k]!.map((x, r) => lat['plain']![r]! / x))
    log('| variant | round trips | median latency | throughput vs plain |')
    log('|---|---:|---:|---:|')
    log(`| plain: BEGIN; SELECT by PK; COMMIT (no RLS) | 3 | ${ms(median(lat['plain']!))} | 1.00 |`)
    log(`| original: SET SESSION ROLE; BEGIN; SELECT; COMMIT; RESET ROLE | 5 | ${ms(median(lat['sessionRole']!))} | ${rel('sessionRole').toFixed(2)} |`)
    log(`| library shape: BEGIN; SET LOCAL ROLE (one message); SELECT; COMMIT | 3 | ${ms(median(lat['localRole']!))} | ${rel('localRole').toFixed(2)} |`)
    log('')
    log(
      `(one connection as the owner, ${ROLE_TENANTS.toLocaleString('en-US')} tenant roles exist; the role tenants own no rows, so the RLS selects return none)`,
    )
  } finally {
    await client.end()
  }

  progress('part 3: per-tenant GRANT until the ACL overflows')
  const t0 = performance.now()
  const acl = await asOwner(async (c) => {
    await c.query(`CREATE TABLE ${SCHEMA}.acl_probe (id int); CREATE TEMP TABLE acl_result (n int, err text)`)
    for (let from = 1; from <= ACL_MAX; from += 500) {
      const to = Math.min(from + 499, ACL_MAX)
      await c.query(`DO $$ DECLARE r text; BEGIN
        FOR g IN ${from}..${to} LOOP
          r := '${PY_PREFIX}' || g;
          BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ${SCHEMA}.acl_probe TO %I', r);
          EXCEPTION WHEN others THEN
            INSERT INTO acl_result VALUES (g, SQLERRM);
            EXIT;
          END;
        END LOOP; END $$`)
      const r = await c.query<{ n: number; err: string }>('SELECT n, err FROM acl_result')
      const failed = r.rows[0]
      if (failed) return { failedAt: Number(failed.n), err: String(failed.err) }
    }
    return { failedAt: 0, err: '' }
  })
  const took = performance.now() - t0
  log('')
  if (acl.failedAt > 0)
    log(
      `Per-tenant GRANT SELECT, INSERT, UPDATE, DELETE on one table: ${(acl.failedAt - 1).toLocaleString('en-US')} grants succeeded; grant #${acl.failedAt.toLocaleString('en-US')} failed with "${acl.err}" (${sec(took)}). The library's role strategy grants once, to the group role: the ACL stays at a constant size.`,
    )
  else log(`Per-tenant GRANT on one table: no failure up to ${ACL_MAX.toLocaleString('en-US')} grants (stopped there, ${sec(took)}).`)
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now()
  const who = await serverInfo(DATABASE_URL)
  if (!who.superuser) throw new Error(`DATABASE_URL must log in as a superuser (to create ${OWNER}).`)
  await cleanup()
  let failed = false
  try {
    await createOwner(DATABASE_URL, OWNER, SCHEMA)
    await part1()
    await part2()
    await part3()
  } catch (error) {
    failed = true
    console.error(error)
  } finally {
    progress('cleanup')
    await cleanup().catch((error: unknown) => {
      failed = true
      console.error('cleanup failed:', error)
    })
  }
  const left = await countRoles()
  const total = (performance.now() - t0) / 1000
  log('')
  log(
    `PostgreSQL ${who.version}, Node ${process.version}, ${process.platform}/${process.arch}; run took ${total.toFixed(0)} s; roles with prefix ${PREFIX} left after cleanup: ${left}`,
  )
  if (left !== 0) failed = true
  if (!failed) {
    const file = new URL('./SCALE.md', import.meta.url)
    const head = existsSync(file) ? '' : '# Scale benchmark\n\nGenerated by `npm run bench:scale` (bench/scale.ts).\n\n'
    if (head) writeFileSync(file, head)
    appendFileSync(file, `---\n\nRun of ${new Date().toISOString()}\n\n${out.join('\n')}\n\n`)
  }
  if (failed) process.exitCode = 1
}

await main()
