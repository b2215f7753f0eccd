/**
 * The stacks benchmark's settings (environment variables, see bench/stacks.ts), target and
 * names. Its schema and roles are its own, so that it never meets bench/scope-overhead.ts's.
 *
 * @module
 */
import type { Strategy } from '../../src/core/options.js'
import { keyWalk } from '../lib/workload.js'

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name])
  return Number.isInteger(v) && v > 0 ? v : fallback
}

/** Every stack, in the order of the table. */
export const STACK_NAMES = ['pg', 'pglite', 'postgres-js', 'drizzle on postgres-js', 'kysely-pg', 'kysely-postgres-js', 'kysely-pglite', 'prisma'] as const
export type StackName = (typeof STACK_NAMES)[number]

export const ROUNDS = intEnv('BENCH_ROUNDS', 9)
export const ROUND_MS = intEnv('BENCH_ROUND_MS', 150)
export const WARMUP_MS = intEnv('BENCH_WARMUP_MS', 200)
/** Transactions per variant when counting round trips, after RT_WARMUP uncounted ones (which
 * prepare what the driver prepares once per connection: postgres.js describes a new statement
 * in a round trip of its own, once). */
export const RT_SAMPLE = 50
export const RT_WARMUP = 5
/** Target of withTenant on the RLS table ÷ the stack's plain transaction (reported, not failed). */
export const TARGET = 0.85
/** Selects per transaction in the multi-statement variants. */
export const STMTS = 10
export const TENANTS = 10
export const ROWS_PER_TENANT = 1000
export const ROWS = TENANTS * ROWS_PER_TENANT

/** `BENCH_STACKS=pg,pglite`: which stacks to measure (default all). Names are checked. */
export const STACKS: readonly StackName[] = (() => {
  const asked = process.env['BENCH_STACKS']?.split(',').map((s) => s.trim())
  if (!asked) return STACK_NAMES
  const unknown = asked.filter((s) => !(STACK_NAMES as readonly string[]).includes(s))
  if (unknown.length > 0) throw new Error(`BENCH_STACKS: unknown ${unknown.join(', ')}; stacks are ${STACK_NAMES.join(', ')}`)
  return STACK_NAMES.filter((s) => asked.includes(s))
})()
export const STRATEGIES = (process.env['BENCH_STRATEGIES'] ?? 'setting,role').split(',') as Strategy[]
/** Keep the schema and roles after the run. */
export const KEEP = process.env['BENCH_KEEP'] === '1'

export const SCHEMA = 'pgt_stacks'
export const OWNER = 'pgt_stacks_owner'
export const TENANT_ROLE = 'pgt_stacks_rls'
export const ADMIN_ROLE = 'pgt_stacks_admin'
export const ROLE_PREFIX = 'pgt_stacks_t_'

/** The library's options for `strategy`, the same for the migration and every manager;
 * `items_plain` (no RLS) is a shared table tenant scopes read. */
export const optionsFor = (strategy: Strategy) =>
  ({
    schema: SCHEMA,
    strategy,
    tenantRole: TENANT_ROLE,
    adminRole: ADMIN_ROLE,
    rolePrefix: ROLE_PREFIX,
    sharedTables: { items_plain: 'read' },
  }) as const

/** The tenant table, as the SQL-level adapters take it. */
export const TENANT_TABLES = [{ name: 'items', type: 'text' }] as const

/** The role a scope of tenant `t` runs as. */
export const scopeRoleOf = (strategy: Strategy, t: string) => (strategy === 'setting' ? TENANT_ROLE : `${ROLE_PREFIX}${t}`)

/** The RLS table (FORCE, the library's policies) and its RLS-free twin: same rows and indexes. */
export const TABLES_SQL = `
  CREATE TABLE ${SCHEMA}.items (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items (id, tenant, payload)
    SELECT g, 't' || (g % ${TENANTS}), md5(g::text) FROM generate_series(1, ${ROWS}) g;
  SELECT setval(pg_get_serial_sequence('${SCHEMA}.items', 'id'), ${ROWS});
  CREATE TABLE ${SCHEMA}.items_plain (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items_plain SELECT * FROM ${SCHEMA}.items;
  CREATE INDEX items_plain_tenant_idx ON ${SCHEMA}.items_plain (tenant);
  ALTER TABLE ${SCHEMA}.items_plain ADD CONSTRAINT items_plain_tenant_not_empty CHECK (tenant <> '');`

/** Row `id` belongs to tenant `t${id % TENANTS}`; transaction i reads keyAt(i), or keyOf(i, j) for j < STMTS. */
export const { tenantOf, keyAt, keyOf } = keyWalk(ROWS, TENANTS)
