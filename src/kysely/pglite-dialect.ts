/**
 * A Kysely dialect for one PGlite instance, safe beside pg-tenants' scopes on the same instance.
 * PGlite is one PostgreSQL session, so the dialect hands out one connection at a time, and a
 * Kysely transaction is PGlite's own `transaction()`, which holds PGlite's lock: no query of
 * anyone else's (a scope, another `db` query, a plain `pglite.query`) can run inside it, nor it
 * inside theirs.
 *
 * @module
 */
import {
  AbortedTransactionError,
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import { refuseNested } from '../core/context.js'
import { TenantError } from '../core/errors.js'
import { quoteIdent } from '../core/quote.js'
import { transactionModes } from '../core/transaction.js'
import { queryResult } from './connection.js'

/** The part of a PGlite result read here. */
interface PgliteResult {
  command?: string
  affectedRows?: number
  rows: unknown[]
}

/** What the dialect sends statements through: the instance, or its transaction. */
interface PgliteQueryable {
  query(sql: string, params?: unknown[]): Promise<PgliteResult>
  exec(sql: string): Promise<PgliteResult[]>
}

/** The part of PGlite's transaction object used here. */
interface PgliteTransaction extends PgliteQueryable {
  rollback(): Promise<void>
}

/**
 * The options of a {@link PGliteDialect}: the PGlite instance (`new PGlite()`, `await
 * PGlite.create()`), the same one pg-tenants is given.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import type { PGliteDialectConfig } from 'pg-tenants/kysely'
 *
 * export const config: PGliteDialectConfig = { pglite: new PGlite() }
 * ```
 */
export interface PGliteDialectConfig {
  /** The PGlite instance. `db.destroy()` closes it, as `PostgresDialect`'s ends its pool. */
  readonly pglite: PgliteQueryable & {
    /** PGlite's own transaction, which a Kysely transaction of this dialect is. */
    transaction<T>(fn: (tx: PgliteTransaction) => Promise<T>): Promise<T>
    /** Closes the instance (`db.destroy()`). */
    close(): Promise<void>
    /** True once closed. */
    readonly closed?: boolean
  }
}

/**
 * A Kysely dialect for PGlite. Queries run one at a time (PGlite is one session): a
 * `db.transaction()` or `db.connection()` holds the instance until it ends, and is PGlite's own
 * `transaction()`, so that nothing else on the instance (a pg-tenants scope included) can run
 * inside it. A query without parameters goes out as one simple-query message (PGlite's `exec`),
 * so a multi-statement migration runs as one string, as on node-postgres; `stream()` is not
 * supported. Inside a scope, a query on `db` (rather than the scope's `trx`) is refused with
 * `NESTED_SCOPE`: it would wait for the scope's hold on PGlite forever.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { Kysely } from 'kysely'
 * import { fromKysely, PGliteDialect } from 'pg-tenants/kysely'
 *
 * interface Database {
 *   todos: { id: number; tenant: string; title: string }
 * }
 *
 * const pglite = new PGlite()
 * const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
 * const manager = fromKysely(db, pglite, { tables: [{ name: 'todos', type: 'text' }] })
 * ```
 */
export class PGliteDialect implements Dialect {
  readonly #config: PGliteDialectConfig

  constructor(config: PGliteDialectConfig) {
    if (typeof config?.pglite?.transaction !== 'function' || typeof config.pglite.exec !== 'function') {
      throw new TenantError('UNSUPPORTED_CLIENT', 'PGliteDialect needs a PGlite instance: new PGliteDialect({ pglite: new PGlite() }).')
    }
    this.#config = Object.freeze({ ...config })
  }

  /** Kysely's `PostgresAdapter`. */
  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  /** The driver: one connection at a time over the instance. */
  createDriver(): Driver {
    return new PgliteDriver(this.#config.pglite)
  }

  /** Kysely's `PostgresIntrospector`. */
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }

  /** Kysely's `PostgresQueryCompiler`. */
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }
}

type Pglite = PGliteDialectConfig['pglite']

class PgliteDriver implements Driver {
  readonly #pglite: Pglite
  readonly #connection: PgliteConnection
  /** Settles when the connection handed out last is released. */
  #free: Promise<void> = Promise.resolve()
  #release: (() => void) | undefined

  constructor(pglite: Pglite) {
    this.#pglite = pglite
    this.#connection = new PgliteConnection(pglite)
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // Inside a scope PGlite's lock is the scope's: a query of db's would wait for it forever.
    refuseNested("A query on the Kysely database (db, not the scope's trx)")
    const previous = this.#free
    let release!: () => void
    const mine = new Promise<void>((resolve) => (release = resolve))
    this.#free = previous.then(() => mine)
    await previous
    this.#release = release
    return this.#connection
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const { isolationLevel, accessMode } = settings
    if (isolationLevel === 'snapshot') throw new TenantError('INVALID_OPTIONS', "PostgreSQL has no 'snapshot' isolation level: use 'repeatable read'.")
    await (connection as PgliteConnection).begin(transactionModes({ isolationLevel, accessMode }))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PgliteConnection).end('commit')
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PgliteConnection).end('rollback')
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdent(name)}`))
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdent(name)}`))
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdent(name)}`))
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const release = this.#release
    this.#release = undefined
    try {
      // A transaction left open (it cannot be, through Kysely) would hold PGlite's lock forever.
      await (connection as PgliteConnection).end('rollback')
    } finally {
      release?.()
    }
  }

  async destroy(): Promise<void> {
    await this.#free
    if (!this.#pglite.closed) await this.#pglite.close()
  }
}

class PgliteConnection implements DatabaseConnection {
  readonly #pglite: Pglite
  /** The open transaction: PGlite's, ended by `#decide`, settled as `#ended`. */
  #tx: PgliteTransaction | undefined
  #decide: ((how: 'commit' | 'rollback') => void) | undefined
  #ended: Promise<void> | undefined

  constructor(pglite: Pglite) {
    this.#pglite = pglite
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const target: PgliteQueryable = this.#tx ?? this.#pglite
    const raw = compiled.parameters.length === 0 ? (await target.exec(compiled.sql)).at(-1) : await target.query(compiled.sql, [...compiled.parameters])
    return queryResult(raw?.command, raw?.affectedRows, raw?.rows) as QueryResult<R>
  }

  // eslint-disable-next-line require-yield -- refuses before the first row, as Kysely's dialects do without cursor support
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new TenantError('UNSUPPORTED_OPERATION', 'PGliteDialect cannot stream a query: use execute() (inside a pg-tenants scope, stream() works).')
  }

  /** Enters PGlite's transaction (its BEGIN) and sets the modes, before anything else runs in it. */
  async begin(modes: string): Promise<void> {
    const decided = new Promise<'commit' | 'rollback'>((resolve) => (this.#decide = resolve))
    const tx = await new Promise<PgliteTransaction>((resolve, reject) => {
      this.#ended = this.#pglite.transaction(async (tx) => {
        resolve(tx)
        if ((await decided) === 'rollback') await tx.rollback()
      })
      // Before the transaction is entered, its failure is begin's; afterwards, end's.
      this.#ended.catch(reject)
    }).catch((error: unknown) => {
      this.#decide = this.#ended = undefined
      throw error
    })
    this.#tx = tx
    if (modes === '') return
    try {
      await tx.exec(`SET TRANSACTION ${modes}`)
    } catch (error) {
      await this.end('rollback').catch(() => undefined)
      throw error
    }
  }

  /** Lets PGlite commit (or roll back) and end its transaction; nothing when none is open. */
  async end(how: 'commit' | 'rollback'): Promise<void> {
    const ended = this.#ended
    const decide = this.#decide
    this.#tx = undefined
    this.#decide = undefined
    this.#ended = undefined
    if (!ended || !decide) return
    decide(how)
    try {
      await ended
    } catch (error) {
      // PGlite's TransactionAbortedError: the server answered COMMIT with ROLLBACK.
      if (how === 'commit' && (error as { code?: unknown } | null)?.code === '25P02') throw new AbortedTransactionError()
      throw error
    }
  }
}
