/**
 * The ORM-agnostic heart of pg-tenants: tenant-scoped and admin units of work over a
 * {@link Driver}, long-lived sessions, and tenant management. ORM adapters wrap it and hand their
 * users an ORM transaction bound to {@link Connection.client}.
 *
 * @module
 */
import type { Connection, Driver, StatementResult } from './driver.js'
import { TenantAlreadyExists, TenantError, TenantNotFound } from './errors.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from './options.js'
import { qualified, quoteIdent } from './quote.js'
import {
  checkCommitted,
  explainSetupError,
  isMissingRole,
  scopeStatements,
  tenantFound,
  type Scope,
} from './scope.js'
import {
  byteLength,
  canonicalTenantId,
  MAX_IDENTIFIER_BYTES,
  MAX_TENANT_ID_BYTES,
  type TenantColumnInfo,
  type TenantId,
} from './tenant-id.js'

/** Options of a tenant scope. */
export interface TenantScopeOptions {
  /** Create the tenant when it does not exist (default `true`, as in the original). With `false`
   * an unknown tenant throws `TenantNotFound` before any of your statements runs. */
  createIfMissing?: boolean
}

/** What a unit of work asks for. */
export type ScopeRequest =
  | { readonly kind: 'tenant'; readonly id: TenantId; readonly createIfMissing: boolean }
  | { readonly kind: 'admin' }

/**
 * A pinned connection plus what we know of its state. `idle` is true only when the connection is
 * certainly outside any transaction; a connection released while not idle is destroyed.
 */
class Pinned {
  idle = true
  constructor(readonly conn: Connection) {}

  async control(sql: string, endsTransaction: boolean): Promise<StatementResult[]> {
    this.idle = false
    const results = await this.conn.exec(sql)
    this.idle = endsTransaction
    return results
  }

  release(): Promise<void> {
    return this.conn.release(!this.idle)
  }
}

/** Tenant-scoped and admin units of work, sessions and tenant management over one driver. */
export class TenantEngine {
  readonly options: ResolvedOptions
  readonly driver: Driver
  readonly #columns: readonly TenantColumnInfo[]
  #serverVersion: number | undefined
  /** Tenants this process saw exist, with when. A scope for one of them that may create it
   * anyway skips the existence check (the registry lookup costs ~10% throughput). */
  readonly #known = new Map<string, number>()

  constructor(driver: Driver, options: TenantOptions | undefined, columns: readonly TenantColumnInfo[]) {
    this.driver = driver
    this.options = resolveOptions(options)
    this.#columns = Object.freeze([...columns])
  }

  /** Validates a tenant id and returns its canonical text. Throws `InvalidTenantId`. */
  tenantText(id: unknown): string {
    const budget =
      this.options.strategy === 'role'
        ? MAX_IDENTIFIER_BYTES - byteLength(this.options.rolePrefix)
        : MAX_TENANT_ID_BYTES
    return canonicalTenantId(id, this.#columns, budget)
  }

  /** Runs `fn` in one scoped transaction on one pinned connection; commits when it resolves,
   * rolls back when it throws. */
  async run<T>(request: ScopeRequest, fn: (conn: Connection) => Promise<T>): Promise<T> {
    const scopeText = request.kind === 'tenant' ? this.tenantText(request.id) : undefined
    const pinned = new Pinned(await this.driver.connect())
    try {
      await this.#begin(pinned, request, scopeText)
      let value: T
      try {
        value = await fn(pinned.conn)
      } catch (error) {
        pinned.conn.seal()
        // Keep the caller's error; if the ROLLBACK fails too, `idle` stays false and the
        // connection is destroyed on release.
        await pinned.control('ROLLBACK', true).catch(() => undefined)
        throw error
      }
      pinned.conn.seal()
      checkCommitted(await pinned.control('COMMIT', true))
      return value
    } finally {
      await pinned.release()
    }
  }

  /** Opens a long-lived scoped session on a pinned connection. */
  async open(request: ScopeRequest): Promise<EngineSession> {
    const scopeText = request.kind === 'tenant' ? this.tenantText(request.id) : undefined
    const pinned = new Pinned(await this.driver.connect())
    try {
      const scope = await this.#begin(pinned, request, scopeText)
      return new EngineSession(pinned, this.options, scope)
    } catch (error) {
      await pinned.release()
      throw error
    }
  }

  async #begin(pinned: Pinned, request: ScopeRequest, text: string | undefined): Promise<Scope> {
    if (request.kind === 'admin' || text === undefined) {
      const scope: Scope = { kind: 'admin' }
      await this.#openOnce(pinned, scope)
      return scope
    }
    const scope: Scope = { kind: 'tenant', text }
    if (request.createIfMissing && this.#isKnown(text)) {
      await this.#openOnce(pinned, scope, false)
      return scope
    }
    if (await this.#openOnce(pinned, scope)) return this.#remember(text, scope)
    if (!request.createIfMissing) throw new TenantNotFound(text)
    pinned.idle = false // until the creation is known to have ended cleanly
    await this.#create(pinned.conn, text, true)
    pinned.idle = true
    if (await this.#openOnce(pinned, scope)) return this.#remember(text, scope)
    throw new TenantNotFound(text) // deleted again between creation and the scope
  }

  #isKnown(text: string): boolean {
    const seen = this.#known.get(text)
    return seen !== undefined && Date.now() - seen < KNOWN_TENANT_TTL_MS
  }

  #remember(text: string, scope: Scope): Scope {
    if (this.#known.size >= KNOWN_TENANT_LIMIT) this.#known.clear()
    this.#known.set(text, Date.now())
    return scope
  }

  /** BEGIN + scoping in one message. False when the tenant does not exist (rolled back). */
  async #openOnce(pinned: Pinned, scope: Scope, checked = true): Promise<boolean> {
    const o = this.options
    let results: StatementResult[]
    try {
      results = await pinned.control(`BEGIN; ${scopeStatements(o, scope, checked)}`, false)
    } catch (error) {
      // Keep the first error; a failed ROLLBACK leaves `idle` false: destroyed on release.
      await pinned.control('ROLLBACK', true).catch(() => undefined)
      if (scope.kind === 'tenant' && o.strategy === 'role' && isMissingRole(error)) return false
      throw explainSetupError(error, o)
    }
    if (scope.kind === 'tenant' && checked && !tenantFound(results)) {
      await pinned.control('ROLLBACK', true)
      return false
    }
    return true
  }

  /** Creates a tenant. Throws `TenantAlreadyExists` when it exists. */
  async createTenant(id: TenantId): Promise<void> {
    const text = this.tenantText(id)
    await this.#withConnection((conn) => this.#create(conn, text, false))
  }

  /** Removes a tenant (its role or registry row), never its data. Throws `TenantNotFound`. */
  async deleteTenant(id: TenantId): Promise<void> {
    const text = this.tenantText(id)
    this.#known.delete(text)
    await this.#withConnection(async (conn) => {
      const o = this.options
      if (o.strategy === 'setting') {
        const result = await this.#guarded(() =>
          conn.query(`DELETE FROM ${qualified(o.schema, o.registryTable)} WHERE id = $1 RETURNING id`, [text]),
        )
        if (result.rows.length === 0) throw new TenantNotFound(text)
        return
      }
      const role = o.rolePrefix + text
      const member = await conn.query(MEMBER_OF_GROUP, [role, o.tenantRole])
      if (member.rows.length === 0) throw new TenantNotFound(text)
      await this.#guarded(() => conn.exec(`DROP ROLE ${quoteIdent(role)}`))
    })
  }

  /** Every tenant, as canonical text. */
  async listTenants(): Promise<Set<string>> {
    const o = this.options
    return this.#withConnection(async (conn) => {
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

  /** Creates the tenant; with `ifMissing`, an existing tenant is not an error. */
  async #create(conn: Connection, text: string, ifMissing: boolean): Promise<void> {
    const o = this.options
    if (o.strategy === 'setting') {
      const conflict = ifMissing ? ' ON CONFLICT (id) DO NOTHING' : ''
      await this.#guarded(
        () => conn.query(`INSERT INTO ${qualified(o.schema, o.registryTable)} (id) VALUES ($1)${conflict}`, [text]),
        text,
        ifMissing,
      )
      return
    }
    const role = quoteIdent(o.rolePrefix + text)
    const selfGrant = (await this.#version(conn)) >= 160000 ? ' WITH INHERIT FALSE, SET TRUE' : ''
    const statements = [
      'BEGIN',
      `CREATE ROLE ${role} NOLOGIN NOBYPASSRLS INHERIT`,
      `GRANT ${quoteIdent(o.tenantRole)} TO ${role}`,
      `GRANT ${role} TO CURRENT_USER${selfGrant}`,
      'COMMIT',
    ]
    const pinned = new Pinned(conn)
    try {
      await pinned.control(statements.join('; '), true)
    } catch (error) {
      await pinned.control('ROLLBACK', true)
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
  async #withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await this.driver.connect()
    let clean = false
    try {
      const value = await fn(conn)
      clean = true
      return value
    } catch (error) {
      clean = error instanceof TenantError // a typed error means we know what happened
      throw error
    } finally {
      await conn.release(!clean)
    }
  }
}

/** How long a tenant seen to exist skips the registry lookup. A tenant deleted by another
 * process is re-registered by the first scope after this (createIfMissing), never served
 * without its own rows' isolation: the setting still scopes every statement. */
const KNOWN_TENANT_TTL_MS = 30_000
const KNOWN_TENANT_LIMIT = 10_000

const MEMBER_OF_GROUP = `SELECT 1 FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
  WHERE r.rolname = $1 AND g.rolname = $2`

/**
 * A long-lived scoped session: one pinned connection, always inside a scoped transaction until
 * closed. `commit()` and `rollback()` end the current transaction and open the next one, still
 * scoped, in the same message.
 */
export class EngineSession {
  readonly #pinned: Pinned
  readonly #options: ResolvedOptions
  readonly #scope: Scope
  #closed = false

  constructor(pinned: Pinned, options: ResolvedOptions, scope: Scope) {
    this.#pinned = pinned
    this.#options = options
    this.#scope = scope
  }

  get connection(): Connection {
    return this.#pinned.conn
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Keeps the work done so far; the session stays open and scoped. */
  async commit(): Promise<void> {
    await this.#next('COMMIT', true)
  }

  /** Discards the work since the last commit; the session stays open and scoped. */
  async rollback(): Promise<void> {
    await this.#next('ROLLBACK', false)
  }

  /** Rolls back what is uncommitted and releases the connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#pinned.conn.seal()
    try {
      await this.#pinned.control('ROLLBACK', true)
    } finally {
      await this.#pinned.release()
    }
  }

  async #next(end: 'COMMIT' | 'ROLLBACK', check: boolean): Promise<void> {
    if (this.#closed) {
      throw new TenantError('SESSION_CLOSED', `This session is closed: open a new one to ${end.toLowerCase()}.`)
    }
    let results: StatementResult[]
    try {
      results = await this.#pinned.control(`${end}; BEGIN; ${scopeStatements(this.#options, this.#scope, false)}`, false)
    } catch (error) {
      // The transaction is over either way (a failed COMMIT rolls back); the session cannot be
      // trusted to be scoped any more, so it ends here.
      await this.close().catch(() => undefined)
      throw explainSetupError(error, this.#options)
    }
    if (check) checkCommitted(results)
  }
}
