/**
 * The stacks on the server of DATABASE_URL, each on one connection of its own (a pool of one, or
 * postgres.js with `max: 1`), logged in as the non-superuser owner, with its own plain
 * transaction as the baseline.
 *
 * @module
 */
import { Kysely, PostgresDialect, sql } from 'kysely'
import type { Strategy } from '../../src/core/options.js'
import { fromKysely } from '../../src/kysely/index.js'
import { fromPg } from '../../src/pg/index.js'
import { countingPool, type Counter } from '../scope-overhead/round-trips.js'
import { optionsFor, SCHEMA, TENANT_TABLES } from './config.js'
import { benchStack, selectText, type BenchStack, type Row, type Table } from './stack.js'

/** What the pg stack's callbacks query with: the scope's client, or a pool client. */
interface PgQueryable {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>
}

/** The Kysely database of the benchmark. */
export interface BenchDb {
  'pgt_stacks.items': { id: number; tenant: string; payload: string | null }
  'pgt_stacks.items_plain': { id: number; tenant: string; payload: string | null }
}

/** A Kysely select by primary key, on a database or a transaction. */
export const kyselySelect = (h: Kysely<BenchDb>, table: Table, id: number): Promise<Row[]> =>
  h.selectFrom(`${SCHEMA}.${table}`).selectAll().where('id', '=', id).execute()

/** Rows of a statement without parameters, through Kysely. */
export const kyselyRaw = async (h: Kysely<BenchDb>, text: string) => (await sql.raw<Record<string, unknown>>(text).execute(h)).rows

/** A Kysely stack over `db` and its `client` (a pool, a postgres.js `sql`, PGlite): `fromKysely`
 * scopes against Kysely's own `db.transaction().execute(trx => …)`, the same on every dialect. */
export function kyselyBenchStack(
  db: Kysely<BenchDb>,
  client: Parameters<typeof fromKysely>[1],
  counter: Counter,
  strategy: Strategy,
  close: () => Promise<void>,
): BenchStack {
  const manager = fromKysely(db, client, { ...optionsFor(strategy), tables: TENANT_TABLES })
  return benchStack<Kysely<BenchDb>>({
    counter,
    scope: (tenant, fn) => manager.withTenant(tenant, fn),
    transaction: (fn) => db.transaction().execute(fn),
    select: kyselySelect,
    raw: kyselyRaw,
    close,
  })
}

/**
 * `fromPg(pool)`; the baseline is node-postgres' own transaction, as its documentation writes
 * it: `pool.connect()`, `BEGIN`, the queries, `COMMIT` (or `ROLLBACK`), `release()`.
 */
export async function pgStack(url: string, strategy: Strategy): Promise<BenchStack> {
  const counter: Counter = { queries: 0, ready: 0, connects: 0 }
  const pool = countingPool(url, counter)
  const manager = fromPg(pool, { ...optionsFor(strategy), tables: TENANT_TABLES })
  return benchStack<PgQueryable>({
    counter,
    scope: (tenant, fn) => manager.withTenant(tenant, fn),
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK')
        throw error
      } finally {
        client.release()
      }
    },
    select: async (h, table, id) => (await h.query(selectText(table), [id])).rows as Row[],
    raw: async (h, text) => (await h.query(text, [])).rows as Record<string, unknown>[],
    close: () => pool.end(),
  })
}

/** `fromKysely(db, pool)` over Kysely's `PostgresDialect`; the baseline is `db.transaction().execute(trx => …)`. */
export async function kyselyPgStack(url: string, strategy: Strategy): Promise<BenchStack> {
  const counter: Counter = { queries: 0, ready: 0, connects: 0 }
  const pool = countingPool(url, counter)
  const db = new Kysely<BenchDb>({ dialect: new PostgresDialect({ pool }) })
  return kyselyBenchStack(db, pool, counter, strategy, () => db.destroy())
}
