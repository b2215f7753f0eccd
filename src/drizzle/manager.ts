/**
 * `PostgresManager` for Drizzle: tenant-scoped and admin units of work that hand you an ordinary
 * Drizzle transaction, long-lived sessions, and tenant management.
 *
 * @module
 */
import type { Driver } from '../core/driver.js'
import { TenantEngine, type EngineSession, type EngineSettings, type ScopeRequest, type TenantScopeOptions } from '../core/engine.js'
import type { TransactionOptions } from '../core/transaction.js'
import { TenantError } from '../core/errors.js'
import type { TableSpec } from '../core/migration.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from '../core/options.js'
import type { TenantColumnInfo, TenantId } from '../core/tenant-id.js'
import { checkDatabase } from '../check/check-database.js'
import type { CheckOptions, CheckReport } from '../check/types.js'
import { driverFor } from '../drivers/detect.js'
import { attachEngine } from '../core/adapter.js'
import { refuseNested } from '../core/context.js'
import { bindTransaction, clientOf, type AnyPgDatabase, type DrizzleQueries, type DrizzleTransaction } from './bind.js'
import { scopedClient } from './client.js'
import { markConflict, readMark, specOf } from './mark.js'

/**
 * Options of {@link PostgresManager.fromDrizzle}: the {@link TenantOptions} shared with the
 * migration, the engine's settings, and `tables`.
 *
 * @example
 * ```ts
 * import type { ManagerOptions } from 'pg-tenants/drizzle'
 *
 * export const options: ManagerOptions = { strategy: 'role', rolePrefix: 'crm_t_', knownTenantTtlMs: 0 }
 * ```
 */
export interface ManagerOptions extends TenantOptions, EngineSettings {
  /** Tenant tables to validate tenant ids against (besides the `withRls` tables found in the
   * database's `schema`): an id that cannot fit their tenant column is refused up front. */
  tables?: readonly unknown[]
}

/**
 * The Drizzle transaction of a tenant scope, with its tenant: what
 * {@link PostgresManager.withTenant} hands to its callback.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPgDatabase, type AnyPostgresManager, type TenantTransaction } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 *
 * async function addTodo(tx: TenantTransaction<AnyPgDatabase, string>, title: string) {
 *   return tx.insert(todos).values({ title, tenant: tx.tenant }).returning()
 * }
 * await manager.withTenant('acme', (tx) => addTodo(tx, 'ship v1'))
 * ```
 */
export type TenantTransaction<TDb extends AnyPgDatabase, T extends TenantId = TenantId> = DrizzleTransaction<TDb> & {
  /** The tenant this transaction is scoped to. */
  readonly tenant: T
}

/**
 * What a session adds to the Drizzle query API. `await using` closes the session.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 *
 * const session = await manager.newTenantSession('acme')
 * try {
 *   await session.insert(todos).values({ title: 'kept', tenant: session.tenant })
 *   await session.commit()
 *   await session.insert(todos).values({ title: 'discarded', tenant: session.tenant })
 *   await session.rollback()
 * } finally {
 *   await session.close()
 * }
 * ```
 */
export interface SessionControl extends AsyncDisposable {
  /** Keeps the work done so far. The session stays open and scoped. */
  commit(): Promise<void>
  /** Discards the work since the last commit. The session stays open and scoped. */
  rollback(): Promise<void>
  /** Rolls back what is uncommitted and releases the connection. Safe to call twice. */
  close(): Promise<void>
  /** True once closed. */
  readonly closed: boolean
}

/**
 * An unrestricted session ({@link PostgresManager.newSession}): the Drizzle query API plus
 * {@link SessionControl}'s commit/rollback/close.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import type { AdminSession, AnyPgDatabase, AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * async function purgeAudit(session: AdminSession<AnyPgDatabase>): Promise<void> {
 *   await session.execute(sql`delete from audit_log where at < now() - interval '90 days'`)
 *   await session.commit()
 * }
 * const session = await manager.newSession()
 * try {
 *   await purgeAudit(session)
 * } finally {
 *   await session.close()
 * }
 * ```
 */
export type AdminSession<TDb extends AnyPgDatabase> = DrizzleQueries<TDb> & SessionControl

/**
 * A tenant session ({@link PostgresManager.newTenantSession}): an {@link AdminSession} scoped to
 * its tenant.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPgDatabase, type AnyPostgresManager, type TenantSession } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 *
 * async function addTodo(session: TenantSession<AnyPgDatabase, string>, title: string): Promise<void> {
 *   await session.insert(todos).values({ title, tenant: session.tenant })
 *   await session.commit()
 * }
 * await using session = await manager.newTenantSession('acme')
 * await addTodo(session, 'ship v1')
 * ```
 */
export type TenantSession<TDb extends AnyPgDatabase, T extends TenantId = TenantId> = AdminSession<TDb> & {
  /** The tenant this session is scoped to. */
  readonly tenant: T
}

/**
 * A manager of any Drizzle PostgreSQL database: the type to use for a manager passed between
 * modules that do not know its database's schema (`PostgresManager<typeof db>` keeps the
 * schema's types where `db` is in reach).
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 *
 * export async function tenantTodos(manager: AnyPostgresManager, tenant: string) {
 *   return manager.withTenant(tenant, (tx) => tx.select().from(todos))
 * }
 * ```
 */
export type AnyPostgresManager = PostgresManager<AnyPgDatabase>

/**
 * Multi-tenancy over a Drizzle database on a node-postgres `Pool` or a PGlite instance.
 *
 * @example
 * ```ts
 * import { drizzle } from 'drizzle-orm/node-postgres'
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import pg from 'pg'
 * import { PostgresManager, withRls } from 'pg-tenants/drizzle'
 *
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 *
 * const manager = PostgresManager.fromDrizzle(drizzle(pool, { schema: { todos } }), { schema: 'public' })
 * await manager.createTenant('acme')
 * const mine = await manager.withTenant('acme', (tx) => tx.select().from(todos))
 * ```
 */
export class PostgresManager<TDb extends AnyPgDatabase> {
  readonly #db: TDb
  readonly #engine: TenantEngine
  readonly #tables: readonly TableSpec[]

  private constructor(db: TDb, engine: TenantEngine, tables: readonly TableSpec[]) {
    this.#db = db
    this.#engine = engine
    this.#tables = tables
    attachEngine(this, engine)
  }

  /**
   * A manager for a Drizzle database built on a node-postgres `Pool` or a PGlite instance.
   * Throws `TenantError('UNSUPPORTED_CLIENT')` for other clients and `'INVALID_OPTIONS'` for bad
   * options.
   *
   * @example
   * ```ts
   * import { PGlite } from '@electric-sql/pglite'
   * import { drizzle } from 'drizzle-orm/pglite'
   * import { leaveSuperuser, PostgresManager } from 'pg-tenants/drizzle'
   *
   * const client = new PGlite()
   * await leaveSuperuser(client) // before migrating: row-level security never binds a superuser
   * const manager = PostgresManager.fromDrizzle(drizzle(client), { knownTenantTtlMs: 0 })
   * ```
   */
  static fromDrizzle<TDb extends AnyPgDatabase>(db: TDb, options: ManagerOptions = {}): PostgresManager<TDb> {
    const { tables = [], knownTenantTtlMs, ...tenantOptions } = options
    const driver: Driver = driverFor(clientOf(db))
    const resolved = resolveOptions(tenantOptions)
    const specs = tenantTables(db, tables, resolved)
    const engine = new TenantEngine(driver, tenantOptions, columnsOf(specs), knownTenantTtlMs === undefined ? {} : { knownTenantTtlMs })
    return new PostgresManager(db, engine, specs)
  }

  /** The Drizzle database this manager was made from. Queries on it run outside any scope. */
  get db(): TDb {
    return this.#db
  }

  /** The options in force, defaults filled in. */
  get options(): ResolvedOptions {
    return this.#engine.options
  }

  /**
   * Checks the live database against this manager's options and its `withRls` tables (those of
   * the Drizzle schema and of the `tables` option; when there are none, tables are discovered),
   * as `pg-tenants check` does. Read-only. Use it to refuse to start on a database whose row-level
   * security is missing or weakened.
   *
   * @example
   * ```ts
   * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   *
   * const report = await manager.check()
   * if (!report.ok) {
   *   for (const f of report.findings) console.error(`${f.code} ${f.object}: ${f.message}\n  fix: ${f.fix}`)
   *   process.exit(1)
   * }
   * ```
   */
  async check(options: Pick<CheckOptions, 'ignore' | 'column' | 'schemas' | 'onProgress'> = {}): Promise<CheckReport> {
    refuseNested('check')
    const { schema, strategy, rolePrefix, tenantRole, adminRole, registryTable, sharedTables } = this.options
    return checkDatabase(clientOf(this.#db), {
      ...options,
      schema,
      strategy,
      rolePrefix,
      tenantRole,
      adminRole,
      registryTable,
      sharedTables,
      ...(this.#tables.length > 0 ? { tables: this.#tables } : {}),
    })
  }

  /**
   * Creates a tenant; throws `TenantAlreadyExists` if it exists, `InvalidTenantId` for an id that
   * cannot fit the tenant columns.
   *
   * @example
   * ```ts
   * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   *
   * await manager.createTenant('acme')
   * ```
   */
  createTenant(id: TenantId): Promise<void> {
    return this.#engine.createTenant(id)
  }

  /**
   * Removes a tenant (its role or registry row) and never its data; throws `TenantNotFound`.
   *
   * @example
   * ```ts
   * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   *
   * await manager.deleteTenant('acme') // acme's rows stay in the tables
   * ```
   */
  deleteTenant(id: TenantId): Promise<void> {
    return this.#engine.deleteTenant(id)
  }

  /**
   * Every tenant id, as text.
   *
   * @example
   * ```ts
   * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   *
   * const tenants = await manager.listTenants()
   * if (!tenants.has('acme')) await manager.createTenant('acme')
   * ```
   */
  listTenants(): Promise<Set<string>> {
    return this.#engine.listTenants()
  }

  /**
   * Runs `fn` in one transaction restricted to `tenant` by row-level security: commits when `fn`
   * resolves, rolls back when it throws, and returns what `fn` returns. `options`: whether to
   * create a missing tenant (`createIfMissing`, default true) and the transaction modes.
   *
   * @example
   * ```ts
   * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
   * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
   *
   * const mine = await manager.withTenant('acme', async (tx) => {
   *   await tx.insert(todos).values({ title: 'x', tenant: tx.tenant })
   *   return tx.select().from(todos) // only acme's rows
   * })
   * ```
   */
  async withTenant<T extends TenantId, R>(tenant: T, fn: (tx: TenantTransaction<TDb, T>) => Promise<R>, options: TenantScopeOptions = {}): Promise<R> {
    const request = tenantRequest(tenant, options)
    return this.#engine.run(request, (conn) => {
      const client = scopedClient(conn, this.#engine.scopeRole(request))
      const tx = Object.defineProperty(bindTransaction(this.#db, client), 'tenant', { value: tenant, enumerable: true })
      return fn(tx as TenantTransaction<TDb, T>)
    })
  }

  /**
   * Opens a session scoped to `tenant`: the Drizzle query API plus `commit()`, `rollback()` and
   * `close()`. Work is kept only when committed; closing rolls back the rest and releases the
   * connection.
   *
   * @example
   * ```ts
   * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
   * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
   *
   * await using session = await manager.newTenantSession('acme')
   * await session.insert(todos).values({ title: 'y', tenant: session.tenant })
   * await session.commit()
   * ```
   */
  async newTenantSession<T extends TenantId>(tenant: T, options: TenantScopeOptions = {}): Promise<TenantSession<TDb, T>> {
    const request = tenantRequest(tenant, options)
    const session = this.#session(await this.#engine.open(request), this.#engine.scopeRole(request))
    return Object.defineProperty(session, 'tenant', { value: tenant, enumerable: true }) as TenantSession<TDb, T>
  }

  /**
   * Runs `fn` in one unrestricted transaction (as the admin role, which a policy allows every
   * row): for back-office work across tenants. Commits when `fn` resolves, rolls back when it
   * throws, and returns what `fn` returns.
   *
   * @example
   * ```ts
   * import { count } from 'drizzle-orm'
   * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
   * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
   *
   * const perTenant = await manager.withAdmin(
   *   (tx) => tx.select({ tenant: todos.tenant, n: count() }).from(todos).groupBy(todos.tenant),
   *   { accessMode: 'read only' },
   * )
   * ```
   */
  async withAdmin<R>(fn: (tx: DrizzleTransaction<TDb>) => Promise<R>, options: TransactionOptions = {}): Promise<R> {
    const request: ScopeRequest = { kind: 'admin', transaction: transactionOf(options) }
    return this.#engine.run(request, (conn) => fn(bindTransaction(this.#db, scopedClient(conn, this.#engine.scopeRole(request)))))
  }

  /**
   * Opens an unrestricted session, like {@link newTenantSession} without a tenant: as the admin
   * role, which a policy allows every row.
   *
   * @example
   * ```ts
   * import { eq } from 'drizzle-orm'
   * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
   * import { withRls, type AnyPostgresManager } from 'pg-tenants/drizzle'
   *
   * declare const manager: AnyPostgresManager
   * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
   *
   * await using session = await manager.newSession()
   * await session.delete(todos).where(eq(todos.title, 'spam'))
   * await session.commit()
   * ```
   */
  async newSession(options: TransactionOptions = {}): Promise<AdminSession<TDb>> {
    const request: ScopeRequest = { kind: 'admin', transaction: transactionOf(options) }
    return this.#session(await this.#engine.open(request), this.#engine.scopeRole(request))
  }

  #session(engineSession: EngineSession, scopeRole: string): AdminSession<TDb> {
    const tx = bindTransaction(this.#db, scopedClient(engineSession.connection, scopeRole))
    const control: SessionControl = {
      commit: () => engineSession.commit(),
      rollback: () => engineSession.rollback(),
      close: () => engineSession.close(),
      [Symbol.asyncDispose]: () => engineSession.close(),
      get closed() {
        return engineSession.closed
      },
    }
    return Object.defineProperties(tx, Object.getOwnPropertyDescriptors(control)) as unknown as AdminSession<TDb>
  }
}

/** The engine's request for a tenant scope with these options. */
function tenantRequest(tenant: TenantId, options: TenantScopeOptions): ScopeRequest {
  const { createIfMissing = true, ...transaction } = options
  if (typeof createIfMissing !== 'boolean') {
    throw new TenantError('INVALID_OPTIONS', `createIfMissing must be true or false, got ${JSON.stringify(createIfMissing)}.`)
  }
  return { kind: 'tenant', id: tenant, createIfMissing, transaction: transactionOf(transaction) }
}

/** Only the transaction options, so that a misspelt or foreign option cannot pass silently. */
function transactionOf(options: TransactionOptions): TransactionOptions {
  const { isolationLevel, accessMode, deferrable, ...rest } = options
  const unknown = Object.keys(rest)
  if (unknown.length > 0) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `Unknown scope option ${unknown.map((k) => JSON.stringify(k)).join(', ')}: use createIfMissing, isolationLevel, accessMode or deferrable.`,
    )
  }
  return { isolationLevel, accessMode, deferrable }
}

/** The marked tables in `db`'s schema and in `tables`, with the default schema filled in. A
 * table whose `withRls` chose another strategy or role prefix is refused: its drizzle-kit policy
 * would not match the manager's. */
function tenantTables(db: AnyPgDatabase, tables: readonly unknown[], options: ResolvedOptions): TableSpec[] {
  const fullSchema = (db as unknown as { _?: { fullSchema?: Record<string, unknown> } })._?.fullSchema ?? {}
  const specs = new Map<string, TableSpec>()
  for (const value of [...Object.values(fullSchema), ...tables]) {
    const mark = readMark(value)
    if (!mark) continue
    const conflict = markConflict(mark, options)
    if (conflict) throw new TenantError('INVALID_OPTIONS', conflict)
    const spec = specOf(mark)
    const full = spec.schema ? spec : { ...spec, schema: options.schema }
    specs.set(`${full.schema}.${full.name}`, full)
  }
  return [...specs.values()]
}

/** The distinct tenant column types of the tables. */
function columnsOf(tables: readonly TableSpec[]): TenantColumnInfo[] {
  const seen = new Map<string, TenantColumnInfo>()
  for (const s of tables) seen.set(`${s.type}:${s.length ?? ''}`, { type: s.type, length: s.length })
  return [...seen.values()]
}
