/**
 * The Kysely `Transaction` of a scope: the user's own `db` (its compiler, adapter and plugins,
 * `withSchema` included) over the scope's connection. Kysely keeps a database's dialect and
 * driver in private fields, so the transaction gets a dialect and a driver of its own: the
 * driver refuses to open a transaction (the scope's is the transaction), the dialect introspects
 * as Kysely's Postgres dialects do.
 *
 * @module
 */
import {
  PostgresIntrospector,
  PostgresQueryCompiler,
  SingleConnectionProvider,
  Transaction,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
} from 'kysely'
import { TenantError } from '../core/errors.js'

const refused = (): Promise<never> =>
  Promise.reject(
    new TenantError(
      'UNSUPPORTED_OPERATION',
      "Inside a pg-tenants scope the transaction is the scope's: Kysely's transaction(), startTransaction() and " +
        'connection() are refused. For work to roll back alone use a savepoint (sql`savepoint name`.execute(trx), then ' +
        'sql`release savepoint name` or sql`rollback to savepoint name`); give the isolation level or access mode to the scope: ' +
        "withTenant(id, fn, { isolationLevel: 'serializable' }).",
    ),
  )

/** What `trx.startTransaction()` (the only way left to reach a driver from a Transaction) meets. */
const scopeDriver: Driver = {
  init: async () => undefined,
  acquireConnection: refused,
  beginTransaction: refused,
  commitTransaction: refused,
  rollbackTransaction: refused,
  releaseConnection: async () => undefined,
  destroy: refused,
}

/** The Kysely transaction over `connection`, with `db`'s compiler, adapter and plugins. */
export function scopeTransaction<DB>(db: Kysely<DB>, connection: DatabaseConnection): Transaction<DB> {
  const executor = db.getExecutor().withConnectionProvider(new SingleConnectionProvider(connection))
  const dialect: Dialect = {
    createAdapter: () => executor.adapter,
    createDriver: () => scopeDriver,
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createIntrospector: (scoped) => new PostgresIntrospector(scoped),
  }
  return new Transaction<DB>({ config: { dialect }, driver: scopeDriver, dialect, executor })
}
