/**
 * The plans behind the Citus benchmark's figures, per strategy:
 *
 * - on the coordinator, inside a tenant scope: EXPLAIN of the routed and of the unrouted point
 *   query (Citus's "Task Count", and the plan of the one task it shows, run on a worker);
 * - on the worker holding tenant t1's shard, as that tenant (a transaction with the settings a
 *   scope sends there: `SET LOCAL pg_tenants.tenant` and the tenant role, or the tenant's own
 *   role): the policy as the shard holds it, EXPLAIN of the shard queries Citus sends, and
 *   EXPLAIN ANALYZE of the unrouted count (the policy's predicate alone) against the same count
 *   with index scans off and with the filter written by hand and no RLS.
 *
 * @module
 */
import pg from 'pg'
import type { Strategy } from '../../src/core/options.js'
import { median } from '../interleave.js'
import { superExec, withClient } from '../lib/setup.js'
import type { World } from './measure.js'
import { optionsFor } from './setup.js'

export const PLAN_TENANT = 't1'
/** A row of t1 (row `id` belongs to `t${id % tenants}`). */
const PLAN_ID = 1
const ANALYZE_RUNS = 15

export interface CountTiming {
  readonly label: string
  /** The scan node of the plan (its first line naming a scan). */
  readonly scan: string
  /** Median EXPLAIN ANALYZE execution time, ms. */
  readonly ms: number
  readonly rows: number
}

export interface Plans {
  readonly coordinator: { readonly routed: string[]; readonly unrouted: string[] }
  readonly shard: { readonly name: string; readonly node: string; readonly rows: number; readonly policy: string }
  readonly worker: { readonly routed: string[]; readonly unrouted: string[] }
  readonly counts: readonly CountTiming[]
}

const lines = (result: { readonly rows: readonly Record<string, unknown>[] }) => result.rows.map((r) => String(r['QUERY PLAN']))

const scanOf = (plan: readonly string[]) => (plan.find((l) => /Scan/.test(l)) ?? plan[0] ?? '').trim().replace(/^->\s*/, '')

export async function plans(url: string, world: World, strategy: Strategy): Promise<Plans> {
  const o = optionsFor(strategy)
  const items = `${o.schema}.items`
  const t = PLAN_TENANT
  const coordinator = await world.engine.run({ kind: 'tenant', id: t, createIfMissing: false }, async (c) => ({
    routed: lines(await c.query(`EXPLAIN (COSTS OFF) SELECT tenant, id, title FROM ${items} WHERE tenant = $1 AND id = $2`, [t, PLAN_ID])),
    unrouted: lines(await c.query(`EXPLAIN (COSTS OFF) SELECT tenant, id, title FROM ${items} WHERE id = $1`, [PLAN_ID])),
  }))
  const [where] = await superExec<{ shard_name: string; nodename: string; nodeport: number }>(
    url,
    `SELECT shard_name, nodename, nodeport FROM citus_shards WHERE shardid = get_shard_id_for_distribution_column('${items}', '${t}')`,
  )
  const shard = where!.rows[0]!
  const worker = new URL(url)
  worker.hostname = shard.nodename
  worker.port = String(shard.nodeport)
  const asTenant =
    strategy === 'role'
      ? `SET LOCAL ROLE ${pg.escapeIdentifier(o.rolePrefix + t)}`
      : `SET LOCAL pg_tenants.tenant = ${pg.escapeLiteral(t)}; SET LOCAL ROLE ${pg.escapeIdentifier(o.tenantRole)}`
  const noIndex = 'SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off'
  return withClient(worker.href, async (w) => {
    const inTx = async (settings: string, sql: string) => {
      await w.query(`BEGIN; ${settings}`)
      try {
        return lines(await w.query(sql))
      } finally {
        await w.query('ROLLBACK')
      }
    }
    const rows = Number((await w.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${shard.shard_name}`)).rows[0]?.n)
    const policy = await w.query<{ qual: string }>(
      `SELECT pg_get_expr(polqual, polrelid) AS qual FROM pg_policy WHERE polrelid = '${shard.shard_name}'::regclass AND polname = 'pg_tenants_isolation'`,
    )
    const count = async (label: string, settings: string, filter = ''): Promise<CountTiming> => {
      const ms: number[] = []
      let plan: string[] = []
      for (let i = 0; i < ANALYZE_RUNS; i++) {
        plan = await inTx(settings, `EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM ${shard.shard_name}${filter}`)
        ms.push(Number(/Execution Time: ([\d.]+)/.exec(plan.join('\n'))?.[1]))
      }
      const found = /Scan.*\(actual.* rows=(\d+)/.exec(plan.join('\n'))?.[1]
      return { label, scan: scanOf(plan), ms: median(ms), rows: Number(found) }
    }
    return {
      coordinator,
      shard: {
        name: shard.shard_name,
        node: `${shard.nodename}:${shard.nodeport}`,
        rows,
        policy: policy.rows[0]?.qual ?? '(no isolation policy on the shard!)',
      },
      worker: {
        routed: await inTx(asTenant, `EXPLAIN (COSTS OFF) SELECT tenant, id, title FROM ${shard.shard_name} WHERE tenant = '${t}' AND id = ${PLAN_ID}`),
        unrouted: await inTx(asTenant, `EXPLAIN (COSTS OFF) SELECT tenant, id, title FROM ${shard.shard_name} WHERE id = ${PLAN_ID}`),
      },
      counts: [
        await count(`as the tenant, the policy alone (what each shard of an unrouted count runs)`, asTenant),
        await count(`the same, index scans off`, `${asTenant}; ${noIndex}`),
        await count(`superuser, WHERE tenant = '${t}' by hand, no RLS`, 'SELECT 1', ` WHERE tenant = '${t}'`),
      ],
    }
  })
}

/** Backends on each worker logged in as one of the benchmark's roles (the coordinator's cached
 * connections: Citus keeps them per backend and per role), and how many roles they are for. */
export async function workerBackends(url: string, workers: readonly string[], prefix: string): Promise<{ backends: number; roles: number }> {
  let backends = 0
  const roles = new Set<string>()
  for (const node of workers) {
    const u = new URL(url)
    u.host = node
    const [r] = await superExec<{ usename: string; n: number }>(
      u.href,
      `SELECT usename, count(*)::int AS n FROM pg_stat_activity WHERE starts_with(usename, ${pg.escapeLiteral(prefix)}) GROUP BY usename`,
    )
    for (const row of r!.rows) {
      backends += row.n
      roles.add(row.usename)
    }
  }
  return { backends, roles: roles.size }
}
