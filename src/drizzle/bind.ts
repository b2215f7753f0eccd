/**
 * Builds a Drizzle transaction object bound to a connection that pg-tenants has pinned and
 * scoped. The session is made by the user's own database's session class (node-postgres,
 * PGlite, …) with its dialect, schema, logger and cache, so queries, relational queries and
 * result mapping behave exactly as in `db.transaction(...)`; only BEGIN/COMMIT are ours.
 *
 * @module
 */
import { sql } from 'drizzle-orm'
import { TenantError } from '../core/errors.js'
import { NoopCache } from 'drizzle-orm/cache/core'
import { PgTransaction, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core'

/**
 * Any Drizzle PostgreSQL database (node-postgres, PGlite, …), whatever its schema.
 *
 * @example
 * ```ts
 * import type { AnyPgDatabase } from 'pg-tenants/drizzle'
 *
 * export function clientName(db: AnyPgDatabase): string {
 *   return db.constructor.name
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the widest Drizzle pg database: any driver, any schema
export type AnyPgDatabase = PgDatabase<any, any, any>

/**
 * The transaction type `db.transaction(...)` hands to its callback. For `any` (a manager typed
 * `PostgresManager<any>`), that of {@link AnyPgDatabase}: queries typed loosely, not `never`.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
 * import type { DrizzleTransaction } from 'pg-tenants/drizzle'
 *
 * export async function audit(tx: DrizzleTransaction<NodePgDatabase>, what: string): Promise<void> {
 *   await tx.execute(sql`insert into audit_log (what) values (${what})`)
 * }
 * ```
 */
export type DrizzleTransaction<TDb extends AnyPgDatabase> = Parameters<Parameters<(0 extends 1 & TDb ? AnyPgDatabase : TDb)['transaction']>[0]>[0]

/**
 * What a scope's `tx` and a session have in common: Drizzle's query API without `rollback` (a
 * session's `rollback()` resolves, a transaction's throws). Type a helper with it to pass it
 * either; a session is not a {@link DrizzleTransaction}.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
 * import type { DrizzleQueries, PostgresManager } from 'pg-tenants/drizzle'
 *
 * async function audit(q: DrizzleQueries<NodePgDatabase>, what: string): Promise<void> {
 *   await q.execute(sql`insert into audit_log (what) values (${what})`)
 * }
 * declare const manager: PostgresManager<NodePgDatabase>
 * await manager.withTenant('acme', (tx) => audit(tx, 'in a scope'))
 * await using session = await manager.newTenantSession('acme')
 * await audit(session, 'in a session')
 * ```
 */
export type DrizzleQueries<TDb extends AnyPgDatabase> = Omit<DrizzleTransaction<TDb>, 'rollback'>

/** The session internals of a Drizzle database that a bound transaction reuses. */
interface SessionInternals {
  constructor: new (client: unknown, dialect: unknown, schema: unknown, options: unknown) => unknown
  dialect: unknown
  schema: unknown
  options: unknown
}

/** A Drizzle transaction on a pinned connection; nested transactions are savepoints, as in
 * every Drizzle pg driver. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one transaction class for every Drizzle pg driver and schema
class ScopedTransaction extends PgTransaction<PgQueryResultHKT, any, any> {
  /** A scope's transaction modes go with its BEGIN (one message); `SET TRANSACTION` inside it
   * would come after the scoping statements, where PostgreSQL refuses it (25001). */
  override setTransaction(): Promise<void> {
    return Promise.reject(
      new TenantError(
        'UNSUPPORTED_OPERATION',
        'tx.setTransaction() cannot change a scope that is already open: pass the options to the scope ' +
          "instead, e.g. withTenant(id, fn, { isolationLevel: 'serializable', accessMode: 'read only' }).",
      ),
    )
  }

  override async transaction<T>(fn: (tx: ScopedTransaction) => Promise<T>): Promise<T> {
    const internals = this as unknown as { dialect: never; session: never; schema: never; nestedIndex: number }
    const name = `sp${internals.nestedIndex + 1}`
    const tx = new ScopedTransaction(internals.dialect, internals.session, internals.schema, internals.nestedIndex + 1)
    await tx.execute(sql.raw(`savepoint ${name}`))
    try {
      const result = await fn(tx)
      await tx.execute(sql.raw(`release savepoint ${name}`))
      return result
    } catch (error) {
      await tx.execute(sql.raw(`rollback to savepoint ${name}`))
      throw error
    }
  }
}

/** A transaction object for `db`'s driver, talking to `client` (the pinned connection). */
export function bindTransaction<TDb extends AnyPgDatabase>(db: TDb, client: unknown): DrizzleTransaction<TDb> {
  const base = (db as unknown as { session: SessionInternals }).session
  const Session = base.constructor
  // Never the database's query cache: its key is the SQL text and parameters, the same for every
  // tenant, so a cached result would cross tenants without ever reaching row-level security.
  const options = { ...(base.options as object), cache: new NoopCache() }
  const session = new Session(client, base.dialect, base.schema, options)
  return new ScopedTransaction(base.dialect as never, session as never, base.schema as never)
}

/** The client a Drizzle database was built on (`db.$client`). */
export function clientOf(db: AnyPgDatabase): unknown {
  return (db as unknown as { $client?: unknown }).$client
}
