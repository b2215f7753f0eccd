/**
 * The stacks on embedded PGlite, all on one in-memory instance: PGlite starts as a superuser
 * (which bypasses RLS), so, as bench/scope-overhead does, the instance creates the
 * non-superuser owner and `SET ROLE`s to it before any setup.
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { buildMigration } from '../../src/core/migration.js'
import type { Strategy } from '../../src/core/options.js'
import { PGliteDialect } from '../../src/kysely/index.js'
import { fromPglite, type PgliteQueries } from '../../src/pglite/index.js'
import { countPgliteCalls, type Counter } from '../scope-overhead/round-trips.js'
import { optionsFor, OWNER, SCHEMA, TABLES_SQL, TENANT_TABLES, TENANTS } from './config.js'
import { kyselyBenchStack, type BenchDb } from './server-stacks.js'
import { benchStack, selectText, type BenchStack, type Row } from './stack.js'

/** The instance every PGlite stack runs on, its calls counted. */
export interface Embedded {
  readonly db: PGlite
  readonly counter: Counter
}

/** One instance for every PGlite phase (starting one takes seconds): the owner and the tables. */
export async function openPglite(): Promise<Embedded> {
  const db = new PGlite()
  await db.exec(`CREATE ROLE ${OWNER} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
    CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${OWNER};
    SET ROLE ${OWNER};
    ${TABLES_SQL}`)
  const counter: Counter = { queries: 0, ready: 0, connects: 1 }
  countPgliteCalls(db, counter)
  return { db, counter }
}

/** The strategy's migration (switching strategy replaces the policies) and the tenants. */
export async function migratePglite({ db }: Embedded, strategy: Strategy): Promise<void> {
  await db.exec(buildMigration([{ schema: SCHEMA, name: 'items', column: 'tenant', type: 'text' }], optionsFor(strategy)).up)
  await db.exec(`ANALYZE ${SCHEMA}.items; ANALYZE ${SCHEMA}.items_plain`)
  const manager = fromPglite(db, { ...optionsFor(strategy), tables: TENANT_TABLES })
  const existing = await manager.listTenants()
  for (let t = 0; t < TENANTS; t++) if (!existing.has(`t${t}`)) await manager.createTenant(`t${t}`)
}

/** `fromPglite(db)`; the baseline is PGlite's own `db.transaction(tx => …)`. */
export async function pgliteStack({ db, counter }: Embedded, strategy: Strategy): Promise<BenchStack> {
  const manager = fromPglite(db, { ...optionsFor(strategy), tables: TENANT_TABLES })
  return benchStack<PgliteQueries>({
    counter,
    scope: (tenant, fn) => manager.withTenant(tenant, fn),
    transaction: (fn) => db.transaction(fn),
    select: async (h, table, id) => (await h.query<Row>(selectText(table), [id])).rows,
    raw: async (h, text) => (await h.query<Record<string, unknown>>(text)).rows,
    close: async () => undefined, // the instance is the next phase's too
  })
}

/** `fromKysely(db, pglite)` over `PGliteDialect`; the baseline is `db.transaction().execute(trx => …)`
 * (PGlite's own transaction, through the dialect). */
export async function kyselyPgliteStack({ db: pglite, counter }: Embedded, strategy: Strategy): Promise<BenchStack> {
  const db = new Kysely<BenchDb>({ dialect: new PGliteDialect({ pglite }) })
  // db.destroy() would close the instance, the next phase's too.
  return kyselyBenchStack(db, pglite, counter, strategy, async () => undefined)
}
