/**
 * `TenantManager`: the public API every adapter returns (`fromDrizzle`, `fromPg`, `fromPglite`,
 * `fromPostgresJs`, `fromKysely`), over the engine. An adapter supplies only `bind`, which turns
 * a scope's pinned connection into what its users query with (a Drizzle transaction, a
 * `{ query }` client, a postgres.js `sql`, a Kysely transaction).
 *
 * @module
 */
import { checkDatabase } from '../check/check-database.js'
import type { CheckOptions, CheckReport } from '../check/types.js'
import { attachEngine } from './adapter.js'
import { refuseNested } from './context.js'
import type { Connection, Driver } from './driver.js'
import { TenantEngine, type EngineSession, type EngineSettings, type ScopeRequest, type TenantScopeOptions } from './engine.js'
import { TenantError } from './errors.js'
import type { TableSpec } from './migration.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from './options.js'
import { currentTenant } from './tenant-context.js'
import type { TenantColumnInfo, TenantColumnType, TenantId } from './tenant-id.js'
import type { TransactionOptions } from './transaction.js'

/**
 * What a session adds to the query API of its stack. `await using` closes the session.
 *
 * @example
 * ```ts
 * import type { SessionControl } from 'pg-tenants/adapter'
 *
 * export async function keepOrDrop(session: SessionControl, keep: boolean): Promise<void> {
 *   await (keep ? session.commit() : session.rollback())
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
 * A tenant table as the SQL-level adapters take it (`fromPg`, `fromPglite`, `fromPostgresJs`,
 * `fromKysely`): its tenant ids are validated against the column's type before any SQL, and
 * `check()` checks exactly these tables. `schema` defaults to the manager's, `column` to
 * `tenant`.
 *
 * @example
 * ```ts
 * import type { TenantTable } from 'pg-tenants/adapter'
 *
 * export const tables: TenantTable[] = [{ name: 'todos', type: 'text' }, { schema: 'crm', name: 'deals', column: 'org_id', type: 'uuid' }]
 * ```
 */
export interface TenantTable {
  /** The table's schema, unquoted (default: the `schema` option). */
  readonly schema?: string
  /** The table's name, unquoted. */
  readonly name: string
  /** The tenant column's name (default `tenant`). */
  readonly column?: string
  /** The tenant column's type. */
  readonly type: TenantColumnType
  /** The `n` of a `varchar(n)` tenant column. */
  readonly length?: number
}

/**
 * What a tenant scope's handle (and a tenant session) carries besides its stack's query API.
 *
 * @example
 * ```ts
 * import type { TenantScoped } from 'pg-tenants/adapter'
 *
 * export const label = (handle: TenantScoped<string>) => `tenant ${handle.tenant}`
 * ```
 */
export interface TenantScoped<T extends TenantId = TenantId> {
  /** The tenant this handle is scoped to. */
  readonly tenant: T
}

/**
 * The tables of a SQL-level adapter as {@link TableSpec}s, the default schema and column filled
 * in; a table without a valid name or type is `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * import { tableSpecs } from 'pg-tenants/adapter'
 *
 * tableSpecs([{ name: 'todos', type: 'text' }], 'public') // [{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }]
 * ```
 */
export function tableSpecs(tables: readonly TenantTable[], schema: string): TableSpec[] {
  if (!Array.isArray(tables)) throw new TenantError('INVALID_OPTIONS', 'tables must be an array of { name, type, column?, schema? }.')
  return (tables as readonly TenantTable[]).map((t: TenantTable) => {
    const types: readonly string[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']
    if (typeof t?.name !== 'string' || t.name === '' || !types.includes(t.type)) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `A table needs a name and a tenant column type (${types.join(', ')}), got ${JSON.stringify(t)}: e.g. { name: 'todos', type: 'text' }.`,
      )
    }
    return { schema: t.schema ?? schema, name: t.name, column: t.column ?? 'tenant', type: t.type, length: t.length }
  })
}

/**
 * The distinct tenant column types of the tables.
 *
 * @example
 * ```ts
 * import { columnsOf } from 'pg-tenants/adapter'
 *
 * columnsOf([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }]) // [{ type: 'text', length: undefined }]
 * ```
 */
export function columnsOf(tables: readonly TableSpec[]): TenantColumnInfo[] {
  const seen = new Map<string, TenantColumnInfo>()
  for (const s of tables) seen.set(`${s.type}:${s.length ?? ''}`, { type: s.type, length: s.length })
  return [...seen.values()]
}

/**
 * How an adapter builds its manager: the engine, the tables it knows, the client `check()` reads
 * the catalogs through, and `bind`.
 *
 * @example
 * ```ts
 * import { guardedClient, nodePostgresDriver, TenantEngine, TenantManager, type PgPoolLike } from 'pg-tenants/adapter'
 *
 * declare const pool: PgPoolLike
 * const engine = new TenantEngine(nodePostgresDriver(pool), {}, [{ type: 'text' }])
 * const manager = new TenantManager({ engine, tables: [], client: pool, bind: guardedClient })
 * ```
 */
export interface ManagerParts<Tx extends object, Scoped = unknown> {
  /** The engine the manager runs its units of work on. */
  readonly engine: TenantEngine
  /** The tenant tables it knows (what `check()` checks; none: discovered). */
  readonly tables: readonly TableSpec[]
  /** What `checkDatabase` is given: the pool, PGlite instance or postgres.js `sql`. */
  readonly client: unknown
  /** The object a scope's callback (and a session) queries with, over the pinned connection.
   * Call `conn.assertUsable()` before every call into `conn.native` (the guard does). */
  bind(conn: Connection, scopeRole: string): Tx
  /** Builds the handle of `manager.scoped()` over the ambient tenant's scopes (none: `scoped()`
   * throws `UNSUPPORTED_OPERATION`). */
  scoped?(ambient: AmbientScopes<Tx>): Scoped
}

/**
 * What an adapter builds `manager.scoped()`'s handle on: scopes for the ambient tenant
 * ({@link currentTenant} when called, `NO_TENANT_CONTEXT` before any connection is taken without
 * one), with the scope options `scoped(options)` was given.
 *
 * @example
 * ```ts
 * import { guardedClient, type AmbientScopes } from 'pg-tenants/adapter'
 *
 * // A query function whose every call is its own short transaction for the ambient tenant.
 * export const queryOf = (ambient: AmbientScopes<object>) => (text: string) => ambient.statement((conn, role) => guardedClient(conn, role).query(text))
 * ```
 */
export interface AmbientScopes<Tx extends object> {
  /** The engine the scopes run on. */
  readonly engine: TenantEngine
  /** The scope request for the ambient tenant, now. Throws `NO_TENANT_CONTEXT`. */
  request(): ScopeRequest
  /** Runs `fn` (one statement) in its own scope for the ambient tenant, on the scope's pinned
   * connection; guard every call into `conn.native` (see {@link guardedClient}). */
  statement<R>(fn: (conn: Connection, scopeRole: string) => Promise<R>): Promise<R>
  /** One scoped transaction for the ambient tenant, `fn` given the stack's `tx` (as
   * `withTenant`). `options` override the transaction modes of `scoped(options)`. */
  transaction<R>(fn: (tx: Tx & TenantScoped) => Promise<R>, options?: TransactionOptions): Promise<R>
}

/**
 * Multi-tenancy over one database, whatever the stack: tenant-scoped and admin units of work,
 * long-lived sessions, tenant management and the doctor. `Tx` is what a scope hands its callback
 * (a Drizzle transaction, a `{ query }` client, a postgres.js `sql`, a Kysely transaction),
 * `Queries` what a session adds {@link SessionControl} to (by default `Tx`).
 *
 * @example
 * ```ts
 * import type { TenantManager } from 'pg-tenants/adapter'
 *
 * interface Queries {
 *   query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
 * }
 *
 * export async function countTodos(manager: TenantManager<Queries>, tenant: string): Promise<number> {
 *   return manager.withTenant(tenant, async (tx) => (await tx.query('SELECT 1 FROM todos')).rows.length)
 * }
 * ```
 */
export class TenantManager<Tx extends object, Queries extends object = Tx, Scoped = unknown> {
  readonly #parts: ManagerParts<Tx, Scoped>

  /** For adapters: build the manager over its parts (see {@link ManagerParts}). */
  constructor(parts: ManagerParts<Tx, Scoped>) {
    this.#parts = parts
    attachEngine(this, parts.engine)
  }

  /** The options in force, defaults filled in. */
  get options(): ResolvedOptions {
    return this.#parts.engine.options
  }

  /**
   * Checks the live database against this manager's options and its tenant tables (when it knows
   * none, tables are discovered), as `pg-tenants check` does. Read-only. Use it to refuse to
   * start on a database whose row-level security is missing or weakened.
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
    const { schema, strategy, rolePrefix, tenantRole, adminRole, registryTable, sharedTables, citus } = this.options
    const { tables } = this.#parts
    return checkDatabase(this.#parts.client, {
      ...options,
      schema,
      strategy,
      rolePrefix,
      tenantRole,
      adminRole,
      registryTable,
      sharedTables,
      citus,
      ...(tables.length > 0 ? { tables } : {}),
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
    return this.#parts.engine.createTenant(id)
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
    return this.#parts.engine.deleteTenant(id)
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
    return this.#parts.engine.listTenants()
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
  async withTenant<T extends TenantId, R>(tenant: T, fn: (tx: Tx & TenantScoped<T>) => Promise<R>, options: TenantScopeOptions = {}): Promise<R> {
    const request = tenantRequest(tenant, options)
    const { engine } = this.#parts
    return engine.run(request, (conn) => fn(withTenantProperty(this.#parts.bind(conn, engine.scopeRole(request)), tenant)))
  }

  /**
   * Opens a session scoped to `tenant`: the stack's query API plus `commit()`, `rollback()` and
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
  async newTenantSession<T extends TenantId>(tenant: T, options: TenantScopeOptions = {}): Promise<Queries & SessionControl & TenantScoped<T>> {
    const request = tenantRequest(tenant, options)
    return withTenantProperty(await this.#session(request), tenant)
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
  async withAdmin<R>(fn: (tx: Tx) => Promise<R>, options: TransactionOptions = {}): Promise<R> {
    const request: ScopeRequest = { kind: 'admin', transaction: transactionOf(options) }
    const { engine } = this.#parts
    return engine.run(request, (conn) => fn(this.#parts.bind(conn, engine.scopeRole(request))))
  }

  /**
   * A handle used like this stack's own database (`query` on pg and PGlite, a postgres.js `sql`,
   * a Kysely instance, a Drizzle database) whose every statement runs as its own short
   * transaction scoped to the ambient tenant ({@link currentTenant} when the statement runs: see
   * `runWithTenant`). No connection is held between statements; with no tenant in context a
   * statement throws `NO_TENANT_CONTEXT` and nothing is sent. `transaction(fn)` on the handle runs
   * `fn` in one scoped transaction, as `withTenant`. `options` apply to every statement's scope
   * (`createIfMissing`, the transaction modes). See docs/request-context.md.
   *
   * @example
   * ```ts
   * import { runWithTenant } from 'pg-tenants'
   * import type { PostgresManager } from 'pg-tenants/pg'
   *
   * declare const manager: PostgresManager
   * const db = manager.scoped({ createIfMissing: false })
   *
   * await runWithTenant('acme', async () => {
   *   const { rows } = await db.query('SELECT title FROM todos') // one short transaction, acme's rows only
   *   await db.transaction(async (tx) => {
   *     await tx.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tx.tenant, 'ship'])
   *   })
   *   return rows
   * })
   * ```
   */
  scoped(options: TenantScopeOptions = {}): Scoped {
    const parts = this.#parts
    if (parts.scoped === undefined) throw new TenantError('UNSUPPORTED_OPERATION', "This adapter's manager has no scoped() handle: use withTenant(id, fn).")
    tenantRequest('', options) // refuses a misspelt option now, not at the first statement
    const { engine } = this.#parts
    const request = () => tenantRequest(currentTenant(), options)
    return parts.scoped({
      engine,
      request,
      async statement(fn) {
        const r = request()
        return engine.run(r, (conn) => fn(conn, engine.scopeRole(r)))
      },
      transaction: async (fn, modes) =>
        this.withTenant(currentTenant(), fn, modes === undefined ? options : { ...options, ...definedOf(transactionOf(modes)) }),
    })
  }

  /**
   * Runs `fn` once per tenant ({@link listTenants}), each in its own tenant scope (as
   * `withTenant`, never creating a tenant deleted meanwhile: it fails with `TenantNotFound`), at
   * most `concurrency` at a time (default 4). One tenant's failure does not stop the others: the
   * result lists which succeeded, with `fn`'s value, and which failed, with the error, in tenant
   * order. `onProgress(done, total)` is called after each tenant; if it throws, no further tenant
   * starts and the call rejects with its error once the running ones have finished.
   *
   * @example
   * ```ts
   * import type { PostgresManager } from 'pg-tenants/pg'
   *
   * declare const manager: PostgresManager
   *
   * const result = await manager.forEachTenant((tx) => tx.query("UPDATE todos SET title = trim(title) WHERE title <> trim(title)"), {
   *   concurrency: 2,
   *   onProgress: (done, total) => console.log(`${done}/${total}`),
   * })
   * for (const { tenant, error } of result.failed) console.error(tenant, error)
   * ```
   */
  async forEachTenant<R>(
    fn: (tx: Tx & TenantScoped<string>, tenant: string) => Promise<R>,
    options: ForEachTenantOptions = {},
  ): Promise<ForEachTenantResult<R>> {
    const { concurrency = 4, onProgress, ...modes } = options
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
      throw new TenantError('INVALID_OPTIONS', `concurrency must be a whole number from 1 to 1000, got ${JSON.stringify(concurrency)}.`)
    }
    if (onProgress !== undefined && typeof onProgress !== 'function')
      throw new TenantError('INVALID_OPTIONS', 'onProgress must be a function (done, total) => void.')
    if (typeof fn !== 'function') throw new TenantError('INVALID_OPTIONS', 'forEachTenant(fn) needs a function (tx, tenant) => Promise.')
    const scope: TenantScopeOptions = { ...transactionOf(modes), createIfMissing: false }
    const tenants = [...(await this.listTenants())].sort()
    const outcomes: ({ ok: true; value: R } | { ok: false; error: unknown })[] = []
    let next = 0
    let done = 0
    let stopped: { error: unknown } | undefined
    const worker = async () => {
      while (stopped === undefined && next < tenants.length) {
        const i = next++
        const tenant = tenants[i] as string
        try {
          outcomes[i] = { ok: true, value: await this.withTenant(tenant, (tx) => fn(tx, tenant), scope) }
        } catch (error) {
          outcomes[i] = { ok: false, error }
        }
        try {
          onProgress?.(++done, tenants.length)
        } catch (error) {
          stopped ??= { error }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, tenants.length) }, worker))
    if (stopped) throw stopped.error
    const result: ForEachTenantResult<R> = { ok: [], failed: [] }
    outcomes.forEach((o, i) => {
      const tenant = tenants[i] as string
      if (o.ok) result.ok.push({ tenant, value: o.value })
      else result.failed.push({ tenant, error: o.error })
    })
    return result
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
  async newSession(options: TransactionOptions = {}): Promise<Queries & SessionControl> {
    return this.#session({ kind: 'admin', transaction: transactionOf(options) })
  }

  async #session(request: ScopeRequest): Promise<Queries & SessionControl> {
    const { engine } = this.#parts
    const engineSession: EngineSession = await engine.open(request)
    const tx = this.#parts.bind(engineSession.connection, engine.scopeRole(request))
    const control: SessionControl = {
      commit: () => engineSession.commit(),
      rollback: () => engineSession.rollback(),
      close: () => engineSession.close(),
      [Symbol.asyncDispose]: () => engineSession.close(),
      get closed() {
        return engineSession.closed
      },
    }
    return Object.defineProperties(tx, Object.getOwnPropertyDescriptors(control)) as unknown as Queries & SessionControl
  }
}

/**
 * Options of `manager.forEachTenant`: how many tenants at a time, a progress
 * callback, and the transaction modes of each tenant's scope.
 *
 * @example
 * ```ts
 * import type { ForEachTenantOptions } from 'pg-tenants/adapter'
 *
 * export const options: ForEachTenantOptions = { concurrency: 2, isolationLevel: 'repeatable read', onProgress: (done, total) => console.log(done, total) }
 * ```
 */
export interface ForEachTenantOptions extends TransactionOptions {
  /** How many tenants run at a time, each on its own connection (default 4, from 1 to 1000). */
  concurrency?: number
  /** Called after each tenant, succeeded or failed, with how many are done and how many there are. */
  onProgress?: (done: number, total: number) => void
}

/**
 * What `manager.forEachTenant` returns: the tenants whose `fn` resolved, with its
 * value, and those that failed, with the error; each in tenant order.
 *
 * @example
 * ```ts
 * import type { ForEachTenantResult } from 'pg-tenants/adapter'
 *
 * export const summary = (r: ForEachTenantResult<unknown>) => `${r.ok.length} ok, ${r.failed.length} failed: ${r.failed.map((f) => f.tenant).join(', ')}`
 * ```
 */
export interface ForEachTenantResult<R> {
  /** The tenants whose `fn` resolved, and what it returned. */
  readonly ok: {
    /** The tenant, as text. */
    readonly tenant: string
    /** What `fn` returned for it. */
    readonly value: R
  }[]
  /** The tenants whose scope or `fn` failed, and why (the tenant's work was rolled back). */
  readonly failed: {
    /** The tenant, as text. */
    readonly tenant: string
    /** What its scope or `fn` threw. */
    readonly error: unknown
  }[]
}

/**
 * Options of the SQL-level adapters (`fromPg`, `fromPglite`, `fromPostgresJs`, `fromKysely`):
 * the {@link TenantOptions} shared with the migration, the engine's settings, and the tenant
 * `tables`.
 *
 * @example
 * ```ts
 * import type { SqlManagerOptions } from 'pg-tenants/adapter'
 *
 * export const options: SqlManagerOptions = { strategy: 'role', tables: [{ name: 'todos', type: 'text' }], knownTenantTtlMs: 0 }
 * ```
 */
export interface SqlManagerOptions extends TenantOptions, EngineSettings {
  /** The tenant tables (see {@link TenantTable}): tenant ids are validated against their column
   * types before any SQL, and `check()` checks them (without them, it discovers tables). */
  readonly tables?: readonly TenantTable[]
}

/**
 * The manager of a SQL-level adapter: the engine over `driver` with the options and tables
 * checked, `check()` reading through `client`, scopes handing out `bind(conn, scopeRole)`.
 *
 * @example
 * ```ts
 * import { guardedClient, nodePostgresDriver, sqlManager, type PgPoolLike } from 'pg-tenants/adapter'
 *
 * declare const pool: PgPoolLike
 * const manager = sqlManager(nodePostgresDriver(pool), pool, { tables: [{ name: 'todos', type: 'text' }] }, guardedClient)
 * ```
 */
export function sqlManager<Tx extends object, Scoped = unknown>(
  driver: Driver,
  client: unknown,
  options: SqlManagerOptions,
  bind: (conn: Connection, scopeRole: string) => Tx,
  scoped?: (ambient: AmbientScopes<Tx>) => Scoped,
): TenantManager<Tx, Tx, Scoped> {
  const { tables = [], knownTenantTtlMs, ...tenantOptions } = options ?? {}
  const specs = tableSpecs(tables, resolveOptions(tenantOptions).schema)
  const engine = new TenantEngine(driver, tenantOptions, columnsOf(specs), knownTenantTtlMs === undefined ? {} : { knownTenantTtlMs })
  return new TenantManager({ engine, tables: specs, client, bind, ...(scoped ? { scoped } : {}) })
}

/** @internal The scope handle `target` with its `tenant` property (for adapters that build their own handles). */
export function withTenantProperty<O extends object, T extends TenantId>(target: O, tenant: T): O & TenantScoped<T> {
  return Object.defineProperty(target, 'tenant', { value: tenant, enumerable: true }) as O & TenantScoped<T>
}

/** @internal The engine's request for a tenant scope with these options (checked: a misspelt option throws). */
export function tenantRequest(tenant: TenantId, options: TenantScopeOptions): ScopeRequest {
  const { createIfMissing = true, ...transaction } = options
  if (typeof createIfMissing !== 'boolean') {
    throw new TenantError('INVALID_OPTIONS', `createIfMissing must be true or false, got ${JSON.stringify(createIfMissing)}.`)
  }
  return { kind: 'tenant', id: tenant, createIfMissing, transaction: transactionOf(transaction) }
}

/** @internal Only the transaction options, so that a misspelt or foreign option cannot pass silently. */
export function transactionOf(options: TransactionOptions): TransactionOptions {
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

/** The options that are set (so that `undefined` does not override a default when merged). */
function definedOf<O extends object>(options: O): Partial<O> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<O>
}
