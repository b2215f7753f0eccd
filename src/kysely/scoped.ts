/**
 * The `manager.scoped()` handle of Kysely: a `Kysely<DB>` with your `db`'s compiler, adapter and
 * plugins whose connection provider opens one scope for the ambient tenant each time Kysely asks
 * for a connection. A query (`execute()`) asks once: it runs as its own short scoped transaction.
 * `transaction().execute(fn)`, `startTransaction()` and `connection().execute(fn)` ask once for
 * all their work: it runs in one scoped transaction (its BEGIN and COMMIT are the scope's). No
 * connection is held between queries, and a query built in one context runs for the tenant of
 * the context it is executed in.
 *
 * @module
 */
import {
  CompiledQuery,
  Kysely,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type TransactionSettings,
} from 'kysely'
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import type { AmbientScopes } from '../core/manager.js'
import { quoteIdent } from '../core/quote.js'
import { scopedConnection, type ScopedRun } from './connection.js'

/** Carries the value of a unit of work whose Kysely transaction asked to roll back, through the
 * scope (which rolls back on a throw). */
class RolledBack extends Error {
  constructor(readonly value: unknown) {
    super('rolled back')
  }
}

/** The scoped Kysely over `db`: each connection Kysely asks for is one scope of `ambient`. */
export function scopedKysely<DB>(db: Kysely<DB>, ambient: AmbientScopes<object>, run: (conn: Connection, scopeRole: string) => ScopedRun): Kysely<DB> {
  const rollbacks = new WeakSet<DatabaseConnection>()
  const provider = {
    async provideConnection<T>(consumer: (connection: DatabaseConnection) => Promise<T>): Promise<T> {
      try {
        return await ambient.statement(async (conn, role) => {
          const connection = scopedConnection(run(conn, role))
          const value = await consumer(connection)
          if (rollbacks.has(connection)) throw new RolledBack(value)
          return value
        })
      } catch (error) {
        if (error instanceof RolledBack) return error.value as T
        throw error
      }
    },
  }
  const savepoint = (verb: string) => async (connection: DatabaseConnection, name: string) => {
    await connection.executeQuery(CompiledQuery.raw(`${verb} ${quoteIdent(name)}`))
  }
  const driver: Driver = {
    init: async () => undefined,
    acquireConnection: () => Promise.reject(new TenantError('UNSUPPORTED_OPERATION', 'A scoped Kysely hands out no connection of its own.')),
    async beginTransaction(_connection: DatabaseConnection, settings: TransactionSettings) {
      // The scope is open already (the provider opened it): its modes were fixed then.
      if (settings.isolationLevel !== undefined || settings.accessMode !== undefined) {
        throw new TenantError(
          'UNSUPPORTED_OPERATION',
          "A scoped Kysely's transaction is the scope's, opened before Kysely names its modes: pass them to manager.scoped({ isolationLevel, accessMode }).",
        )
      }
    },
    commitTransaction: async () => undefined, // the scope commits when the work resolves
    async rollbackTransaction(connection: DatabaseConnection) {
      rollbacks.add(connection)
    },
    savepoint: savepoint('savepoint'),
    rollbackToSavepoint: savepoint('rollback to savepoint'),
    releaseSavepoint: savepoint('release savepoint'),
    releaseConnection: async () => undefined,
    destroy: async () => undefined, // a view of db: destroy db itself
  }
  const executor = db.getExecutor().withConnectionProvider(provider)
  const dialect: Dialect = {
    createAdapter: () => executor.adapter,
    createDriver: () => driver,
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createIntrospector: (scoped) => new PostgresIntrospector(scoped),
  }
  return new Kysely<DB>({ config: { dialect }, driver, dialect, executor })
}
