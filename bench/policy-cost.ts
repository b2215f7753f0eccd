/**
 * Where the per-statement cost of a scope goes, with raw node-postgres (no ORM, no library): the
 * same primary-key select, 1 or 10 per transaction, against tables that differ only in their
 * row-level security policies, and with or without the role switch and the plan cache.
 *
 *   npx tsx bench/policy-cost.ts                      # 15 cycles × 250 ms per variant
 *   COST_ROUNDS=25 COST_ROUND_MS=300 npx tsx bench/policy-cost.ts
 *
 * As the superuser of DATABASE_URL it creates the schema `pgt_cost` and roles `pgt_cost_*`,
 * measures as a non-superuser login that owns the tables (FORCE RLS, so RLS applies to it) and
 * drops everything at the end. Prints markdown tables: the server-side µs per statement (a
 * plpgsql loop, planned every time, no network), the per-row cost of a policy used as a filter,
 * and, over the network: tx/s median, ratio to the no-RLS baseline (median of per-cycle ratios)
 * and the extra µs per statement.
 *
 *   COST_SERVER_ONLY=1 npx tsx bench/policy-cost.ts   # the server-side tables only (~1 min)
 *   COST_ONLY='(a),(b),(e2)' npx tsx bench/policy-cost.ts   # some variants ((a) must stay first)
 */
import type pg from 'pg'
import { interleave, median, perSecond, throughputRatio } from './interleave.js'
import { DATABASE_URL, loginUrl, superExec, teardown, withClient } from './lib/setup.js'
import { keyWalk } from './lib/workload.js'

const ROUNDS = Number(process.env['COST_ROUNDS'] ?? 15)
const ROUND_MS = Number(process.env['COST_ROUND_MS'] ?? 250)
const ONLY = process.env['COST_ONLY']?.split(',')
const SCHEMA = 'pgt_cost'
const OWNER = 'pgt_cost_owner'
const RLS = 'pgt_cost_rls'
const ADMIN = 'pgt_cost_admin'
const KEY = 'pg_tenants.tenant'
const PREFIX = 'pgt_cost_t_'
const TENANTS = 10
const ROWS = 10_000

/** Policy conditions. */
const SUBSELECT = `tenant = (SELECT nullif(current_setting('${KEY}', true), '')::text)`
const SUBSELECT_NO_NULLIF = `tenant = (SELECT current_setting('${KEY}', true))`
const PLAIN_EXPR = `tenant = nullif(current_setting('${KEY}', true), '')`

/** The `role` strategy's condition: the tenant is the current role's name after a prefix. */
const ROLE_SUBSELECT = `tenant = (SELECT CASE WHEN starts_with(current_user::text, '${PREFIX}') THEN substr(current_user::text, ${PREFIX.length + 1}) COLLATE "default" END)`
const ROLE_PLAIN = `tenant = CASE WHEN starts_with(current_user::text, '${PREFIX}') THEN substr(current_user::text, ${PREFIX.length + 1}) COLLATE "default" END`

/** One policy on %t (the table name is substituted later), for all commands. */
const policy = (name: string, kind: 'RESTRICTIVE' | 'PERMISSIVE', to: string, cond: string) =>
  `CREATE POLICY ${name} ON %t AS ${kind} FOR ALL TO ${to} USING (${cond}) WITH CHECK (${cond})`
const admin = policy('adm', 'PERMISSIVE', ADMIN, 'true')
/** The library's shape: the condition RESTRICTIVE for the tenant role, PERMISSIVE (`access`,
 * with its own condition) to `accessTo`, and the admin's `true`. */
const trio = (cond: string, access = cond, accessTo = 'public') => [
  policy('iso', 'RESTRICTIVE', RLS, cond),
  policy('acc', 'PERMISSIVE', accessTo, access),
  admin,
]

/** The policies of each table. */
const SHAPES: Record<string, string[]> = {
  plain: [],
  // What src/core/migration.ts creates today.
  current: trio(SUBSELECT),
  // RESTRICTIVE condition, PERMISSIVE true: the condition (and its InitPlan) once.
  restrictive_true: trio(SUBSELECT, 'true', RLS),
  // The same, with the permissive one TO public (as drizzle-kit needs it).
  restrictive_true_public: trio(SUBSELECT, 'true'),
  single_permissive: [policy('acc', 'PERMISSIVE', RLS, SUBSELECT), admin],
  current_no_nullif: trio(SUBSELECT_NO_NULLIF),
  current_no_subselect: trio(PLAIN_EXPR),
  restrictive_true_public_no_subselect: trio(PLAIN_EXPR, 'true'),
  role_current: trio(ROLE_SUBSELECT),
  role_no_subselect: trio(ROLE_PLAIN),
}

interface Variant {
  name: string
  table: string
  prelude: string
  named: boolean
}

const scope = (t: string) => `BEGIN; SET LOCAL ${KEY} = '${t}'; SET LOCAL ROLE ${RLS}`
const VARIANTS: Variant[] = [
  { name: '(a) no RLS, no scope (baseline)', table: 'plain', prelude: 'BEGIN', named: false },
  { name: '(f0) no RLS, SET LOCAL setting only', table: 'plain', prelude: `BEGIN; SET LOCAL ${KEY} = '%t'`, named: false },
  { name: '(f) no RLS, setting + SET LOCAL ROLE', table: 'plain', prelude: scope('%t'), named: false },
  { name: '(b) current policies', table: 'current', prelude: scope('%t'), named: false },
  { name: '(c) RESTRICTIVE cond + PERMISSIVE true TO rls', table: 'restrictive_true', prelude: scope('%t'), named: false },
  { name: '(c′) RESTRICTIVE cond + PERMISSIVE true TO public', table: 'restrictive_true_public', prelude: scope('%t'), named: false },
  { name: '(d) single PERMISSIVE cond', table: 'single_permissive', prelude: scope('%t'), named: false },
  { name: '(e1) current, no nullif', table: 'current_no_nullif', prelude: scope('%t'), named: false },
  { name: '(e2) current, no sub-select', table: 'current_no_subselect', prelude: scope('%t'), named: false },
  { name: '(e3) (c′) without sub-select', table: 'restrictive_true_public_no_subselect', prelude: scope('%t'), named: false },
  { name: '(r0) role strategy: no RLS, SET LOCAL ROLE tenant', table: 'plain', prelude: `BEGIN; SET LOCAL ROLE ${PREFIX}%t`, named: false },
  { name: '(r1) role strategy: current policies', table: 'role_current', prelude: `BEGIN; SET LOCAL ROLE ${PREFIX}%t`, named: false },
  { name: '(r2) role strategy: no sub-select', table: 'role_no_subselect', prelude: `BEGIN; SET LOCAL ROLE ${PREFIX}%t`, named: false },
  { name: '(g) no RLS, named prepared', table: 'plain', prelude: 'BEGIN', named: true },
  { name: '(g) current policies, named prepared', table: 'current', prelude: scope('%t'), named: true },
].filter((v) => !ONLY || ONLY.some((o) => v.name.includes(o)))

const OWNER_URL = loginUrl(DATABASE_URL, OWNER)
const cleanup = (): Promise<void> => teardown(DATABASE_URL, { schema: SCHEMA, owner: OWNER, roles: [RLS, ADMIN], rolePrefix: PREFIX })

async function setup(): Promise<void> {
  await cleanup()
  await superExec(
    DATABASE_URL,
    `CREATE ROLE ${OWNER} LOGIN NOSUPERUSER NOBYPASSRLS;
    CREATE ROLE ${RLS} NOLOGIN; CREATE ROLE ${ADMIN} NOLOGIN; GRANT ${RLS}, ${ADMIN} TO ${OWNER};
    ${Array.from({ length: TENANTS }, (_, i) => `CREATE ROLE ${PREFIX}t${i} NOLOGIN IN ROLE ${RLS}; GRANT ${PREFIX}t${i} TO ${OWNER};`).join('\n')}
    CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${OWNER}; GRANT USAGE ON SCHEMA ${SCHEMA} TO ${RLS}, ${ADMIN};`,
  )
  await withClient(OWNER_URL, async (c) => {
    for (const [name, policies] of Object.entries(SHAPES)) {
      const t = `${SCHEMA}.${name}`
      await c.query(`CREATE TABLE ${t} (id serial PRIMARY KEY, tenant text NOT NULL CHECK (tenant <> ''), payload text);
        INSERT INTO ${t} SELECT g, 't' || (g % ${TENANTS}), md5(g::text) FROM generate_series(1, ${ROWS}) g;
        CREATE INDEX ON ${t} (tenant);
        GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ${RLS}, ${ADMIN};
        ${policies.length ? `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;` : ''}
        ${policies.map((p) => p.replaceAll('%t', t) + ';').join('\n')}
        ANALYZE ${t};`)
    }
    // Server-side per-statement cost: EXECUTE plans every time, like an unnamed statement.
    await c.query(`CREATE FUNCTION ${SCHEMA}.loop(tbl text, n int) RETURNS float8 LANGUAGE plpgsql AS $f$
      DECLARE t0 timestamptz; r record; q text := format('select id, tenant, payload from ${SCHEMA}.%I where id = $1', tbl);
      BEGIN
        t0 := clock_timestamp();
        FOR i IN 1..n LOOP
          EXECUTE q INTO STRICT r USING 4 + ${TENANTS} * ((i * 37) % ${ROWS / TENANTS - 1});
        END LOOP;
        RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
      END $f$`)
  })
}

const { keyAt, keyOf, tenantOf } = keyWalk(ROWS, TENANTS)

async function runTx(c: pg.Client, v: Variant, i: number, n: number): Promise<void> {
  const t = tenantOf(keyAt(i))
  await c.query(v.prelude.replaceAll('%t', t))
  const text = `select "id", "tenant", "payload" from "${SCHEMA}"."${v.table}" where "${v.table}"."id" = $1`
  for (let j = 0; j < n; j++) {
    const k = keyOf(i, j)
    const config = v.named ? { name: `q_${v.table}`, text, values: [k] } : { text, values: [k] }
    const r = await c.query<{ tenant: string }>(config)
    if (r.rows.length !== 1 || r.rows[0]?.tenant !== t) throw new Error(`${v.name}: wrong row for key ${k}`)
  }
  await c.query('COMMIT')
}

async function explainIndexUse(c: pg.Client): Promise<string[]> {
  // Does the policy's tenant condition reach the tenant index? A whole-table read as a tenant:
  // only the policy can restrict it.
  const out: string[] = []
  for (const table of ['current', 'current_no_subselect', 'role_current', 'role_no_subselect']) {
    await c.query(table.startsWith('role') ? `BEGIN; SET LOCAL ROLE ${PREFIX}t3` : scope('t3'))
    const r = await c.query(`EXPLAIN SELECT count(*) FROM ${SCHEMA}.${table}`)
    await c.query('ROLLBACK')
    out.push(`${table}: ${r.rows.map((x: Record<string, string>) => x['QUERY PLAN']!.trim()).join(' | ')}`)
  }
  return out
}

/** µs per statement inside the server (no network, no client): median over interleaved rounds. */
async function serverSide(c: pg.Client): Promise<string[]> {
  const cases = VARIANTS.filter((v) => !v.named)
  const us: number[][] = cases.map(() => [])
  const n = Number(process.env['COST_LOOP'] ?? 20_000)
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < cases.length; j++) {
      const idx = (j + r) % cases.length
      const v = cases[idx]!
      const results = (await c.query(
        `${v.prelude.replaceAll('%t', 't4')}; SELECT ${SCHEMA}.loop('${v.table}', ${n}) AS us; ROLLBACK`,
      )) as unknown as pg.QueryResult<{ us: number }>[]
      const res = results.find((x) => x.command === 'SELECT')
      if (r > 0) us[idx]!.push(Number(res?.rows[0]?.us ?? NaN)) // round 0: warm-up
    }
  }
  const base = median(us[0]!)
  return cases.map((v, idx) => `| ${v.name} | ${median(us[idx]!).toFixed(2)} | ${(median(us[idx]!) - base).toFixed(2)} |`)
}

/** What a policy costs per row when its condition is a filter, not an index condition (a
 * sequential scan of the whole table as a tenant): the sub-select is computed once per
 * statement, the bare expression once per row. */
async function perRowCost(c: pg.Client): Promise<string[]> {
  const tables = ['plain', 'current', 'current_no_subselect']
  const ms: number[][] = tables.map(() => [])
  for (let r = 0; r < 11; r++) {
    for (const [idx, table] of tables.entries()) {
      const results = (await c.query(
        `${scope('t4')}; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
         EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT count(*) FROM ${SCHEMA}.${table}; ROLLBACK`,
      )) as unknown as pg.QueryResult[]
      const plan = results.flatMap((x) => x.rows.map((row: Record<string, string>) => row['QUERY PLAN'] ?? ''))
      const time = plan.map((line) => /Execution Time: ([\d.]+)/.exec(line)?.[1]).find(Boolean)
      if (r > 0) ms[idx]!.push(Number(time))
    }
  }
  return tables.map((t, idx) => `| ${t} | ${median(ms[idx]!).toFixed(2)} | ${((median(ms[idx]!) * 1000) / ROWS).toFixed(3)} |`)
}

async function main(): Promise<void> {
  await setup()
  try {
    await withClient(OWNER_URL, async (c) => {
      const plans = await explainIndexUse(c)
      const server = await serverSide(c)
      const perRow = await perRowCost(c)
      console.log(`Sequential scan of all ${ROWS} rows as a tenant (index scans off), median of 10\n`)
      console.log('| table | ms | µs per row |')
      console.log('|---|---:|---:|')
      console.log(perRow.join('\n') + '\n')
      console.log('Server side: µs per select (plpgsql EXECUTE loop, planned every time), median of rounds\n')
      console.log('| variant | µs per statement | extra vs (a) |')
      console.log('|---|---:|---:|')
      console.log(server.join('\n') + '\n')
      if (process.env['COST_SERVER_ONLY'] === '1') return
      const rows: string[] = []
      for (const n of [1, 10]) {
        const ms = await interleave(Object.fromEntries(VARIANTS.map((v) => [v.name, (i: number) => runTx(c, v, i, n)])), {
          warmupMs: 300,
          rounds: ROUNDS,
          roundMs: ROUND_MS,
        })
        const base = ms[VARIANTS[0]!.name]!
        for (const v of VARIANTS) {
          const xs = ms[v.name]!
          const ratio = throughputRatio(ms, v.name, VARIANTS[0]!.name).ratio
          const extraUs = (median(xs.map((x, r) => x - base[r]!)) * 1000) / n
          rows.push(`| ${n} | ${v.name} | ${Math.round(median(perSecond(xs))).toLocaleString('en-US')} | ${ratio.toFixed(3)} | ${extraUs.toFixed(1)} |`)
        }
      }
      console.log(
        `PostgreSQL via ${new URL(DATABASE_URL).host}, ${ROUNDS} cycles × ${ROUND_MS} ms per variant, interleaved in 10 ms blocks, ${ROWS} rows, one connection\n`,
      )
      console.log('| stmts/tx | variant | tx/s | vs (a) | extra µs per statement |')
      console.log('|---:|---|---:|---:|---:|')
      console.log(rows.join('\n'))
      console.log('\nEXPLAIN SELECT count(*) as tenant t3:')
      for (const p of plans) console.log(`- ${p}`)
    })
  } finally {
    if (process.env['COST_KEEP'] !== '1') await cleanup()
  }
}

await main()
