/**
 * The scope-overhead benchmark's settings (environment variables, see bench/scope-overhead.ts),
 * targets and names.
 *
 * @module
 */
import type { Strategy } from '../../src/core/options.js'

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name])
  return Number.isInteger(v) && v > 0 ? v : fallback
}

export const ROUNDS = intEnv('BENCH_ROUNDS', 15)
export const ROUND_MS = intEnv('BENCH_ROUND_MS', 250)
export const WARMUP_MS = intEnv('BENCH_WARMUP_MS', 500)
/** Transactions per variant when counting round trips. */
export const RT_SAMPLE = 200
export const TARGET = 0.82
/** Statements per transaction in the multi-statement variants, and their target. */
export const STMTS = 10
export const TARGET_MULTI = 0.95
/** PGlite: fewer, shorter rounds (it runs in-process; the whole bench stays under ~2.5 min). */
export const PGLITE_ROUNDS = intEnv('BENCH_PGLITE_ROUNDS', 9)
export const PGLITE_ROUND_MS = intEnv('BENCH_PGLITE_ROUND_MS', 200)
export const TENANTS = 10
export const ROWS_PER_TENANT = 1000
export const ROWS = TENANTS * ROWS_PER_TENANT

export const STRATEGIES = (process.env['BENCH_STRATEGIES'] ?? 'setting,role').split(',') as Strategy[]
/** Which drivers to measure: `node-postgres`, `pglite` or both (the default). */
export const DRIVERS = (process.env['BENCH_DRIVERS'] ?? 'node-postgres,pglite').split(',')
/** Keep the schema and roles after the run (for poking at them with psql / pgbench). */
export const KEEP = process.env['BENCH_KEEP'] === '1'

export const SCHEMA = 'pgt_bench'
export const OWNER = 'pgt_bench_owner'
export const TENANT_ROLE = 'pgt_bench_rls'
export const ADMIN_ROLE = 'pgt_bench_admin'
export const ROLE_PREFIX = 'pgt_bench_t_'

/** The library's options for `strategy`; `items_plain` (no RLS) is a shared table that tenant
 * scopes read: declared, as the least-privilege grants want. */
export const optionsFor = (strategy: Strategy) =>
  ({
    schema: SCHEMA,
    strategy,
    tenantRole: TENANT_ROLE,
    adminRole: ADMIN_ROLE,
    rolePrefix: ROLE_PREFIX,
    sharedTables: { items_plain: 'read' },
  }) as const
