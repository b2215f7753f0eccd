/**
 * pg-tenants for PGlite with no ORM: `fromPglite(db)`. A scope's callback gets `query` and
 * `exec` on the scope's transaction, restricted by row-level security.
 *
 * @module pg-tenants/pglite
 */
import { TenantError } from '../core/errors.js'
import { guardedClient } from '../core/guard.js'
import { sqlManager, type SessionControl, type SqlManagerOptions, type TenantManager } from '../core/manager.js'
import { scopedClientHandle, type ScopedTransaction } from '../core/scoped-client.js'
import { isPglite, pgliteDriver, type PgliteLike } from '../drivers/pglite.js'

export type { ForEachTenantOptions, ForEachTenantResult, SessionControl, SqlManagerOptions, TenantTable } from '../core/manager.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { TransactionOptions } from '../core/transaction.js'
export { leaveSuperuser, type LeaveSuperuserOptions } from '../drivers/leave-superuser.js'

/**
 * What PGlite answers a query with (the part of its `Results` pg-tenants promises).
 *
 * @example
 * ```ts
 * import type { PgliteResult } from 'pg-tenants/pglite'
 *
 * export const titles = (result: PgliteResult<{ title: string }>) => result.rows.map((r) => r.title)
 * ```
 */
export interface PgliteResult<R = Record<string, unknown>> {
  /** The rows, as objects keyed by column name. */
  readonly rows: R[]
  /** Rows an INSERT, UPDATE or DELETE affected. */
  readonly affectedRows?: number
}

/**
 * What a scope's callback and a session query with: PGlite's `query` and `exec`, on the scope's
 * transaction. Calls run one after another; SQL that ends the scope's transaction (`COMMIT`,
 * `ROLLBACK`) is refused with `UNSUPPORTED_OPERATION` and nothing more runs.
 *
 * @example
 * ```ts
 * import type { PgliteQueries } from 'pg-tenants/pglite'
 *
 * export async function addTodo(tx: PgliteQueries, tenant: string, title: string): Promise<void> {
 *   await tx.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tenant, title])
 * }
 * ```
 */
export interface PgliteQueries {
  /** One statement with `$1…` parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<PgliteResult<R>>
  /** Several statements without parameters, one result each. */
  exec(sql: string): Promise<PgliteResult[]>
}

/**
 * What `manager.scoped()` returns: `PgliteQueries` whose every call is one short transaction scoped to
 * the ambient tenant (`runWithTenant`; none: `NO_TENANT_CONTEXT`, nothing sent), holding no
 * connection between calls, and `transaction(fn, options?)` for several statements in one scoped
 * transaction (`fn` gets the scope's `tx`, as `withTenant`).
 *
 * @example
 * ```ts
 * import { runWithTenant } from 'pg-tenants'
 * import type { PgliteScoped } from 'pg-tenants/pglite'
 *
 * declare const db: PgliteScoped // manager.scoped()
 *
 * await runWithTenant('acme', () => db.exec("UPDATE todos SET title = upper(title); DELETE FROM todos WHERE title = ''"))
 * ```
 */
export interface PgliteScoped extends PgliteQueries, ScopedTransaction<PgliteQueries> {}

/**
 * A manager over one PGlite instance: what {@link fromPglite} returns.
 *
 * @example
 * ```ts
 * import type { PostgresManager } from 'pg-tenants/pglite'
 *
 * export async function titles(manager: PostgresManager, tenant: string): Promise<string[]> {
 *   const { rows } = await manager.withTenant(tenant, (tx) => tx.query<{ title: string }>('SELECT title FROM todos'))
 *   return rows.map((r) => r.title)
 * }
 * ```
 */
export type PostgresManager = TenantManager<PgliteQueries, PgliteQueries, PgliteScoped>

/**
 * A session of a {@link PostgresManager}: `query` and `exec` plus `commit()`, `rollback()`,
 * `close()`.
 *
 * @example
 * ```ts
 * import type { PgliteSession } from 'pg-tenants/pglite'
 *
 * export async function importOne(session: PgliteSession, tenant: string, title: string): Promise<void> {
 *   await session.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tenant, title])
 *   await session.commit()
 * }
 * ```
 */
export type PgliteSession = PgliteQueries & SessionControl

/**
 * Multi-tenancy over one PGlite instance, with SQL of your own. PGlite is one session: units of
 * work run one at a time. Call `leaveSuperuser(db)` before migrating (row-level security never
 * binds PGlite's superuser). Throws `UNSUPPORTED_CLIENT` for anything but a PGlite instance.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { fromPglite, leaveSuperuser } from 'pg-tenants/pglite'
 *
 * const db = new PGlite()
 * await leaveSuperuser(db)
 * const manager = fromPglite(db, { tables: [{ name: 'todos', type: 'text' }] })
 * ```
 */
export function fromPglite(db: PgliteLike, options: SqlManagerOptions = {}): PostgresManager {
  if (!isPglite(db)) {
    throw new TenantError('UNSUPPORTED_CLIENT', 'fromPglite needs a PGlite instance (new PGlite() or await PGlite.create()). For a pg.Pool use pg-tenants/pg.')
  }
  return sqlManager(
    pgliteDriver(db),
    db,
    options,
    (conn, role) => guardedClient(conn, role) as unknown as PgliteQueries,
    (ambient) => scopedClientHandle(ambient, ['query', 'exec']) as PgliteScoped,
  )
}
