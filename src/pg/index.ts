/**
 * pg-tenants for node-postgres with no ORM: `fromPg(pool)`. A scope's callback gets a client
 * whose `query(text, values)` runs on the scope's pinned connection, restricted by row-level
 * security.
 *
 * @module pg-tenants/pg
 */
import { TenantError } from '../core/errors.js'
import { guardedClient } from '../core/guard.js'
import { sqlManager, type SessionControl, type SqlManagerOptions, type TenantManager } from '../core/manager.js'
import { scopedClientHandle, type ScopedTransaction } from '../core/scoped-client.js'
import { isPgPool, nodePostgresDriver, type PgPoolLike } from '../drivers/node-postgres.js'

export type { ForEachTenantOptions, ForEachTenantResult, SessionControl, SqlManagerOptions, TenantTable } from '../core/manager.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { TransactionOptions } from '../core/transaction.js'

/**
 * What node-postgres answers a query with (the part of `pg.QueryResult` pg-tenants promises).
 *
 * @example
 * ```ts
 * import type { PgResult } from 'pg-tenants/pg'
 *
 * export const titles = (result: PgResult<{ title: string }>) => result.rows.map((r) => r.title)
 * ```
 */
export interface PgResult<R extends Record<string, unknown> = Record<string, unknown>> {
  /** The command tag: `SELECT`, `INSERT`, … */
  readonly command: string
  /** Rows affected or returned. */
  readonly rowCount: number | null
  /** The rows, as objects keyed by column name. */
  readonly rows: R[]
}

/**
 * What a scope's callback and a session query with: node-postgres' `query`, on the scope's
 * pinned connection. Calls run one after another; SQL that ends the scope's transaction
 * (`COMMIT`, `ROLLBACK`) is refused with `UNSUPPORTED_OPERATION` and nothing more runs.
 * Use `SAVEPOINT` for work to roll back alone.
 *
 * @example
 * ```ts
 * import type { PgQueries } from 'pg-tenants/pg'
 *
 * export async function addTodo(tx: PgQueries, tenant: string, title: string): Promise<void> {
 *   await tx.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tenant, title])
 * }
 * ```
 */
export interface PgQueries {
  /** One statement with `$1…` parameters, or several without. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<PgResult<R>>
}

/**
 * What `manager.scoped()` returns: `PgQueries` whose every call is one short transaction scoped to
 * the ambient tenant (`runWithTenant`; none: `NO_TENANT_CONTEXT`, nothing sent), holding no
 * connection between calls, and `transaction(fn, options?)` for several statements in one scoped
 * transaction (`fn` gets the scope's `tx`, as `withTenant`).
 *
 * @example
 * ```ts
 * import { runWithTenant } from 'pg-tenants'
 * import type { PgScoped } from 'pg-tenants/pg'
 *
 * declare const db: PgScoped // manager.scoped()
 *
 * const titles = await runWithTenant('acme', async () => (await db.query<{ title: string }>('SELECT title FROM todos')).rows)
 * ```
 */
export interface PgScoped extends PgQueries, ScopedTransaction<PgQueries> {}

/**
 * A manager over a node-postgres pool: what {@link fromPg} returns.
 *
 * @example
 * ```ts
 * import type { PostgresManager } from 'pg-tenants/pg'
 *
 * export async function titles(manager: PostgresManager, tenant: string): Promise<string[]> {
 *   const { rows } = await manager.withTenant(tenant, (tx) => tx.query<{ title: string }>('SELECT title FROM todos'))
 *   return rows.map((r) => r.title)
 * }
 * ```
 */
export type PostgresManager = TenantManager<PgQueries, PgQueries, PgScoped>

/**
 * A session of a {@link PostgresManager}: `query` plus `commit()`, `rollback()`, `close()`.
 *
 * @example
 * ```ts
 * import type { PgSession } from 'pg-tenants/pg'
 *
 * export async function importOne(session: PgSession, title: string): Promise<void> {
 *   await session.query('INSERT INTO todos (tenant, title) VALUES (current_setting($1), $2)', ['pg_tenants.tenant_id', title])
 *   await session.commit()
 * }
 * ```
 */
export type PgSession = PgQueries & SessionControl

/**
 * Multi-tenancy over a node-postgres `Pool`, with SQL of your own. Give the tenant `tables` so
 * that ids are checked against their column types before any SQL. Throws `UNSUPPORTED_CLIENT`
 * for anything but a pool (a single `pg.Client` cannot be pinned per unit of work) and
 * `INVALID_OPTIONS` for bad options.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { fromPg } from 'pg-tenants/pg'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const manager = fromPg(pool, { tables: [{ name: 'todos', type: 'text' }] })
 *
 * await manager.withTenant('acme', async (tx) => {
 *   await tx.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tx.tenant, 'ship'])
 *   return (await tx.query('SELECT title FROM todos')).rows // only acme's rows
 * })
 * ```
 */
export function fromPg(pool: PgPoolLike, options: SqlManagerOptions = {}): PostgresManager {
  if (!isPgPool(pool)) {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'fromPg needs a node-postgres Pool (new pg.Pool(...)): a single pg.Client cannot be pinned per unit of work. For PGlite use pg-tenants/pglite.',
    )
  }
  return sqlManager(
    nodePostgresDriver(pool),
    pool,
    options,
    (conn, role) => guardedClient(conn, role) as unknown as PgQueries,
    (ambient) => scopedClientHandle(ambient, ['query']) as PgScoped,
  )
}
