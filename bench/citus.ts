/**
 * Citus mode (`citus: true`, docs/scale-out.md), measured in one run on a Citus cluster, for both
 * strategies, on a table distributed by its tenant column (200,000 rows; 1,000 tenants with the
 * `setting` strategy, 200 with `role`, a role each; ~6,250 rows per shard at 32 shards):
 *
 * 1. Per-transaction throughput, interleaved in 10 ms blocks (bench/interleave.ts), medians of
 *    per-cycle ratios, on one pool connection (Pool max 1) and with 8 clients at once (Pool max 8):
 *    a. baseline: `BEGIN; SELECT … WHERE tenant = $1 AND id = $2; COMMIT`, logged in as a
 *       BYPASSRLS role (not a superuser, not the owner): the same routed point query, unscoped,
 *       with no RLS filter;
 *    b. routed: `engine.run({ kind: 'tenant', id, createIfMissing: false }, the same query)`:
 *       Citus routes it to one shard; the scope checks that the tenant exists, every time;
 *    b'. known: the same with `createIfMissing: true` for a tenant the engine saw in the last
 *       30 s: no existence check;
 *    c. unrouted: the same scope, `… WHERE id = $1` (no tenant in the query): RLS filters, and
 *       Citus fans out to every shard.
 *    Ratios b/a (the issue's reference: 0.78–0.84), b'/a, and c/b (the cost of the fan-out); per
 *    transaction, the messages to the coordinator and the connections it opened to the workers
 *    (citus_stat_counters); the backends it left open on the workers.
 * 2. The plans: EXPLAIN inside a scope on the coordinator (Task Count: 1 routed, one per shard
 *    unrouted), and on the worker holding tenant t1's shard, as that tenant: the shard queries'
 *    plans (does the tenant index serve the policy, which has no sub-select in Citus mode?) and
 *    EXPLAIN ANALYZE of the unrouted count on that shard against a seq scan and a hand-written filter.
 *
 * Setup (bench/citus/setup.ts): as the superuser of CITUS_URL, a LOGIN owner and a BYPASSRLS
 * login, per strategy a schema migrated in Citus mode; all named `pgt_citus_*`, dropped at the
 * end, on the workers too. Every answer is checked, and before measuring each strategy checks
 * isolation (bench/citus/checks.ts). Throughput is reported, never asserted. Exit code 2 without
 * CITUS_URL; 1 on a wrong row (thrown), or when the cluster failed a run (reported in its row: the
 * `role` strategy's connections per tenant role can exhaust the workers' connection slots).
 *
 *   CITUS_URL=postgres://postgres@127.0.0.1:9700/citus npm run bench:citus
 *   BENCH_STRATEGIES=role BENCH_CLIENTS=1 BENCH_ROUNDS=25 BENCH_ROUND_MS=200 npm run bench:citus
 *   (defaults: both strategies, 1 and 8 clients, 15 cycles of 300 ms per variant; ~1.5 min)
 *
 * @module
 */
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Strategy } from '../src/core/options.js'
import { checkIsolation } from './citus/checks.js'
import { measure, openWorld, VARIANTS, type Costs, type Measured } from './citus/measure.js'
import { PLAN_TENANT, plans, workerBackends, type Plans } from './citus/plans.js'
import { BYPASS, cleanUp, dropStrategy, PREFIX, ROWS, setUpCluster, setUpStrategy, TENANTS } from './citus/setup.js'

const CITUS_URL = process.env['CITUS_URL']
const intEnv = (name: string, fallback: number) => {
  const v = Number(process.env[name])
  return Number.isInteger(v) && v > 0 ? v : fallback
}
const STRATEGIES = (process.env['BENCH_STRATEGIES'] ?? 'setting,role').split(',') as Strategy[]
const CLIENTS = (process.env['BENCH_CLIENTS'] ?? '1,8').split(',').map(Number)
const INTERLEAVE = { warmupMs: 300, rounds: intEnv('BENCH_ROUNDS', 15), roundMs: intEnv('BENCH_ROUND_MS', 300) }

type Backends = { backends: number; roles: number }
/** One clients setting: measured, or the error that stopped it (and the worker backends then). */
type Run = { clients: number; backends: Backends } & ({ measured: Measured } | { error: string })

interface StrategyResult {
  readonly strategy: Strategy
  readonly tenantSeconds: number
  readonly runs: readonly Run[]
  readonly plans: Plans
}

const progress = (m: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`)

async function measureStrategy(url: string, strategy: Strategy, workers: readonly string[]): Promise<StrategyResult> {
  progress(`strategy '${strategy}': table, ${ROWS} rows, migration, ${TENANTS[strategy]} tenants…`)
  const tenantSeconds = await setUpStrategy(url, strategy)
  const runs: Run[] = []
  let planned: Plans | undefined
  for (const clients of CLIENTS) {
    const world = openWorld(url, strategy, clients)
    try {
      if (!planned) {
        await checkIsolation(world, strategy)
        planned = await plans(url, world, strategy)
      }
      progress(`strategy '${strategy}': measuring, ${clients} client${clients === 1 ? '' : 's'}…`)
      try {
        const measured = await measure(url, world, strategy, clients, INTERLEAVE)
        runs.push({ clients, measured, backends: await workerBackends(url, workers, PREFIX) })
      } catch (error) {
        // Reported, not thrown: what failed on Citus is a finding (a wrong row still throws: checks).
        if (/^wrong result/.test((error as Error).message)) throw error
        const backends = await workerBackends(url, workers, PREFIX)
        progress(`strategy '${strategy}', ${clients} clients: failed: ${(error as Error).message}`)
        runs.push({ clients, error: (error as Error).message, backends })
      }
    } finally {
      await world.close()
    }
  }
  await dropStrategy(url, strategy)
  return { strategy, tenantSeconds, runs, plans: planned! }
}

const f2 = (x: number) => x.toFixed(2)
const ratio = (r: { ratio: number; range: [number, number] }) => `${f2(r.ratio)} (${f2(r.range[0])}–${f2(r.range[1])})`

function report(
  results: readonly StrategyResult[],
  facts: { citus: string; shards: number; workers: string[]; settings: string; seconds: number; loadAtStart: number },
): string {
  const out: string[] = []
  const { rounds, roundMs } = INTERLEAVE
  out.push(
    `Citus ${facts.citus}, ${facts.shards} shards on ${facts.workers.join(', ')}; ${ROWS} rows; ` + `tenants: setting ${TENANTS.setting}, role ${TENANTS.role}`,
  )
  out.push(facts.settings)
  out.push(
    `${rounds} cycles × ${roundMs} ms per variant, 10 ms blocks, interleaved; tx/s and ratios are medians (ratios: of per-cycle ratios, range in brackets)`,
  )
  out.push(`a  baseline: BEGIN; SELECT tenant, id, title FROM items WHERE tenant = $1 AND id = $2; COMMIT, logged in as ${BYPASS} (BYPASSRLS, no superuser)`)
  out.push("b  routed:   engine.run({ kind: 'tenant', id, createIfMissing: false }, the same SELECT): checks the tenant exists, every scope")
  out.push("b' known:    the same, createIfMissing: true, tenant seen in the last 30 s: no existence check")
  out.push('c  unrouted: engine.run(the same scope, SELECT … WHERE id = $1): RLS filters, Citus fans out')
  out.push('8 clients: 8 transactions started together on a Pool of 8, awaited together, as one step of the interleave')
  out.push('messages (to the coordinator), worker connections opened and reused (citus_stat_counters): per transaction, over 40 steps after the throughput run')
  out.push('')
  out.push(
    "| strategy | clients | a tx/s | b tx/s | b' tx/s | c tx/s | b/a scoped ÷ unscoped | b'/a | c/b fan-out | messages a / b / b' / c | worker connections opened a / b / b' / c | reused a / b / b' / c | worker backends after (roles) |",
  )
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of results) {
    for (const run of r.runs) {
      const after = `${run.backends.backends} (${run.backends.roles})`
      if ('error' in run) {
        out.push(`| ${r.strategy} | ${run.clients} | failed: ${run.error} | | | | | | | | | | ${after} |`)
        continue
      }
      const m = run.measured
      const per = (f: (c: Costs) => number | undefined, digits: number) =>
        VARIANTS.map((k) => {
          const x = f(m.costs[k])
          return x === undefined ? 'n/a' : x.toFixed(digits)
        }).join(' / ')
      const tps = (k: keyof Measured['tps']) => m.tps[k].toFixed(0)
      out.push(
        `| ${r.strategy} | ${m.clients} | ${tps('baseline')} | ${tps('routed')} | ${tps('known')} | ${tps('unrouted')} | ${ratio(m.scoped)} | ${ratio(m.known)} | ${ratio(m.fanOut)} | ${per((c) => c.messages, 0)} | ${per((c) => c.opened, 2)} | ${per((c) => c.reused, 2)} | ${after} |`,
      )
    }
  }
  out.push('')
  out.push("The issue's reference figure, scoped ÷ unscoped on routed point queries: 0.78–0.84.")
  for (const r of results) {
    const p = r.plans
    out.push('')
    out.push(
      `## strategy '${r.strategy}'` +
        (r.strategy === 'role' ? ` (${TENANTS.role} tenant roles created by engine.createTenant in ${r.tenantSeconds.toFixed(1)} s)` : ''),
    )
    const tasks = (plan: readonly string[]) => plan.find((l) => /Task Count/.test(l))?.trim() ?? '(no Task Count: not a Citus plan?)'
    out.push(`coordinator, inside a scope of ${PLAN_TENANT}: routed ${tasks(p.coordinator.routed)}; unrouted ${tasks(p.coordinator.unrouted)}`)
    out.push('  EXPLAIN routed:')
    out.push(...p.coordinator.routed.map((l) => `    ${l}`))
    out.push('  EXPLAIN unrouted:')
    out.push(...p.coordinator.unrouted.map((l) => `    ${l}`))
    out.push(`worker ${p.shard.node}, shard ${p.shard.name} (${p.shard.rows} rows), as ${PLAN_TENANT} in a transaction with the scope's settings`)
    out.push(`  isolation policy on the shard: ${p.shard.policy}`)
    out.push('  EXPLAIN routed shard query:')
    out.push(...p.worker.routed.map((l) => `    ${l}`))
    out.push('  EXPLAIN unrouted shard query:')
    out.push(...p.worker.unrouted.map((l) => `    ${l}`))
    out.push(`  EXPLAIN ANALYZE SELECT count(*) FROM ${p.shard.name}, median execution time of 15:`)
    for (const c of p.counts) out.push(`    ${c.ms.toFixed(3)} ms  ${c.rows} rows  ${c.scan}  — ${c.label}`)
  }
  out.push('')
  out.push(`took ${facts.seconds.toFixed(0)} s; load average at start ${facts.loadAtStart.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}`)
  return out.join('\n')
}

async function main(url: string): Promise<void> {
  const loadAtStart = loadavg()[0]!
  const t0 = performance.now()
  try {
    const cluster = await setUpCluster(url)
    const results: StrategyResult[] = []
    for (const strategy of STRATEGIES) results.push(await measureStrategy(url, strategy, cluster.workers))
    console.log(report(results, { ...cluster, seconds: (performance.now() - t0) / 1000, loadAtStart }))
    // A run the cluster fails (the role strategy's worker connections with many clients) is a
    // measured limit, in the table and in docs/scale-out.md; wrong rows throw in checks.ts (exit 1).
  } finally {
    await cleanUp(url).catch((error: unknown) => console.error('cleanup failed:', error))
  }
}

if (!CITUS_URL) {
  console.error(
    'bench:citus needs CITUS_URL, a superuser URL of a Citus coordinator, e.g.\n  CITUS_URL=postgres://postgres@127.0.0.1:9700/citus npm run bench:citus',
  )
  process.exit(2)
}
await main(CITUS_URL)
