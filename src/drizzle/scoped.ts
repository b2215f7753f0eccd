/**
 * The `manager.scoped()` handle of Drizzle: a database of your `db`'s own class (its dialect,
 * schema, relational queries and logger; never its query cache, whose key is the same for every
 * tenant) whose session talks to a client that runs each call as its own short transaction
 * scoped to the ambient tenant. Every Drizzle query, lazy builders included, executes through
 * that session, so a query runs for the tenant in context when it executes. `transaction(fn,
 * config)` runs `fn` in one scoped transaction, the scope's Drizzle transaction.
 *
 * @module
 */
import { NoopCache } from 'drizzle-orm/cache/core'
import type { AmbientScopes } from '../core/manager.js'
import { scopedClientHandle } from '../core/scoped-client.js'
import type { TransactionOptions } from '../core/transaction.js'
import { isPglite } from '../drivers/pglite.js'
import { isPostgresJs } from '../drivers/postgres-js.js'
import { perStatementSql } from '../postgres-js/per-statement.js'
import { clientOf, type AnyPgDatabase, type DrizzleTransaction } from './bind.js'

/** The session internals of a Drizzle database that the scoped database's session reuses. */
interface SessionInternals {
  constructor: new (client: unknown, dialect: unknown, schema: unknown, options: unknown) => unknown
  dialect: unknown
  schema: unknown
  options: unknown
}

/** The scoped database over `db`. */
export function scopedDatabase<TDb extends AnyPgDatabase>(db: TDb, ambient: AmbientScopes<DrizzleTransaction<TDb>>): TDb {
  const base = (db as unknown as { session: SessionInternals }).session
  const client = clientOf(db)
  const perStatement = isPostgresJs(client) ? perStatementSql(ambient, client) : scopedClientHandle(ambient, isPglite(client) ? ['query', 'exec'] : ['query'])
  const session = new base.constructor(perStatement, base.dialect, base.schema, { ...(base.options as object), cache: new NoopCache() }) as Record<
    string,
    unknown
  >
  // db.transaction(fn, config) is session.transaction: one scope, not BEGIN sent as a statement.
  session['transaction'] = (fn: (tx: DrizzleTransaction<TDb>) => Promise<unknown>, config?: TransactionOptions) => ambient.transaction(fn, config)
  const Database = db.constructor as new (dialect: unknown, session: unknown, schema: unknown) => TDb
  return new Database(base.dialect, session, base.schema)
}
