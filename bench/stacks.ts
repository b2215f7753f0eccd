/**
 * Scope overhead per stack: one row per way users reach pg-tenants (fromPg, fromPglite,
 * fromPostgresJs, fromDrizzle on postgres.js, fromKysely on node-postgres, postgres.js and
 * PGlite, fromPrisma on Prisma 7's @prisma/adapter-pg), both strategies, measured in one run. bench/scope-overhead.ts measures Drizzle on
 * node-postgres and PGlite in depth; this one compares every stack with its own plain
 * transaction, the same way:
 *
 * 1. Round trips per transaction, counted for real on the stack's one connection: a scoped
 *    `withTenant(t, tx => one primary-key select)` must cost exactly what the stack's own plain
 *    transaction doing the same select costs (node-postgres: `pool.connect()`, `BEGIN`, select,
 *    `COMMIT`, `release()`; postgres.js: `sql.begin(tx => …)`; Kysely:
 *    `db.transaction().execute(trx => …)`; Drizzle: `db.transaction(tx => …)`; PGlite:
 *    `db.transaction(tx => …)`; Prisma: `prisma.$transaction(async tx => …)` on a client built
 *    with a plain `PrismaPg` over a pool of one of its own). On PGlite, where no network is
 *    crossed, the calls into the WASM backend are counted instead, and a scope costs exactly 2 more (the scoping and the session
 *    reset, docs/benchmarks.md).
 * 2. Throughput, interleaved in 10 ms blocks on the same connection (bench/interleave.ts), as
 *    medians of per-cycle ratios: "scoping alone" (withTenant on `items_plain` ÷ the plain
 *    transaction on `items_plain`) and "with RLS" (withTenant on `items`, FORCE RLS ÷ the same
 *    plain transaction), for 1 and for 10 selects per transaction. Target 0.85 with RLS.
 * 3. Prisma only: the pattern peers publish (a client extension running every model call as
 *    `$transaction([set_config, query])`) in the same interleaved run, in a row of its own: its
 *    round trips (4 for one query) and its ratios against the same plain transaction, and a
 *    one-off trace of it inside a user's `$transaction(async tx => …)` (its query commits apart,
 *    on a second connection). Prisma's selects are the model API's `findUnique`; its
 *    `items_plain` is a copy named `items` in `pgt_stacks_prisma` (a model names one table):
 *    bench/stacks/prisma-stack.ts.
 *
 * Every phase first checks, inside a scope, that current_user is the tenant role and that the
 * scope reads only that tenant's rows; and that the plain transaction runs as the non-superuser
 * owner, which sees no row of `items` (a superuser would bypass RLS and nothing would be
 * measured). Every select's answer is checked.
 *
 *   npm run bench                              # both benchmarks; this one takes about 2.5 min
 *   npx tsx bench/stacks.ts                    # this one alone
 *   BENCH_STACKS=pg,pglite npx tsx bench/stacks.ts       # some stacks (writes no file)
 *   BENCH_STACKS=prisma npx tsx bench/stacks.ts          # Prisma alone (needs the tests' client:
 *                                                        # npx tsx scripts/prisma-generate.ts)
 *   BENCH_STRATEGIES=role BENCH_ROUNDS=15 BENCH_ROUND_MS=300 npx tsx bench/stacks.ts
 *   BENCH_KEEP=1 …                             # keep the schema and roles afterwards
 *
 * Needs DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) as a superuser, to create
 * the owner login `pgt_stacks_owner` and its schemas `pgt_stacks` and `pgt_stacks_prisma`
 * (removed at the end). Writes
 * bench/STACKS.md only on a full run (every stack, both strategies). Exit code 1 when round
 * trips differ, a scope did not apply, or a connection was replaced; a ratio below target is
 * reported, not failed (it depends on the machine).
 */
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Strategy } from '../src/core/options.js'
import { KEEP, OWNER, SCHEMA, STACK_NAMES, STACKS, STRATEGIES, type StackName } from './stacks/config.js'
import { measure, type StackResult } from './stacks/measure.js'
import { kyselyPgliteStack, migratePglite, openPglite, pgliteStack, type Embedded } from './stacks/pglite-stacks.js'
import { report, writeStacks } from './stacks/report.js'
import { drizzlePostgresJsStack, kyselyPostgresJsStack, postgresJsStack } from './stacks/postgres-js-stacks.js'
import { prismaStack } from './stacks/prisma-stack.js'
import { kyselyPgStack, pgStack } from './stacks/server-stacks.js'
import { migrateServer, OWNER_URL, setUpServer, tearDownServer } from './stacks/setup.js'
import type { BenchStack } from './stacks/stack.js'

/** The stacks on the server, each opened on the owner's login. */
const SERVER: Partial<Record<StackName, (url: string, strategy: Strategy) => Promise<BenchStack>>> = {
  pg: pgStack,
  'postgres-js': postgresJsStack,
  'drizzle on postgres-js': drizzlePostgresJsStack,
  'kysely-pg': kyselyPgStack,
  'kysely-postgres-js': kyselyPostgresJsStack,
  prisma: prismaStack,
}
/** The stacks on PGlite, all on one instance. */
const EMBEDDED: Partial<Record<StackName, (pglite: Embedded, strategy: Strategy) => Promise<BenchStack>>> = {
  pglite: pgliteStack,
  'kysely-pglite': kyselyPgliteStack,
}

async function phase(name: StackName, strategy: Strategy, open: () => Promise<BenchStack>, embedded: boolean): Promise<StackResult> {
  process.stderr.write(`measuring ${name}, strategy '${strategy}'…\n`)
  const stack = await open()
  try {
    return await measure(name, strategy, stack, embedded)
  } finally {
    await stack.close()
  }
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!
  const t0 = performance.now()
  const missing = STACKS.filter((s) => !SERVER[s] && !EMBEDDED[s])
  if (missing.length > 0) console.error(`not measured (no adapter yet): ${missing.join(', ')}`)
  const onServer = STACKS.filter((s) => SERVER[s])
  const results: StackResult[] = []
  let ok = false
  try {
    const pgVersion = onServer.length > 0 ? await setUpServer() : '(not used)'
    for (const strategy of onServer.length > 0 ? STRATEGIES : []) {
      await migrateServer(strategy)
      for (const name of onServer) results.push(await phase(name, strategy, () => SERVER[name]!(OWNER_URL, strategy), false))
    }
    const embedded = STACKS.filter((s) => EMBEDDED[s])
    if (embedded.length > 0) {
      const pglite = await openPglite()
      try {
        for (const strategy of STRATEGIES) {
          await migratePglite(pglite, strategy)
          for (const name of embedded) results.push(await phase(name, strategy, () => EMBEDDED[name]!(pglite, strategy), true))
        }
      } finally {
        await pglite.db.close()
      }
    }
    const order = (r: StackResult) => STACK_NAMES.indexOf(r.stack) * 2 + STRATEGIES.indexOf(r.strategy)
    results.sort((a, b) => order(a) - order(b))
    const out = report(results, { pgVersion, seconds: (performance.now() - t0) / 1000, loadAtStart })
    console.log(out.text)
    if (STACKS.length === STACK_NAMES.length && missing.length === 0 && STRATEGIES.length === 2) writeStacks(out.markdown)
    else console.error('partial run (BENCH_STACKS / BENCH_STRATEGIES, or a stack not available): bench/STACKS.md left as it was')
    ok = results.every((r) => r.problems.length === 0)
  } finally {
    if (KEEP) console.error(`BENCH_KEEP=1: kept schema ${SCHEMA} and roles ${OWNER}, … (a re-run drops them)`)
    else if (onServer.length > 0) await tearDownServer().catch((error: unknown) => console.error('cleanup failed:', error))
  }
  if (!ok) process.exitCode = 1
}

await main()
