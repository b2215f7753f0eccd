/**
 * The four variants of the Citus benchmark, their checks, round trips and interleaved
 * throughput (bench/interleave.ts), on one pool connection or on several clients at once.
 *
 * - baseline: `BEGIN; SELECT … WHERE tenant = $1 AND id = $2; COMMIT` on a pool of its own,
 *   logged in as a BYPASSRLS role (RLS filters nothing): the unscoped transaction;
 * - routed: `engine.run({ kind: 'tenant', id, createIfMissing: false }, same SELECT)`: Citus routes
 *   it to the tenant's shard; a scope that may not create its tenant checks that it exists, every
 *   time (the registry, or pg_roles), in its one message;
 * - known: the same with `createIfMissing: true`, for a tenant the engine saw exist in the last
 *   30 s: the scope skips that check (all tenants here, seen by the checked variants);
 * - unrouted: the same scope and `SELECT … WHERE id = $1`: RLS filters, Citus fans out to every shard.
 *
 * @module
 */
import pg from 'pg'
import type { Strategy } from '../../src/core/options.js'
import { driverFor, TenantEngine } from '../../src/adapter.js'
import { interleave, median, throughputRatio, type InterleaveOptions } from '../interleave.js'
import { loginUrl, superExec } from '../lib/setup.js'
import { check, keyWalk } from '../lib/workload.js'
import type { Ratio } from '../scope-overhead/result.js'
import { countingPool, type Counter } from '../scope-overhead/round-trips.js'
import { BYPASS, optionsFor, OWNER, ROWS, TENANTS } from './setup.js'

export const VARIANTS = ['baseline', 'routed', 'known', 'unrouted'] as const
export type VariantKey = (typeof VARIANTS)[number]

export interface Measured {
  readonly clients: number
  /** Transactions per second, the median of the cycles. */
  readonly tps: Readonly<Record<VariantKey, number>>
  /** routed ÷ baseline, known ÷ baseline, unrouted ÷ routed. */
  readonly scoped: Ratio
  readonly known: Ratio
  readonly fanOut: Ratio
  /** Per transaction, measured after the throughput run, in the same shape. */
  readonly costs: Readonly<Record<VariantKey, Costs>>
}

/** The pools and the engine of one strategy, logged in as the owner and as the BYPASSRLS role. */
export interface World {
  readonly engine: TenantEngine
  readonly scopedPool: pg.Pool
  readonly bypassPool: pg.Pool
  readonly counters?: { readonly scoped: Counter; readonly bypass: Counter } | undefined
  close(): Promise<void>
}

export function openWorld(url: string, strategy: Strategy, clients: number): World {
  const counted = clients === 1
  const counters = counted ? { scoped: { queries: 0, ready: 0, connects: 0 }, bypass: { queries: 0, ready: 0, connects: 0 } } : undefined
  const pool = (login: string, counter: Counter | undefined) =>
    counter ? countingPool(loginUrl(url, login), counter) : new pg.Pool({ connectionString: loginUrl(url, login), max: clients })
  const scopedPool = pool(OWNER, counters?.scoped)
  const bypassPool = pool(BYPASS, counters?.bypass)
  const engine = new TenantEngine(driverFor(scopedPool), optionsFor(strategy), [{ type: 'text' }])
  return { engine, scopedPool, bypassPool, counters, close: async () => void (await Promise.all([scopedPool.end(), bypassPool.end()])) }
}

type Row = { tenant: string; id: string }

/** One transaction per variant, for key `i` (the row `keyAt(i)` of tenant `tenantOf` it). */
export function variants(world: World, strategy: Strategy): Record<VariantKey, (i: number) => Promise<void>> {
  const { schema } = optionsFor(strategy)
  const { keyAt, tenantOf } = keyWalk(ROWS, TENANTS[strategy])
  const routed = `SELECT tenant, id, title FROM ${schema}.items WHERE tenant = $1 AND id = $2`
  const unrouted = `SELECT tenant, id, title FROM ${schema}.items WHERE id = $1`
  const checked = (label: string, i: number, tenant: string, id: number, rows: readonly Record<string, unknown>[]) =>
    check(rows.length === 1 && (rows[0] as Row).tenant === tenant && String((rows[0] as Row).id) === String(id), `${label}, transaction ${i}`)
  const scoped =
    (label: string, sql: string, params: (t: string, id: number) => unknown[], createIfMissing = false) =>
    async (i: number) => {
      const id = keyAt(i)
      const tenant = tenantOf(id)
      const result = await world.engine.run({ kind: 'tenant', id: tenant, createIfMissing }, (c) => c.query(sql, params(tenant, id)))
      checked(label, i, tenant, id, result.rows)
    }
  return {
    baseline: async (i) => {
      const id = keyAt(i)
      const tenant = tenantOf(id)
      const client = await world.bypassPool.connect()
      try {
        await client.query('BEGIN')
        const { rows } = await client.query(routed, [tenant, id])
        await client.query('COMMIT')
        checked('baseline', i, tenant, id, rows)
      } finally {
        client.release()
      }
    },
    routed: scoped('routed', routed, (t, id) => [t, id]),
    known: scoped('known', routed, (t, id) => [t, id], true),
    unrouted: scoped('unrouted', unrouted, (_, id) => [id]),
  }
}

/** What a transaction costs besides time, per variant. */
export interface Costs {
  /** Messages to the coordinator (one pool connection only: counted on its client). */
  readonly messages?: number | undefined
  /** Connections the coordinator opened to the workers, and cached ones it reused (Citus's
   * citus_stat_counters, on for the benchmark's logins only). */
  readonly opened: number
  readonly reused: number
}

async function citusCounters(url: string): Promise<{ opened: number; reused: number }> {
  const [r] = await superExec<{ opened: string; reused: string }>(
    url,
    `SELECT connection_establishment_succeeded AS opened, connection_reused AS reused FROM citus_stat_counters WHERE name = current_database()`,
  )
  return { opened: Number(r!.rows[0]?.opened), reused: Number(r!.rows[0]?.reused) }
}

/** Costs per transaction of each variant, over `steps` steps of the throughput run's shape. */
async function costs(
  url: string,
  world: World,
  runs: Record<VariantKey, (i: number) => Promise<unknown>>,
  clients: number,
  steps = 40,
): Promise<Record<VariantKey, Costs>> {
  const out = {} as Record<VariantKey, Costs>
  for (const key of VARIANTS) {
    const counter = key === 'baseline' ? world.counters?.bypass : world.counters?.scoped
    const before = { ...(await citusCounters(url)), messages: counter?.queries ?? 0 }
    for (let i = 0; i < steps; i++) await runs[key](1_000_000 + i)
    const after = await citusCounters(url)
    const n = steps * clients
    out[key] = {
      messages: counter ? (counter.queries - before.messages) / n : undefined,
      opened: (after.opened - before.opened) / n,
      reused: (after.reused - before.reused) / n,
    }
  }
  return out
}

/**
 * Throughput of the variants, interleaved. With several clients, a "transaction" of interleave
 * is `clients` transactions started together (each on its own connection) and awaited together.
 */
export async function measure(url: string, world: World, strategy: Strategy, clients: number, options: InterleaveOptions): Promise<Measured> {
  const one = variants(world, strategy)
  const runs = Object.fromEntries(
    VARIANTS.map((k) => [k, clients === 1 ? one[k] : (i: number) => Promise.all(Array.from({ length: clients }, (_, j) => one[k](i * clients + j)))]),
  ) as Record<VariantKey, (i: number) => Promise<unknown>>
  // One checked scope per tenant first: the engine then knows them all (for 30 s, renewed by
  // every checked scope), so the `known` variant never checks, nor creates.
  const { tenantOf } = keyWalk(ROWS, TENANTS[strategy])
  for (let t = 0; t < TENANTS[strategy]; t += clients) {
    const ids = Array.from({ length: Math.min(clients, TENANTS[strategy] - t) }, (_, j) => t + j)
    await Promise.all(ids.map((id) => world.engine.run({ kind: 'tenant', id: tenantOf(id), createIfMissing: false }, async () => undefined)))
  }
  const ms = await interleave(runs, options)
  const tps = Object.fromEntries(VARIANTS.map((k) => [k, (1000 * clients) / median(ms[k]!)])) as Record<VariantKey, number>
  return {
    clients,
    tps,
    scoped: throughputRatio(ms, 'routed', 'baseline'),
    known: throughputRatio(ms, 'known', 'baseline'),
    fanOut: throughputRatio(ms, 'unrouted', 'routed'),
    costs: await costs(url, world, runs, clients),
  }
}
