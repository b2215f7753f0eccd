/**
 * pg-tenants for Kysely: `fromKysely(db, client)`. A scope's callback gets a real Kysely
 * `Transaction` of your `db` (its query builders, plugins and `withSchema`), restricted by
 * row-level security. `PGliteDialect` is a Kysely dialect for PGlite that is safe beside scopes.
 *
 * @module pg-tenants/kysely
 */
import type { Kysely, Transaction } from 'kysely'
import type { Driver } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { sqlManager, type SessionControl, type SqlManagerOptions, type TenantManager } from '../core/manager.js'
import { isPgPool, nodePostgresDriver, type PgPoolLike } from '../drivers/node-postgres.js'
import { isPglite, pgliteDriver, type PgliteLike } from '../drivers/pglite.js'
import { isPostgresJs, postgresJsDriver, type PostgresJsLike } from '../drivers/postgres-js.js'
import { nativeRun, postgresJsRun, scopedConnection, type ScopedRun } from './connection.js'
import { scopedKysely } from './scoped.js'
import { scopeTransaction } from './transaction.js'
import type { Connection } from '../core/driver.js'

export { PGliteDialect, type PGliteDialectConfig } from './pglite-dialect.js'
export type { ForEachTenantOptions, ForEachTenantResult, SessionControl, SqlManagerOptions, TenantTable } from '../core/manager.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { TransactionOptions } from '../core/transaction.js'
export { leaveSuperuser, type LeaveSuperuserOptions } from '../drivers/leave-superuser.js'

/**
 * A manager over a Kysely database: what {@link fromKysely} returns. Its scopes hand their
 * callback a Kysely `Transaction<DB>`, with the scope's `tenant`.
 *
 * @example
 * ```ts
 * import type { PostgresManager } from 'pg-tenants/kysely'
 *
 * interface Database {
 *   todos: { id: number; tenant: string; title: string }
 * }
 *
 * export async function titles(manager: PostgresManager<Database>, tenant: string): Promise<string[]> {
 *   const rows = await manager.withTenant(tenant, (trx) => trx.selectFrom('todos').select('title').execute())
 *   return rows.map((r) => r.title)
 * }
 * ```
 */
export type PostgresManager<DB> = TenantManager<Transaction<DB>, Transaction<DB>, Kysely<DB>>

/**
 * A session of a {@link PostgresManager}: a Kysely `Transaction<DB>` plus `commit()`,
 * `rollback()` and `close()`. Each commit or rollback ends the session's transaction and opens
 * the next one, still scoped.
 *
 * @example
 * ```ts
 * import type { KyselySession } from 'pg-tenants/kysely'
 *
 * interface Database {
 *   todos: { id: number; tenant: string; title: string }
 * }
 *
 * export async function importOne(session: KyselySession<Database>, tenant: string, title: string): Promise<void> {
 *   await session.insertInto('todos').values({ id: 1, tenant, title }).execute()
 *   await session.commit()
 * }
 * ```
 */
export type KyselySession<DB> = Transaction<DB> & SessionControl

/**
 * The client a Kysely database is built on, which {@link fromKysely} also takes: the `pg.Pool`
 * of `PostgresDialect({ pool })`, the postgres.js `sql` of kysely-postgres-js'
 * `PostgresJSDialect({ postgres: sql })`, or the PGlite instance of `PGliteDialect({ pglite })`.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import type { KyselyClient } from 'pg-tenants/kysely'
 *
 * export const client: KyselyClient = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * ```
 */
export type KyselyClient = PgPoolLike | PgliteLike | PostgresJsLike

/**
 * Multi-tenancy over a Kysely database. `withTenant(id, trx => …)` hands `trx`, a Kysely
 * `Transaction<DB>` of `db` (its plugins, such as `CamelCasePlugin`, and `withSchema` kept)
 * whose every query runs in the scope's transaction; a session is such a transaction plus
 * {@link SessionControl}. Give the tenant `tables` so that ids are checked against their column
 * types before any SQL.
 *
 * `client` is what `db`'s dialect is built on: the `pg.Pool` of `new PostgresDialect({ pool })`,
 * the postgres.js `sql` of `new PostgresJSDialect({ postgres: sql })` (kysely-postgres-js), or the
 * PGlite instance of `new PGliteDialect({ pglite })`. pg-tenants runs its transactions on it with
 * a driver of its own, because it cannot through Kysely: Kysely keeps a database's dialect and
 * driver in private fields, and its Postgres connection reports only one result of a message and
 * drops the command tag of every statement but `COMMIT` and `ROLLBACK`, while a scope must send
 * `BEGIN` and its scoping statements in one message and see their results, and the scope's guard
 * reads every statement's command tag (to refuse a `COMMIT` of yours). Kysely compiles;
 * pg-tenants sends, on the same pool, `sql` or instance.
 *
 * Inside a scope, the transaction is the scope's: `trx.transaction()`, `trx.connection()` and
 * `trx.startTransaction()` are refused, and a `COMMIT` or `ROLLBACK` of yours ends the scope with
 * `UNSUPPORTED_OPERATION` (nothing after it runs). Give the modes to the scope
 * (`withTenant(id, fn, { isolationLevel: 'serializable' })`), not `SET TRANSACTION`, and use
 * savepoints by SQL for work to roll back alone. A query built in a scope and run after it is
 * refused (`SESSION_CLOSED`). `stream()` reads through a cursor of the scope's transaction (a
 * `SELECT`). On postgres.js every statement of a scope is sent as a prepared (unnamed) statement,
 * so one `sql.raw` holds one statement there. `db.transaction()` outside a scope is yours, as
 * before. Kysely's `log` option does not see a scope's queries.
 *
 * Throws `UNSUPPORTED_CLIENT` when `db` is not a Kysely instance or `client` is not a pool,
 * postgres.js `sql` or PGlite instance, and `INVALID_OPTIONS` for bad options.
 *
 * @example
 * ```ts
 * import { Kysely, PostgresDialect, sql } from 'kysely'
 * import pg from 'pg'
 * import { fromKysely } from 'pg-tenants/kysely'
 *
 * interface Database {
 *   todos: { id: number; tenant: string; title: string }
 * }
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
 * const manager = fromKysely(db, pool, { tables: [{ name: 'todos', type: 'text' }] })
 *
 * const mine = await manager.withTenant('acme', async (trx) => {
 *   await trx.insertInto('todos').values({ id: 1, tenant: trx.tenant, title: 'ship' }).execute()
 *   await sql`savepoint before_import`.execute(trx)
 *   return trx.selectFrom('todos').selectAll().execute() // only acme's rows
 * })
 * ```
 */
export function fromKysely<DB>(db: Kysely<DB>, client: KyselyClient, options: SqlManagerOptions = {}): PostgresManager<DB> {
  if (!isKysely(db)) {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'fromKysely(db, client) needs a Kysely instance as db (new Kysely<Database>({ dialect })), not a transaction or another client.',
    )
  }
  const { driver, run } = stackOf(client)
  return sqlManager(
    driver,
    client,
    options,
    (conn, scopeRole) => scopeTransaction(db, scopedConnection(run(conn, scopeRole))),
    (ambient) => scopedKysely(db, ambient, run),
  )
}

/** A Kysely instance (not a transaction), by shape: a second copy of kysely has other classes. */
function isKysely(db: unknown): db is Kysely<unknown> {
  const k = db as Record<string, unknown> | null
  return (
    typeof k === 'object' &&
    k !== null &&
    typeof k['getExecutor'] === 'function' &&
    typeof k['selectFrom'] === 'function' &&
    typeof k['transaction'] === 'function' &&
    k['isTransaction'] === false
  )
}

/** The driver the engine runs on, and how a scope's statements reach its pinned connection. */
function stackOf(client: unknown): { driver: Driver; run: (conn: Connection, scopeRole: string) => ScopedRun } {
  if (isPgPool(client)) return { driver: nodePostgresDriver(client), run: nativeRun }
  if (isPglite(client)) return { driver: pgliteDriver(client), run: nativeRun }
  if (isPostgresJs(client)) return { driver: postgresJsDriver(client), run: postgresJsRun }
  throw new TenantError(
    'UNSUPPORTED_CLIENT',
    "fromKysely(db, client) needs the client db's dialect is built on: the pg.Pool of new PostgresDialect({ pool }), the postgres.js sql " +
      'of new PostgresJSDialect({ postgres: sql }), or the PGlite instance of new PGliteDialect({ pglite }) (from pg-tenants/kysely). ' +
      'A single pg.Client or a reserved postgres.js connection cannot be pinned per unit of work.',
  )
}
