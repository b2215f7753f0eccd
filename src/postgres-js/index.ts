/**
 * pg-tenants for postgres.js (npm `postgres`) with no ORM: `fromPostgresJs(sql)`. A scope's
 * callback gets `tx`, a postgres.js `sql` on the scope's pinned connection, restricted by
 * row-level security: tagged templates, `unsafe`, fragments and helpers as usual.
 *
 * @module pg-tenants/postgres-js
 */
import type { ISql } from 'postgres'
import { TenantError } from '../core/errors.js'
import { sqlManager, type SessionControl, type SqlManagerOptions, type TenantManager, type TenantScoped } from '../core/manager.js'
import type { TransactionOptions } from '../core/transaction.js'
import { isPostgresJs, postgresJsDriver, type PostgresJsLike } from '../drivers/postgres-js.js'
import { perStatementSql } from './per-statement.js'
import { scopedSql } from './scoped-sql.js'

export type { ForEachTenantOptions, ForEachTenantResult, SessionControl, SqlManagerOptions, TenantTable } from '../core/manager.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { TransactionOptions } from '../core/transaction.js'

/**
 * What a scope's callback and a session query with: postgres.js' `sql` on the scope's pinned
 * connection (its tagged templates, `unsafe`, `json`, `array`, `typed`, helpers such as
 * `tx(row)` and `tx(['id', 'title'])`, fragments, cursors), with postgres.js' own row typing.
 * Queries run one after another, each checked: SQL that ends the scope's transaction (`COMMIT`,
 * `ROLLBACK`) is refused with `UNSUPPORTED_OPERATION` and nothing more runs; a query started
 * after the scope is refused with `SESSION_CLOSED`. `notify` goes out when the scope commits.
 * `savepoint(fn)` is a nested transaction. What needs a connection of its own or ends the
 * transaction (`begin`, `reserve`, `release`, `end`, `listen`, `subscribe`, `prepare`), and `file` (postgres.js
 * sends a file query when its read ends, maybe after the scope: read it and use `unsafe`), throws
 * `UNSUPPORTED_OPERATION`.
 *
 * @example
 * ```ts
 * import type { PostgresJsQueries } from 'pg-tenants/postgres-js'
 *
 * interface Todo {
 *   id: number
 *   title: string
 * }
 *
 * export async function addTodo(tx: PostgresJsQueries, tenant: string, title: string): Promise<Todo[]> {
 *   await tx`insert into todos ${tx({ tenant, title })}`
 *   return tx<Todo[]>`select ${tx(['id', 'title'])} from todos where title = ${title}`
 * }
 * ```
 */
export interface PostgresJsQueries extends ISql {
  /**
   * Runs `fn` in a savepoint: released when `fn` resolves, rolled back to (and the error thrown
   * again) when it throws. Optionally named.
   *
   * @example
   * ```ts
   * import type { PostgresJsQueries } from 'pg-tenants/postgres-js'
   *
   * export async function tryImport(tx: PostgresJsQueries, titles: string[]): Promise<boolean> {
   *   try {
   *     await tx.savepoint(async (sp) => {
   *       for (const title of titles) await sp`insert into todos (title) values (${title})`
   *     })
   *     return true
   *   } catch {
   *     return false // the inserts are rolled back; the scope goes on
   *   }
   * }
   * ```
   */
  savepoint<T>(fn: (sql: PostgresJsQueries) => T | Promise<T>): Promise<T extends readonly unknown[] ? { -readonly [K in keyof T]: Awaited<T[K]> } : Awaited<T>>
  /** As the other form, the savepoint's name ending in `name`. */
  savepoint<T>(
    name: string,
    fn: (sql: PostgresJsQueries) => T | Promise<T>,
  ): Promise<T extends readonly unknown[] ? { -readonly [K in keyof T]: Awaited<T[K]> } : Awaited<T>>
}

/**
 * What `manager.scoped()` returns: a postgres.js `sql` to use as the app's database, whose every
 * query (a tagged template, `unsafe`) runs, when awaited, as one short transaction scoped to the
 * ambient tenant of that moment (`runWithTenant`; none: `NO_TENANT_CONTEXT`, nothing sent),
 * holding no connection between queries. Fragments made with it nest as usual; helpers (`db(row)`,
 * `json`, `array`, `typed`) are postgres.js' own. `begin(fn)` (or `transaction(fn, options)`) runs
 * `fn` in one scoped transaction with the scope's `tx`. What needs a connection beyond one
 * statement (`cursor`, `forEach`, `describe`, COPY streams, `reserve`, `listen`, `subscribe`,
 * `notify`, `file`, `savepoint`) throws `UNSUPPORTED_OPERATION`: use it inside `begin`.
 *
 * @example
 * ```ts
 * import { runWithTenant } from 'pg-tenants'
 * import type { PostgresJsScoped } from 'pg-tenants/postgres-js'
 *
 * declare const db: PostgresJsScoped // manager.scoped()
 *
 * await runWithTenant('acme', async () => {
 *   const open = db`done = false`
 *   const rows = await db<{ title: string }[]>`select title from todos where ${open}`
 *   await db.begin(async (tx) => {
 *     await tx`insert into todos ${tx({ tenant: String(tx.tenant), title: "ship" })}`
 *   })
 *   return rows
 * })
 * ```
 */
export interface PostgresJsScoped extends ISql {
  /** Runs `fn` in one transaction scoped to the ambient tenant; `tx` is the scope's `sql`. */
  begin<R>(fn: (tx: PostgresJsQueries & TenantScoped) => Promise<R>): Promise<R>
  /** As {@link begin}, with the scope's transaction modes. */
  transaction<R>(fn: (tx: PostgresJsQueries & TenantScoped) => Promise<R>, options?: TransactionOptions): Promise<R>
}

/**
 * A manager over a postgres.js `sql`: what {@link fromPostgresJs} returns.
 *
 * @example
 * ```ts
 * import type { PostgresManager } from 'pg-tenants/postgres-js'
 *
 * export async function titles(manager: PostgresManager, tenant: string): Promise<string[]> {
 *   const rows = await manager.withTenant(tenant, (tx) => tx<{ title: string }[]>`select title from todos`)
 *   return rows.map((r) => r.title)
 * }
 * ```
 */
export type PostgresManager = TenantManager<PostgresJsQueries, PostgresJsQueries, PostgresJsScoped>

/**
 * A session of a {@link PostgresManager}: the scope's `sql` plus `commit()`, `rollback()`,
 * `close()`.
 *
 * @example
 * ```ts
 * import type { PostgresJsSession } from 'pg-tenants/postgres-js'
 *
 * export async function importOne(session: PostgresJsSession, tenant: string, title: string): Promise<void> {
 *   await session`insert into todos (tenant, title) values (${tenant}, ${title})`
 *   await session.commit()
 * }
 * ```
 */
export type PostgresJsSession = PostgresJsQueries & SessionControl

/**
 * Multi-tenancy over a postgres.js `sql` (`postgres(url, options)`), with SQL of your own. Give
 * the tenant `tables` so that ids are checked against their column types before any SQL. Each
 * unit of work reserves one connection of the pool (`sql.reserve()`). Behind PgBouncer in
 * transaction mode, create the `sql` with `prepare: false`. Throws `UNSUPPORTED_CLIENT` for
 * anything but a postgres.js `sql` (a reserved connection or a transaction's `sql` cannot hand
 * out a connection per unit of work) and `INVALID_OPTIONS` for bad options.
 *
 * @example
 * ```ts
 * import postgres from 'postgres'
 * import { fromPostgresJs } from 'pg-tenants/postgres-js'
 *
 * const sql = postgres(process.env.DATABASE_URL!)
 * const manager = fromPostgresJs(sql, { tables: [{ name: 'todos', type: 'text' }] })
 *
 * const mine = await manager.withTenant('acme', async (tx) => {
 *   await tx`insert into todos (tenant, title) values (${tx.tenant}, 'ship')`
 *   return tx`select title from todos` // only acme's rows
 * })
 * ```
 */
export function fromPostgresJs(sql: PostgresJsLike, options: SqlManagerOptions = {}): PostgresManager {
  if (!isPostgresJs(sql)) {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'fromPostgresJs needs a postgres.js sql made by postgres(url, options): a reserved connection (sql.reserve()) or the sql of a ' +
        'transaction cannot be pinned per unit of work. For a pg.Pool use pg-tenants/pg, for PGlite pg-tenants/pglite.',
    )
  }
  return sqlManager(
    postgresJsDriver(sql),
    sql,
    options,
    (conn, role) => scopedSql(conn, role) as PostgresJsQueries,
    (ambient) => perStatementSql(ambient, sql) as PostgresJsScoped,
  )
}
