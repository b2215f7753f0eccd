/**
 * The ORM-agnostic heart of pg-tenants: tenant-scoped and admin units of work over a
 * {@link Driver}, long-lived sessions, and tenant management. Adapters wrap it and hand their
 * users an ORM transaction bound to {@link Connection.native}. See docs/adapter-api.md.
 *
 * The rule every path here keeps: the caller's code runs only after `BEGIN` and every scoping
 * statement succeeded in that same transaction ({@link TenantEngine.run} gets a scope from
 * `#open`, which returns one only then, and throws otherwise).
 *
 * @module
 */
import { refuseNested, runInside } from './context.js'
import type { Connection, Driver } from './driver.js'
import { TenantAlreadyExists, TenantError, TenantNotFound } from './errors.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from './options.js'
import { qualified, quoteIdent } from './quote.js'
import {
  explainSetupError,
  isMissingRole,
  isSetupError,
  isUnregisteredTenant,
  scopeStatements,
  SETUP_FACTS_SQL,
  tenantFound,
  type Scope,
  type SetupFacts,
} from './scope.js'
import { tenantIdText, type TenantColumnInfo, type TenantId } from './tenant-id.js'
import { transactionModes, type TransactionOptions } from './transaction.js'

/**
 * Options of a tenant scope or session: `createIfMissing` and the {@link TransactionOptions}.
 *
 * @example
 * ```ts
 * import type { TenantScopeOptions } from 'pg-tenants/drizzle'
 *
 * export const reportScope: TenantScopeOptions = { createIfMissing: false, isolationLevel: 'repeatable read', accessMode: 'read only' }
 * ```
 */
export interface TenantScopeOptions extends TransactionOptions {
  /** Create the tenant when it does not exist (default `true`, as in the original). With `false`
   * an unknown tenant throws `TenantNotFound` before any of your statements runs. */
  createIfMissing?: boolean
}

/**
 * How the engine behaves, beyond the options it shares with the migration.
 *
 * @example
 * ```ts
 * import { TenantEngine, type Driver, type EngineSettings } from 'pg-tenants/adapter'
 *
 * declare const driver: Driver
 *
 * const settings: EngineSettings = { knownTenantTtlMs: 0 } // check every scope's tenant: other processes delete tenants
 * const engine = new TenantEngine(driver, { strategy: 'setting' }, [{ type: 'text' }], settings)
 * ```
 */
export interface EngineSettings {
  /**
   * How long a tenant seen to exist skips the existence check of a scope that may create it
   * (default 30 000 ms; the check costs a registry lookup in every scope's BEGIN message). `0`
   * checks every time. A tenant deleted by another process while this one keeps using it is
   * re-registered (setting strategy) by the first scope after this long; the role strategy sees
   * the missing role at once. A deletion by this engine is never outlived by its cache.
   */
  knownTenantTtlMs?: number
}

/**
 * What a unit of work asks for: a tenant scope (`kind: 'tenant'`, the tenant `id`, whether to
 * create the tenant when it does not exist, and the transaction modes), or an admin scope
 * (`kind: 'admin'` and the transaction modes).
 *
 * @example
 * ```ts
 * import type { ScopeRequest } from 'pg-tenants/adapter'
 *
 * const tenant: ScopeRequest = { kind: 'tenant', id: 'acme', createIfMissing: false, transaction: { accessMode: 'read only' } }
 * const admin: ScopeRequest = { kind: 'admin' }
 * ```
 */
export type ScopeRequest =
  | { readonly kind: 'tenant'; readonly id: TenantId; readonly createIfMissing: boolean; readonly transaction?: TransactionOptions }
  | { readonly kind: 'admin'; readonly transaction?: TransactionOptions }

/** An open scope: what it is scoped to and the modes its transactions are opened with. */
interface OpenScope {
  readonly scope: Scope
  readonly modes: string
}

/**
 * A pinned connection plus what we know of its state. `idle` is true only when the connection is
 * certainly outside any transaction with its session reset; a connection released while not
 * idle is destroyed.
 */
class Pinned {
  idle = true
  constructor(readonly conn: Connection) {}

  /** Runs a step that leaves a transaction open (or may, when it fails). */
  async opening<T>(step: () => Promise<T>): Promise<T> {
    this.idle = false
    return step()
  }

  /** Ends the transaction with COMMIT; throws `TRANSACTION_ABORTED` when the server rolled back. */
  async commit(): Promise<void> {
    this.idle = false
    let committed: boolean
    try {
      committed = await this.conn.commit()
    } catch (error) {
      // COMMIT itself failed (e.g. a serialization failure), so the reset in its message never
      // ran: roll back and reset on their own (behind PgBouncer the server session outlives our
      // client), and destroy the connection anyway: its state was in doubt.
      await this.rollback().catch(() => undefined)
      this.idle = false
      throw error
    }
    this.idle = true
    if (!committed) {
      throw new TenantError(
        'TRANSACTION_ABORTED',
        'Nothing was committed: an earlier statement in this transaction failed, so PostgreSQL rolled ' +
          'it back at COMMIT. Handle the first error (or roll back) instead of continuing.',
      )
    }
  }

  /** Ends the transaction (if any) with ROLLBACK and resets the session. */
  async rollback(): Promise<void> {
    this.idle = false
    await this.conn.rollback()
    this.idle = true
  }

  release(): Promise<void> {
    return this.conn.release(!this.idle || this.conn.abandoned !== undefined)
  }
}

/**
 * Tenant-scoped and admin units of work, sessions and tenant management over one driver: what an
 * adapter's manager wraps, and usable on its own with plain SQL.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { driverFor, TenantEngine } from 'pg-tenants/adapter'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const engine = new TenantEngine(driverFor(pool), { strategy: 'setting' }, [{ type: 'text' }])
 *
 * const { rows } = await engine.run({ kind: 'tenant', id: 'acme', createIfMissing: true }, (conn) =>
 *   conn.query('SELECT count(*) AS n FROM todos', []),
 * )
 * ```
 */
export class TenantEngine {
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions
  /** The driver the engine takes its connections from. */
  readonly driver: Driver
  readonly #columns: readonly TenantColumnInfo[]
  #serverVersion: number | undefined
  /** Tenants this process saw exist, with when. A scope for one of them that may create it
   * anyway skips the existence check (the registry lookup costs ~10% throughput). */
  readonly #known = new Map<string, number>()
  /** Per tenant, how many deletions started; with {@link #deleting}, a scope that raced a
   * deletion never puts the tenant back into {@link #known}. */
  readonly #deletions = new Map<string, number>()
  readonly #deleting = new Map<string, number>()

  readonly #knownTtl: number

  /**
   * @param driver where connections come from ({@link driverFor}, or a driver of your own).
   * @param options the tenancy options, as given to the migration (resolved and checked here).
   * @param columns the types of the tenant columns, to validate tenant ids against before any SQL.
   * @param settings how the engine behaves ({@link EngineSettings}).
   */
  constructor(driver: Driver, options: TenantOptions | undefined, columns: readonly TenantColumnInfo[], settings: EngineSettings = {}) {
    this.driver = driver
    this.options = resolveOptions(options)
    this.#columns = Object.freeze([...columns])
    const { knownTenantTtlMs = KNOWN_TENANT_TTL_MS } = settings
    if (!Number.isFinite(knownTenantTtlMs) || knownTenantTtlMs < 0) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `knownTenantTtlMs must be a number of milliseconds >= 0 (0 checks every scope), got ${JSON.stringify(knownTenantTtlMs)}.`,
      )
    }
    this.#knownTtl = knownTenantTtlMs
  }

  /**
   * Validates a tenant id and returns its canonical text. Throws `InvalidTenantId`.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * const text = engine.tenantText(42) // '42', if the tenant columns take integers
   * ```
   */
  tenantText(id: unknown): string {
    return tenantIdText(id, this.options, this.#columns)
  }

  /**
   * Runs `fn` in one scoped transaction on one pinned connection; commits when it resolves,
   * rolls back when it throws. `fn` runs only inside a transaction whose scoping succeeded.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * const ids = await engine.run({ kind: 'admin', transaction: { accessMode: 'read only' } }, async (conn) => {
   *   const { rows } = await conn.query('SELECT DISTINCT tenant FROM todos', [])
   *   return rows.map((row) => String(row['tenant']))
   * })
   * ```
   */
  async run<T>(request: ScopeRequest, fn: (conn: Connection) => Promise<T>): Promise<T> {
    const label = this.#label(request)
    const pinned = await this.#connect(label, request)
    try {
      await this.#open(pinned, request)
      let value: T
      try {
        value = await runInside(label, () => fn(pinned.conn))
      } catch (error) {
        pinned.conn.seal()
        // Keep the caller's error; if the ROLLBACK fails too, `idle` stays false and the
        // connection is destroyed on release.
        await pinned.rollback().catch(() => undefined)
        throw error
      }
      pinned.conn.seal()
      const abandoned = pinned.conn.abandoned
      if (abandoned) {
        await pinned.rollback().catch(() => undefined)
        pinned.idle = false
        throw abandoned
      }
      await pinned.commit()
      return value
    } finally {
      await pinned.release()
    }
  }

  /**
   * Opens a long-lived scoped session on a pinned connection: the caller must
   * {@link EngineSession.close} it.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * const session = await engine.open({ kind: 'tenant', id: 'acme', createIfMissing: false })
   * try {
   *   await session.connection.query('INSERT INTO todos (title, tenant) VALUES ($1, $2)', ['x', 'acme'])
   *   await session.commit()
   * } finally {
   *   await session.close()
   * }
   * ```
   */
  async open(request: ScopeRequest): Promise<EngineSession> {
    const pinned = await this.#connect(request.kind === 'tenant' ? 'newTenantSession' : 'newSession', request)
    try {
      const open = await this.#open(pinned, request)
      pinned.conn.keep()
      return new EngineSession(pinned, this.options, open)
    } catch (error) {
      await pinned.release()
      throw error
    }
  }

  /**
   * The role a scope for `request` runs as (what `current_user` shows inside it).
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * engine.scopeRole({ kind: 'admin' }) // 'tenants_admin' by default
   * engine.scopeRole({ kind: 'tenant', id: 'acme', createIfMissing: false }) // 'tenants_rls', or 'tenant_acme' (role strategy)
   * ```
   */
  scopeRole(request: ScopeRequest): string {
    const o = this.options
    if (request.kind === 'admin') return o.adminRole
    return o.strategy === 'role' ? o.rolePrefix + this.tenantText(request.id) : o.tenantRole
  }

  #label(request: ScopeRequest): string {
    return request.kind === 'admin' ? 'withAdmin' : `withTenant(${JSON.stringify(String(request.id))})`
  }

  /** Validates what can be validated before any connection is taken, then takes one. */
  async #connect(operation: string, request?: ScopeRequest): Promise<Pinned> {
    refuseNested(operation)
    if (request) {
      if (request.kind === 'tenant') this.tenantText(request.id)
      transactionModes(request.transaction)
    }
    return new Pinned(await this.driver.connect())
  }

  /** Opens the scope: resolves only when BEGIN and every scoping statement succeeded in one
   * transaction, and the tenant exists; throws otherwise (after rolling back). */
  async #open(pinned: Pinned, request: ScopeRequest): Promise<OpenScope> {
    const modes = transactionModes(request.transaction)
    if (request.kind === 'admin') {
      const scope: Scope = { kind: 'admin' }
      if (await this.#attempt(pinned, scope, modes, false)) return { scope, modes }
      throw new TenantError('SETUP_MISSING', 'The admin scope could not be opened.') // #attempt throws first
    }
    const text = this.tenantText(request.id)
    const scope: Scope = { kind: 'tenant', text }
    const deletions = this.#deletions.get(text) ?? 0
    if (request.createIfMissing && this.#isKnown(text)) {
      if (await this.#attempt(pinned, scope, modes, false)) return { scope, modes }
      // Known here, gone there (deleted by another process): take the checked path.
      this.#known.delete(text)
    }
    if (await this.#attempt(pinned, scope, modes, true)) return this.#remember(text, deletions, { scope, modes })
    if (!request.createIfMissing) throw new TenantNotFound(text)
    await pinned.opening(() => this.#create(pinned.conn, text, true))
    pinned.idle = true
    if (await this.#attempt(pinned, scope, modes, true)) return this.#remember(text, deletions, { scope, modes })
    throw new TenantNotFound(text) // deleted again between creation and the scope
  }

  /** For a setup error only: who the login is and which roles the migration used, read on the
   * connection just rolled back (outside any scope). Undefined when they cannot be read. */
  async #setupFacts(pinned: Pinned, error: unknown): Promise<SetupFacts | undefined> {
    if (!pinned.idle || !isSetupError(error, this.options)) return undefined
    try {
      const [row] = (await pinned.conn.query(SETUP_FACTS_SQL, [])).rows
      return { login: String(row?.['login']), policyRoles: (row?.['policy_roles'] as string[] | undefined) ?? [] }
    } catch {
      return undefined
    }
  }

  #isKnown(text: string): boolean {
    const seen = this.#known.get(text)
    return seen !== undefined && Date.now() - seen < this.#knownTtl
  }

  /** Remembers a tenant seen to exist, unless a deletion of it started since the check began
   * or is still running (it could have removed the tenant after the check saw it). */
  #remember(text: string, deletionsBefore: number, open: OpenScope): OpenScope {
    if ((this.#deletions.get(text) ?? 0) !== deletionsBefore || this.#deleting.has(text)) return open
    if (this.#known.size >= KNOWN_TENANT_LIMIT) this.#known.clear()
    this.#known.set(text, Date.now())
    return open
  }

  /**
   * BEGIN + scoping in one message. True when the scope is open; false when the tenant does not
   * exist (the transaction is then rolled back). Any other failure is rolled back and thrown.
   */
  async #attempt(pinned: Pinned, scope: Scope, modes: string, checked: boolean): Promise<boolean> {
    const o = this.options
    let results
    try {
      results = await pinned.opening(() => pinned.conn.begin(scopeStatements(o, scope, checked, modes), modes))
    } catch (error) {
      // Keep the first error; a failed ROLLBACK leaves `idle` false: destroyed on release.
      await pinned.rollback().catch(() => undefined)
      if (scope.kind === 'tenant' && o.strategy === 'role' && isMissingRole(error)) return false
      if (scope.kind === 'tenant' && checked && isUnregisteredTenant(error)) return false
      throw explainSetupError(error, o, await this.#setupFacts(pinned, error))
    }
    if (scope.kind === 'tenant' && checked && !tenantFound(results)) {
      await pinned.rollback()
      return false
    }
    return true
  }

  /**
   * Creates a tenant. Throws `TenantAlreadyExists` when it exists.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * await engine.createTenant('acme')
   * ```
   */
  async createTenant(id: TenantId): Promise<void> {
    const text = this.tenantText(id)
    await this.#withConnection('createTenant', (conn, doubt) => this.#create(conn, text, false, doubt))
  }

  /**
   * Removes a tenant (its role or registry row), never its data. Throws `TenantNotFound`.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * await engine.deleteTenant('acme')
   * ```
   */
  async deleteTenant(id: TenantId): Promise<void> {
    const text = this.tenantText(id)
    this.#deletions.set(text, (this.#deletions.get(text) ?? 0) + 1)
    this.#deleting.set(text, (this.#deleting.get(text) ?? 0) + 1)
    this.#known.delete(text)
    try {
      await this.#withConnection('deleteTenant', (conn) => this.#delete(conn, text))
    } finally {
      const left = (this.#deleting.get(text) ?? 1) - 1
      if (left > 0) this.#deleting.set(text, left)
      else this.#deleting.delete(text)
      this.#known.delete(text)
    }
  }

  async #delete(conn: Connection, text: string): Promise<void> {
    const o = this.options
    if (o.strategy === 'setting') {
      const result = await this.#guarded(() => conn.query(`DELETE FROM ${qualified(o.schema, o.registryTable)} WHERE id = $1 RETURNING id`, [text]))
      if (result.rows.length === 0) throw new TenantNotFound(text)
      return
    }
    const role = o.rolePrefix + text
    const member = await conn.query(MEMBER_OF_GROUP, [role, o.tenantRole])
    if (member.rows.length === 0) throw new TenantNotFound(text)
    try {
      await conn.exec(`DROP ROLE ${quoteIdent(role)}`)
    } catch (error) {
      if ((error as { code?: unknown }).code !== '2BP01') throw explainSetupError(error, o)
      const detail = (error as { detail?: unknown }).detail
      throw new TenantError(
        'TENANT_HAS_OBJECTS',
        `Tenant ${JSON.stringify(text)} was not deleted: its role ${role} still owns objects or holds ` +
          `privileges${typeof detail === 'string' ? ` (${detail.replace(/\s+/g, ' ')})` : ''}. Close the ` +
          `sessions still scoped to it, or, as the owner of those objects, run DROP OWNED BY ${quoteIdent(role)} ` +
          '(or REASSIGN OWNED), then delete the tenant again.',
        { cause: error },
      )
    }
  }

  /**
   * Every tenant, as canonical text.
   *
   * @example
   * ```ts
   * import type { TenantEngine } from 'pg-tenants/adapter'
   *
   * declare const engine: TenantEngine
   *
   * const tenants = await engine.listTenants() // Set { 'acme', … }
   * ```
   */
  async listTenants(): Promise<Set<string>> {
    const o = this.options
    return this.#withConnection('listTenants', async (conn) => {
      const result =
        o.strategy === 'setting'
          ? await this.#guarded(() => conn.query(`SELECT id FROM ${qualified(o.schema, o.registryTable)}`, []))
          : await conn.query(
              `SELECT substr(r.rolname::text, $3) AS id FROM pg_roles r
               JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
               WHERE g.rolname = $2 AND starts_with(r.rolname::text, $1)`,
              [o.rolePrefix, o.tenantRole, [...o.rolePrefix].length + 1],
            )
      return new Set(result.rows.map((row) => String(row['id'])))
    })
  }

  /** Creates the tenant; with `ifMissing`, an existing tenant is not an error. Runs outside any
   * transaction on `conn` and leaves none open (or throws, and the caller destroys it). */
  async #create(conn: Connection, text: string, ifMissing: boolean, doubt: () => void = () => undefined): Promise<void> {
    const o = this.options
    if (o.strategy === 'setting') {
      await this.#guarded(
        () => conn.query(`INSERT INTO ${qualified(o.schema, o.registryTable)} (id) VALUES ($1)${ifMissing ? ' ON CONFLICT (id) DO NOTHING' : ''}`, [text]),
        text,
        ifMissing,
      )
      return
    }
    const role = quoteIdent(o.rolePrefix + text)
    const selfGrant = (await this.#version(conn)) >= 160000 ? ' WITH INHERIT FALSE, SET TRUE' : ''
    const statements = [
      'BEGIN',
      // On Citus the tenant role logs in to the workers (the coordinator connects as it).
      `CREATE ROLE ${role} ${o.citus ? 'LOGIN' : 'NOLOGIN'} NOBYPASSRLS INHERIT`,
      `GRANT ${quoteIdent(o.tenantRole)} TO ${role}`,
      `GRANT ${role} TO CURRENT_USER${selfGrant}`,
      'COMMIT',
    ]
    try {
      await conn.exec(statements.join('; '))
    } catch (error) {
      // The original error is what the caller needs; if this ROLLBACK fails as well, the
      // connection may still be inside the failed transaction: it is destroyed, not pooled.
      await conn.exec('ROLLBACK').catch(doubt)
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the driver's error as it was caught, for #guarded to map
      await this.#guarded(() => Promise.reject(error), text, ifMissing)
    }
  }

  /** Maps driver errors of management statements to typed errors. */
  async #guarded<T>(fn: () => Promise<T>, tenant?: string, ifMissing = false): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      const code = (error as { code?: unknown }).code
      // 42710 duplicate_object (CREATE ROLE), 23505 unique_violation (registry, or pg_authid race)
      if (tenant !== undefined && (code === '42710' || code === '23505')) {
        if (ifMissing) return undefined as T // only the creation paths pass `tenant`; they ignore it
        throw new TenantAlreadyExists(tenant, { cause: error })
      }
      throw explainSetupError(error, this.options)
    }
  }

  async #version(conn: Connection): Promise<number> {
    if (this.#serverVersion === undefined) {
      const result = await conn.query(`SELECT current_setting('server_version_num')::int AS v`, [])
      this.#serverVersion = Number(result.rows[0]?.['v'])
    }
    return this.#serverVersion
  }

  /** A connection for a management statement (autocommit), always returned clean or destroyed. */
  async #withConnection<T>(operation: string, fn: (conn: Connection, doubt: () => void) => Promise<T>): Promise<T> {
    const pinned = await this.#connect(operation)
    let clean = false
    let doubted = false
    try {
      const value = await fn(pinned.conn, () => (doubted = true))
      clean = !doubted
      return value
    } catch (error) {
      clean = error instanceof TenantError && !doubted // a typed error means we know what happened
      throw error
    } finally {
      await pinned.conn.release(!clean)
    }
  }
}

/** The default of {@link EngineSettings.knownTenantTtlMs}. A tenant deleted elsewhere is never
 * served without its own rows' isolation meanwhile: the setting still scopes every statement. */
const KNOWN_TENANT_TTL_MS = 30_000
const KNOWN_TENANT_LIMIT = 10_000

const MEMBER_OF_GROUP = `SELECT 1 FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
  WHERE r.rolname = $1 AND g.rolname = $2`

/**
 * A long-lived scoped session: one pinned connection, always inside a scoped transaction until
 * closed. `commit()` and `rollback()` end the current transaction and open the next one, still
 * scoped, in the same message. Made by {@link TenantEngine.open}.
 *
 * @example
 * ```ts
 * import type { TenantEngine } from 'pg-tenants/adapter'
 *
 * declare const engine: TenantEngine
 *
 * const session = await engine.open({ kind: 'admin' })
 * try {
 *   await session.connection.query('DELETE FROM todos WHERE title = $1', ['spam'])
 *   await session.commit()
 * } finally {
 *   await session.close()
 * }
 * ```
 */
export class EngineSession {
  readonly #pinned: Pinned
  readonly #options: ResolvedOptions
  readonly #open: OpenScope
  #closed = false

  /** @internal Sessions are made by {@link TenantEngine.open}. */
  constructor(pinned: Pinned, options: ResolvedOptions, open: OpenScope) {
    this.#pinned = pinned
    this.#options = options
    this.#open = open
  }

  /** The pinned connection, for an adapter to wrap ({@link Connection.native}); usable until
   * the session is closed. */
  get connection(): Connection {
    return this.#pinned.conn
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Keeps the work done so far; the session stays open and scoped. Throws `SESSION_CLOSED` after
   * {@link close}, and `TRANSACTION_ABORTED` when PostgreSQL rolled back instead.
   *
   * @example
   * ```ts
   * import type { EngineSession } from 'pg-tenants/adapter'
   *
   * declare const session: EngineSession
   *
   * await session.commit()
   * ```
   */
  async commit(): Promise<void> {
    await this.#next('commit')
  }

  /**
   * Discards the work since the last commit; the session stays open and scoped.
   *
   * @example
   * ```ts
   * import type { EngineSession } from 'pg-tenants/adapter'
   *
   * declare const session: EngineSession
   *
   * await session.rollback()
   * ```
   */
  async rollback(): Promise<void> {
    await this.#next('rollback')
  }

  /**
   * Rolls back what is uncommitted, resets the session and releases the connection. Safe to
   * call twice.
   *
   * @example
   * ```ts
   * import type { EngineSession } from 'pg-tenants/adapter'
   *
   * declare const session: EngineSession
   *
   * await session.close()
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#pinned.conn.seal()
    try {
      await this.#pinned.rollback()
    } finally {
      await this.#pinned.release()
    }
  }

  async #next(end: 'commit' | 'rollback'): Promise<void> {
    if (this.#closed) {
      throw new TenantError('SESSION_CLOSED', `This session is closed: open a new one to ${end}.`)
    }
    const abandoned = this.#pinned.conn.abandoned
    if (abandoned) {
      await this.close().catch(() => undefined)
      throw abandoned
    }
    const { scope, modes } = this.#open
    let committed: boolean
    try {
      const prelude = scopeStatements(this.#options, scope, false, modes)
      committed = await this.#pinned.opening(() => this.#pinned.conn.restart(end, prelude, modes))
    } catch (error) {
      // The transaction is over either way (a failed COMMIT rolls back); the session cannot be
      // trusted to be scoped any more, so it ends here.
      await this.close().catch(() => undefined)
      if (scope.kind === 'tenant' && this.#options.strategy === 'role' && isMissingRole(error)) {
        // The COMMIT before the failing statement went through; the tenant is gone.
        throw new TenantNotFound(scope.text, { cause: error })
      }
      throw explainSetupError(error, this.#options)
    }
    if (!committed) {
      throw new TenantError(
        'TRANSACTION_ABORTED',
        'Nothing was committed: an earlier statement in this transaction failed, so PostgreSQL rolled ' +
          'it back at COMMIT. The session is open again; handle the first error before continuing.',
      )
    }
  }
}
