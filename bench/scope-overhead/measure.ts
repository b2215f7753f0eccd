/**
 * The measuring: one phase per driver and strategy, each on one connection (Pool max 1, or one
 * PGlite instance). A phase installs the strategy's policies, creates the tenants, checks that
 * RLS really applies and that the scope switches role, counts round trips, then measures the
 * throughput of every variant in interleaved cycles.
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import type { Strategy } from '../../src/core/options.js'
import { migrationSql, PostgresManager, type AnyPostgresManager } from '../../src/drizzle/index.js'
import { interleave, perSecond } from '../interleave.js'
import { createOwner, DATABASE_URL, loginUrl, serverInfo, teardown, withClient } from '../lib/setup.js'
import { check } from '../lib/workload.js'
import * as c from './config.js'
import { captureScopes, variantsFor } from './pg-variants.js'
import { countingPool, countPgliteCalls, countRoundTrips, type Counter } from './round-trips.js'
import { rawRatiosOf, ratiosOf, type PhaseResult } from './result.js'
import { items, TABLES_SQL } from './schema.js'
import { drizzleVariants, type Variant } from './variants.js'

const OWNER_URL = loginUrl(DATABASE_URL, c.OWNER)
const CREATED = { schema: c.SCHEMA, owner: c.OWNER, roles: [c.TENANT_ROLE, c.ADMIN_ROLE], rolePrefix: c.ROLE_PREFIX }

/** Creates the owner login, its schema and the tables (idempotent: drops leftovers first). */
export async function setUpServer(): Promise<{ pgVersion: string }> {
  const { superuser, version } = await serverInfo(DATABASE_URL)
  if (!superuser) throw new Error(`DATABASE_URL must log in as a superuser (to create ${c.OWNER}).`)
  await tearDownServer()
  await createOwner(DATABASE_URL, c.OWNER, c.SCHEMA)
  // Tables and data, created by the owner (so it owns them), before RLS is enabled.
  await withClient(OWNER_URL, (owner) => owner.query(TABLES_SQL))
  return { pgVersion: version }
}

/** Removes the schema and every role the bench created (also leftovers of a crashed run). */
export const tearDownServer = (): Promise<void> => teardown(DATABASE_URL, CREATED)

/** Transactions per second of every variant, one figure per cycle (bench/interleave.ts). */
async function throughputs(variants: Variant[], warmupMs: number, rounds: number, roundMs: number): Promise<Record<string, number[]>> {
  const ms = await interleave(Object.fromEntries(variants.map((v) => [v.key, v.run])), { warmupMs, rounds, roundMs })
  return Object.fromEntries(Object.entries(ms).map(([key, xs]) => [key, perSecond(xs)]))
}

/** Sanity: a tenant sees only its own rows, and the owner outside a scope sees none (FORCE RLS:
 * it is not a superuser, so the RLS cost is really measured). Then current_user in a scope. */
async function checkScope(
  manager: AnyPostgresManager,
  ownerRows: () => Promise<unknown[]>,
  strategy: Strategy,
  driver: PhaseResult['driver'],
): Promise<PhaseResult['scopeUser']> {
  const own: { tenant: string }[] = await manager.withTenant('t3', (tx) => tx.select().from(items))
  check(own.length === c.ROWS_PER_TENANT && own.every((r) => r.tenant === 't3'), `${driver}: tenant t3 sees only its rows`)
  check((await ownerRows()).length === 0, `${driver}: the owner sees no row of items`)
  // S2: the scope must drop privileges (SET LOCAL ROLE). Not a hard failure, so the numbers
  // still print, but flagged: without the switch they measure a cheaper, unsafe scope. (On
  // PostgreSQL 15 the login inherits the tenant role, so its policies apply to the login too and
  // the rows alone cannot show a missing switch.)
  const expected = strategy === 'setting' ? c.TENANT_ROLE : `${c.ROLE_PREFIX}t3`
  const whoami: unknown = await manager.withTenant('t3', (tx) => tx.execute(sql`SELECT current_user::text AS u`))
  return { expected, actual: String((whoami as { rows: { u: unknown }[] }).rows[0]?.u) }
}

/** node-postgres on the server of DATABASE_URL, logged in as the owner. */
export async function measureNodePostgres(strategy: Strategy): Promise<PhaseResult> {
  // The migration, as the owner (it creates the tenant and admin roles and grants them to the
  // owner). Switching strategy replaces the policies.
  const { up } = migrationSql([items], c.optionsFor(strategy))
  await withClient(OWNER_URL, async (migrator) => {
    await migrator.query(up)
    await migrator.query(`ANALYZE ${c.SCHEMA}.items; ANALYZE ${c.SCHEMA}.items_plain`)
  })

  const counter: Counter = { queries: 0, ready: 0, connects: 0 }
  const pool = countingPool(OWNER_URL, counter)
  try {
    const { manager, variants, libraryPreludes } = variantsFor(strategy, pool)
    for (let t = 0; t < c.TENANTS; t++) await manager.createTenant(`t${t}`)
    await captureScopes(manager, counter, libraryPreludes)
    const scopeUser = await checkScope(manager, () => drizzle({ client: pool }).select().from(items), strategy, 'node-postgres')
    const roundTrips = await countRoundTrips(variants, counter)
    const tps = await throughputs(variants, c.WARMUP_MS, c.ROUNDS, c.ROUND_MS)
    return {
      driver: 'node-postgres',
      strategy,
      labels: Object.fromEntries(variants.map((v) => [v.key, v.label])),
      roundTrips,
      tps,
      ...ratiosOf(tps),
      rawRatios: rawRatiosOf(tps),
      connects: counter.connects,
      message: libraryPreludes.get('t3')!,
      scopeUser,
    }
  } finally {
    await pool.end()
  }
}

/**
 * The same Drizzle variants on embedded, in-memory PGlite (one fresh instance per strategy). PGlite
 * starts as a superuser, which bypasses RLS: like examples/demo.ts, create a non-superuser owner
 * and `SET ROLE` to it for the session before any setup. No network, so no round trips to count.
 */
export async function measurePglite(strategy: Strategy): Promise<PhaseResult> {
  const client = new PGlite()
  try {
    await client.exec(`CREATE ROLE ${c.OWNER} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
      CREATE SCHEMA ${c.SCHEMA} AUTHORIZATION ${c.OWNER};
      SET ROLE ${c.OWNER};
      ${TABLES_SQL}`)
    await client.exec(migrationSql([items], c.optionsFor(strategy)).up)
    await client.exec(`ANALYZE ${c.SCHEMA}.items; ANALYZE ${c.SCHEMA}.items_plain`)
    const counter: Counter = { queries: 0, ready: 0, connects: 1 }
    countPgliteCalls(client, counter)
    const db = drizzlePglite(client)
    const manager = PostgresManager.fromDrizzle(db, { ...c.optionsFor(strategy), tables: [items] })
    for (let t = 0; t < c.TENANTS; t++) await manager.createTenant(`t${t}`)
    const variants = drizzleVariants(db, manager)
    const scopeUser = await checkScope(manager, () => db.select().from(items), strategy, 'PGlite')
    const roundTrips = await countRoundTrips(variants, counter)
    const tps = await throughputs(variants, c.WARMUP_MS, c.PGLITE_ROUNDS, c.PGLITE_ROUND_MS)
    return {
      driver: 'PGlite',
      strategy,
      labels: Object.fromEntries(variants.map((v) => [v.key, v.label])),
      roundTrips,
      tps,
      ...ratiosOf(tps),
      rawRatios: {},
      connects: 1,
      message: '',
      scopeUser,
    }
  } finally {
    await client.close()
  }
}
