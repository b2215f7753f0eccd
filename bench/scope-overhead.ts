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
 *
 * This file only runs the phases; the parts are in bench/scope-overhead/: the variants
 * (variants.ts, pg-variants.ts), the measuring (measure.ts, round-trips.ts, result.ts), the report
 * written to bench/RESULTS.md (report.ts, tables.ts, findings.ts) and bench/chart.svg (chart.ts).
 * Connecting, the owner and its schema, and the teardown are shared with the other benchmarks
 * (bench/lib/setup.ts).
 */
import { performance } from 'node:perf_hooks'
import { loadavg } from 'node:os'
import { writeChart } from './scope-overhead/chart.js'
import { DRIVERS, KEEP, OWNER, SCHEMA, STRATEGIES, TENANT_ROLE } from './scope-overhead/config.js'
import { measureNodePostgres, measurePglite, setUpServer, tearDownServer } from './scope-overhead/measure.js'
import { report, writeResults } from './scope-overhead/report.js'
import type { PhaseResult } from './scope-overhead/result.js'

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!
  const t0 = performance.now()
  let ok = false
  try {
    const { pgVersion } = await setUpServer()
    const results: PhaseResult[] = []
    for (const strategy of DRIVERS.includes('node-postgres') ? STRATEGIES : []) {
      process.stderr.write(`measuring strategy '${strategy}'…\n`)
      results.push(await measureNodePostgres(strategy))
    }
    for (const strategy of DRIVERS.includes('pglite') ? STRATEGIES : []) {
      process.stderr.write(`measuring strategy '${strategy}' on PGlite…\n`)
      results.push(await measurePglite(strategy))
    }
    const out = report(results, { pgVersion, seconds: (performance.now() - t0) / 1000, loadAtStart })
    console.log(out.text)
    if (DRIVERS.length === 2 && STRATEGIES.length === 2) {
      writeResults(out.markdown)
      writeChart(results)
    } else console.error('partial run (BENCH_DRIVERS / BENCH_STRATEGIES): RESULTS.md and chart.svg left as they were')
    ok = out.ok
  } finally {
    if (KEEP) console.error(`BENCH_KEEP=1: kept schema ${SCHEMA} and roles ${OWNER}, ${TENANT_ROLE}, … (a re-run drops them)`)
    else await tearDownServer().catch((error: unknown) => console.error('cleanup failed:', error))
  }
  if (!ok) process.exitCode = 1
}

await main()
