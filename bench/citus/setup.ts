/**
 * The Citus benchmark's cluster setup, as the superuser of CITUS_URL: a non-superuser LOGIN
 * owner, a BYPASSRLS login for the baseline, and per strategy a schema with a table distributed
 * by its tenant column, filled in SQL, migrated in Citus mode (one statement at a time, as the
 * owner), its tenants created. Everything carries the prefix `pgt_citus_` and is dropped at the
 * end (bench/lib/setup.ts), on the workers too (Citus propagates the roles and the schemas).
 *
 * @module
 */
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { migrationStatements } from '../../src/core/migration.js'
import type { Strategy } from '../../src/core/options.js'
import { driverFor, TenantEngine } from '../../src/adapter.js'
import { loginUrl, superExec, teardown, withClient } from '../lib/setup.js'

export const PREFIX = 'pgt_citus_'
export const OWNER = `${PREFIX}owner`
/** The baseline's login: BYPASSRLS, not a superuser, not the owner. */
export const BYPASS = `${PREFIX}bypass`
/** Rows per table, whatever the strategy: ~6,250 per shard at 32 shards. */
export const ROWS = 200_000
/** Tenants per strategy: the role strategy has a role per tenant, so fewer. */
export const TENANTS: Readonly<Record<Strategy, number>> = { setting: 1_000, role: 200 }

/** The library's options for `strategy` on this cluster. */
export function optionsFor(strategy: Strategy) {
  const p = `${PREFIX}${strategy[0]}`
  return { schema: `${PREFIX}${strategy}`, strategy, citus: true, tenantRole: `${p}_rls`, adminRole: `${p}_admin`, rolePrefix: `${p}t_` } as const
}

export type CitusOptions = ReturnType<typeof optionsFor>

/** Drops what a run (or a crashed one) left behind. */
export async function cleanUp(url: string): Promise<void> {
  await superExec(url, `DROP SCHEMA IF EXISTS ${optionsFor('setting').schema} CASCADE`)
  await teardown(url, { schema: optionsFor('role').schema, owner: OWNER, roles: [BYPASS], rolePrefix: PREFIX })
}

/** The superuser's checks, then the owner and the baseline's login. Returns the Citus version. */
export async function setUpCluster(url: string): Promise<{ citus: string; shards: number; workers: string[]; settings: string }> {
  const [info] = await superExec<{ su: boolean; citus: string | null; shards: string; settings: string }>(
    url,
    `SELECT rolsuper AS su, (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus,
      current_setting('citus.shard_count', true) AS shards,
      (SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings
        WHERE name IN ('citus.max_shared_pool_size', 'citus.max_cached_conns_per_worker', 'citus.node_conninfo', 'server_version')) AS settings
      FROM pg_roles WHERE rolname = current_user`,
  )
  const me = info!.rows[0]
  if (!me?.su) throw new Error('CITUS_URL must log in as a superuser (to create the roles)')
  if (!me.citus) throw new Error('CITUS_URL: the database has no citus extension (CREATE EXTENSION citus on a coordinator)')
  const [nodes] = await superExec<{ node: string }>(
    url,
    `SELECT nodename || ':' || nodeport AS node FROM pg_dist_node WHERE shouldhaveshards AND isactive ORDER BY nodeport`,
  )
  await cleanUp(url)
  await superExec(
    url,
    `CREATE ROLE ${OWNER} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS; CREATE ROLE ${BYPASS} LOGIN NOSUPERUSER BYPASSRLS;
    ALTER ROLE ${OWNER} SET citus.enable_stat_counters = on; ALTER ROLE ${BYPASS} SET citus.enable_stat_counters = on`,
  )
  const workers = nodes!.rows.map((r) => r.node)
  const first = new URL(url)
  first.host = workers[0] ?? first.host
  const [limit] = await superExec<{ n: string }>(first.href, `SELECT current_setting('max_connections') AS n`)
  return { citus: me.citus, shards: Number(me.shards), workers, settings: `${me.settings}; max_connections on ${first.host} = ${limit!.rows[0]?.n}` }
}

/**
 * The strategy's schema and table (`items`, primary key `(tenant, id)`, so the tenant leads an
 * index and the migration adds none), ROWS rows over its tenants (`t${id % tenants}`), migrated,
 * analysed, readable by the baseline's login; its tenants created (`setting`: in the registry, in
 * SQL; `role`: through `engine.createTenant`, one role each). Returns seconds spent on tenants.
 */
export async function setUpStrategy(url: string, strategy: Strategy): Promise<number> {
  const o = optionsFor(strategy)
  const tenants = TENANTS[strategy]
  await superExec(url, `CREATE SCHEMA ${o.schema} AUTHORIZATION ${OWNER}`)
  await withClient(loginUrl(url, OWNER), async (owner) => {
    await owner.query(`CREATE TABLE ${o.schema}.items (tenant text NOT NULL, id bigint NOT NULL, title text NOT NULL, PRIMARY KEY (tenant, id))`)
    await owner.query(`SELECT create_distributed_table('${o.schema}.items', 'tenant')`)
    await owner.query(`INSERT INTO ${o.schema}.items SELECT 't' || (g % ${tenants}), g, 'title ' || g FROM generate_series(1, ${ROWS}) g`)
    await owner.query(`VACUUM ANALYZE ${o.schema}.items`)
    const { up } = migrationStatements([{ schema: o.schema, name: 'items', column: 'tenant', type: 'text' }], o)
    await owner.query('BEGIN')
    for (const statement of up) await owner.query(statement)
    await owner.query('COMMIT')
    await owner.query(`GRANT USAGE ON SCHEMA ${o.schema} TO ${BYPASS}; GRANT SELECT ON ${o.schema}.items TO ${BYPASS}`)
    if (strategy === 'setting') await owner.query(`INSERT INTO ${o.schema}.tenant_registry (id) SELECT 't' || g FROM generate_series(0, ${tenants - 1}) g`)
  })
  if (strategy === 'setting') return 0
  const t0 = performance.now()
  const pool = new pg.Pool({ connectionString: loginUrl(url, OWNER), max: 1 })
  try {
    const engine = new TenantEngine(driverFor(pool), o, [{ type: 'text' }])
    for (let t = 0; t < tenants; t++) await engine.createTenant(`t${t}`)
  } finally {
    await pool.end()
  }
  return (performance.now() - t0) / 1000
}

/** Drops the strategy's schema (its roles go at the end, with the rest). */
export async function dropStrategy(url: string, strategy: Strategy): Promise<void> {
  await superExec(url, `DROP SCHEMA IF EXISTS ${optionsFor(strategy).schema} CASCADE`)
}
