/**
 * `PostgresManager` for Drizzle: tenant-scoped and admin units of work that hand you an ordinary
 * Drizzle transaction, long-lived sessions, and tenant management.
 *
 * @module
 */
import type { Driver } from '../core/driver.js'
import { TenantEngine, type EngineSettings } from '../core/engine.js'
import { TenantError } from '../core/errors.js'
import { columnsOf, TenantManager, type SessionControl } from '../core/manager.js'
import type { TableSpec } from '../core/migration.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from '../core/options.js'
import type { TenantId } from '../core/tenant-id.js'
import { driverFor } from '../drivers/detect.js'
import { bindTransaction, clientOf, type AnyPgDatabase, type DrizzleQueries, type DrizzleTransaction } from './bind.js'
import { scopedClient } from './client.js'
import { scopedDatabase } from './scoped.js'
import { markConflict, readMark, specOf } from './mark.js'

export type { SessionControl } from '../core/manager.js'

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
export class PostgresManager<TDb extends AnyPgDatabase> extends TenantManager<DrizzleTransaction<TDb>, DrizzleQueries<TDb>, TDb> {
  readonly #db: TDb

  private constructor(db: TDb, engine: TenantEngine, tables: readonly TableSpec[]) {
    super({
      engine,
      tables,
      client: clientOf(db),
      bind: (conn, scopeRole) => bindTransaction(db, scopedClient(conn, scopeRole)),
      scoped: (ambient) => scopedDatabase(db, ambient),
    })
    this.#db = db
  }

  /**
   * A manager for a Drizzle database built on a node-postgres `Pool`, a postgres.js `sql` or a
   * PGlite instance. Throws `TenantError('UNSUPPORTED_CLIENT')` for other clients and
   * `'INVALID_OPTIONS'` for bad options.
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
}

/**
 * A manager for a Drizzle database (`PostgresManager.fromDrizzle(db, options)`), on
 * node-postgres, postgres.js or PGlite.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { drizzle } from 'drizzle-orm/pglite'
 * import { fromDrizzle } from 'pg-tenants/drizzle'
 *
 * const manager = fromDrizzle(drizzle(new PGlite()))
 * ```
 */
export function fromDrizzle<TDb extends AnyPgDatabase>(db: TDb, options: ManagerOptions = {}): PostgresManager<TDb> {
  return PostgresManager.fromDrizzle(db, options)
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
