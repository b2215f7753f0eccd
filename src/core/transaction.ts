/**
 * Transaction options of a scope (isolation level, access mode, deferrable), carried in the
 * message that opens it, and the session reset that rides with the message that ends it.
 *
 * @module
 */
import { TenantError } from './errors.js'
import { quoteIdent, quoteLiteral } from './quote.js'

/**
 * PostgreSQL's isolation levels, as Drizzle's `db.transaction(fn, config)` names them. See
 * {@link TransactionOptions}.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import type { IsolationLevel } from 'pg-tenants/adapter'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * const isolationLevel: IsolationLevel = 'repeatable read' // both counts from one snapshot
 * await manager.withTenant('acme', (tx) => tx.execute(sql`select (select count(*) from todos), (select count(*) from tags)`), { isolationLevel })
 * ```
 */
export type IsolationLevel = 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'

/**
 * How a scope's transaction is opened. Sent with its `BEGIN`, so it costs no round trip.
 *
 * @example
 * ```ts
 * import type { TransactionOptions } from 'pg-tenants/adapter'
 *
 * export const snapshot: TransactionOptions = { isolationLevel: 'serializable', accessMode: 'read only', deferrable: true }
 * ```
 */
export interface TransactionOptions {
  /** Default: the server's `default_transaction_isolation` (normally `read committed`). */
  isolationLevel?: IsolationLevel
  /** `'read only'` refuses every write in the scope. Default: the server's default. */
  accessMode?: 'read only' | 'read write'
  /** With `serializable` and `read only`: wait for a snapshot that cannot fail with a
   * serialization error. */
  deferrable?: boolean
}

const LEVELS: readonly IsolationLevel[] = ['read uncommitted', 'read committed', 'repeatable read', 'serializable']
const MODES = ['read only', 'read write'] as const

/**
 * The transaction modes as SQL (`ISOLATION LEVEL SERIALIZABLE READ ONLY`), or `''` for none.
 * Only fixed words reach SQL: anything else is refused with `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * import { transactionModes } from 'pg-tenants/adapter'
 *
 * transactionModes({ isolationLevel: 'serializable', accessMode: 'read only' }) // 'ISOLATION LEVEL SERIALIZABLE READ ONLY'
 * transactionModes() // ''
 * ```
 */
export function transactionModes(options: TransactionOptions = {}): string {
  const { isolationLevel, accessMode, deferrable } = options
  const modes: string[] = []
  if (isolationLevel !== undefined) {
    if (!LEVELS.includes(isolationLevel)) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `Unknown isolationLevel ${JSON.stringify(isolationLevel)}: use one of ${LEVELS.map((l) => `'${l}'`).join(', ')}.`,
      )
    }
    modes.push(`ISOLATION LEVEL ${isolationLevel.toUpperCase()}`)
  }
  if (accessMode !== undefined) {
    if (!(MODES as readonly string[]).includes(accessMode)) {
      throw new TenantError('INVALID_OPTIONS', `Unknown accessMode ${JSON.stringify(accessMode)}: use 'read only' or 'read write'.`)
    }
    modes.push(accessMode.toUpperCase())
  }
  if (deferrable !== undefined) {
    if (typeof deferrable !== 'boolean') {
      throw new TenantError('INVALID_OPTIONS', `deferrable must be true or false, got ${JSON.stringify(deferrable)}.`)
    }
    modes.push(deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE')
  }
  return modes.join(' ')
}

/**
 * `BEGIN` with the modes (from {@link transactionModes}).
 *
 * @example
 * ```ts
 * import { beginStatement, transactionModes } from 'pg-tenants/adapter'
 *
 * beginStatement(transactionModes({ accessMode: 'read only' })) // 'BEGIN READ ONLY'
 * beginStatement('') // 'BEGIN'
 * ```
 */
export function beginStatement(modes: string): string {
  return modes === '' ? 'BEGIN' : `BEGIN ${modes}`
}

/**
 * Column of the reset's row ({@link SESSION_RESET}) that holds the session's current role
 * before its closing `SET SESSION AUTHORIZATION DEFAULT`.
 *
 * @example
 * ```ts
 * import { RESET_LOGIN_COLUMN, RESET_ROLE_COLUMN, SESSION_RESET, type StatementResult } from 'pg-tenants/adapter'
 *
 * declare function exec(sql: string): Promise<StatementResult[]> // one simple-query message, every statement's result
 *
 * const results = await exec(`COMMIT; ${SESSION_RESET}`)
 * const row = results.find((r) => r.rows[0] !== undefined && RESET_ROLE_COLUMN in r.rows[0])?.rows[0]
 * const destroy = row?.[RESET_ROLE_COLUMN] !== row?.[RESET_LOGIN_COLUMN] // a role set on connect: do not pool it
 * ```
 */
export const RESET_ROLE_COLUMN = 'pg_tenants_current_role'
/**
 * Column of the reset's row ({@link SESSION_RESET}) that holds the login (session user): a
 * driver destroys a connection whose {@link RESET_ROLE_COLUMN} differs from it.
 *
 * @example
 * ```ts
 * import { RESET_LOGIN_COLUMN, RESET_ROLE_COLUMN } from 'pg-tenants/adapter'
 *
 * // The reset's row shows a role other than the login: the connection is then destroyed.
 * export const roleChanged = (row: Readonly<Record<string, unknown>>) => row[RESET_ROLE_COLUMN] !== row[RESET_LOGIN_COLUMN]
 * ```
 */
export const RESET_LOGIN_COLUMN = 'pg_tenants_session_user'

/**
 * What ends every unit of work on a pooled connection, after its `COMMIT` or `ROLLBACK` and in the
 * same message: the session state that outlives a transaction goes back to the session's
 * defaults, so that nothing a scope left (a temporary table, a session-level `SET` or
 * `set_config(…, false)`, `SET SESSION AUTHORIZATION`, a `WITH HOLD` cursor, `LISTEN`, a session
 * advisory lock, `currval`) reaches the next unit of work on the connection — behind PgBouncer,
 * the next client. Timeouts the scope set cannot stop it (they are cleared first). A
 * session-level `SET ROLE` is undone by the closing `SET SESSION AUTHORIZATION DEFAULT`, but the
 * role may have been the connection's own (set on connect), so the row reports the role before
 * it: the driver destroys a connection whose role differed from its login. A statement left by
 * SQL `PREPARE` cannot go without `DEALLOCATE ALL`, which would drop the driver's own named
 * statements too: adapters see its `PREPARE` tag and {@link Connection.taint} the connection.
 *
 * @example
 * ```ts
 * import type { PoolClient } from 'pg'
 * import { SESSION_RESET } from 'pg-tenants/adapter'
 *
 * declare const client: PoolClient
 *
 * await client.query(`ROLLBACK; ${SESSION_RESET}`) // one message: the unit of work ends, the session is back to its defaults
 * ```
 */
export const SESSION_RESET =
  'SET statement_timeout = 0; SET lock_timeout = 0; CLOSE ALL; UNLISTEN *; DISCARD TEMP; DISCARD SEQUENCES; RESET ALL; ' +
  `SELECT pg_advisory_unlock_all(), current_user::text AS ${RESET_ROLE_COLUMN}, session_user::text AS ${RESET_LOGIN_COLUMN}; ` +
  'SET SESSION AUTHORIZATION DEFAULT'

/**
 * Settings that a driver which cannot reset everything (one embedded session whose own settings
 * must survive) puts back exactly as they were before the scope: the tenant setting (fail
 * closed), and those an application most often sets for its session. Reading each costs a few
 * microseconds in PGlite at every scope, so the list is short.
 *
 * @example
 * ```ts
 * import { RESTORED_SETTINGS, type SessionBefore } from 'pg-tenants/adapter'
 *
 * declare const before: SessionBefore
 *
 * const saved = Object.fromEntries(RESTORED_SETTINGS.map((name, i) => [name, before.settings[i]])) // { 'pg_tenants.tenant': '', search_path: …, … }
 * ```
 */
export const RESTORED_SETTINGS = ['pg_tenants.tenant', 'search_path', 'TimeZone', 'statement_timeout'] as const

/**
 * The session's state before a scope, as a driver that restores it exactly captured it.
 *
 * @example
 * ```ts
 * import { sessionResetTo, type SessionBefore } from 'pg-tenants/adapter'
 *
 * const before: SessionBefore = { role: 'app', login: 'app', settings: ['', '"$user", public', 'UTC', '0'] }
 * const reset = sessionResetTo(before, false) // 'CLOSE ALL; …; SET SESSION AUTHORIZATION "app"'
 * ```
 */
export interface SessionBefore {
  /** `current_user`. */
  readonly role: string
  /** `session_user`. */
  readonly login: string
  /** The values of {@link RESTORED_SETTINGS}, in that order. */
  readonly settings: readonly string[]
}

const SEPARATOR = '\x1f'

/**
 * One SELECT column (`pg_tenants_before`) that captures {@link SessionBefore}, packed in one
 * text value (one column parses faster than six).
 *
 * @example
 * ```ts
 * import type { PGlite } from '@electric-sql/pglite'
 * import { SESSION_BEFORE_COLUMNS, sessionBefore } from 'pg-tenants/adapter'
 *
 * declare const db: PGlite
 *
 * const { rows } = await db.query<Record<string, unknown>>(`SELECT ${SESSION_BEFORE_COLUMNS}`)
 * const before = sessionBefore(rows[0]) // { role, login, settings }
 * ```
 */
export const SESSION_BEFORE_COLUMNS = `concat_ws(chr(31), current_user, session_user, ${RESTORED_SETTINGS.map((name) => `coalesce(current_setting(${quoteLiteral(name)}, true), '')`).join(', ')}) AS pg_tenants_before`

/**
 * Reads {@link SESSION_BEFORE_COLUMNS} from a result row; undefined when the row lacks it.
 *
 * @example
 * ```ts
 * import { SESSION_BEFORE_COLUMNS, sessionBefore, type StatementResult } from 'pg-tenants/adapter'
 *
 * declare function query(sql: string): Promise<StatementResult>
 *
 * const before = sessionBefore((await query(`SELECT ${SESSION_BEFORE_COLUMNS}`)).rows[0])
 * ```
 */
export function sessionBefore(row: Readonly<Record<string, unknown>> | undefined): SessionBefore | undefined {
  const packed = row?.['pg_tenants_before']
  if (typeof packed !== 'string') return undefined
  const [role, login, ...settings] = packed.split(SEPARATOR)
  if (role === undefined || login === undefined || settings.length !== RESTORED_SETTINGS.length) return undefined
  return { role, login, settings }
}

/**
 * The reset for one embedded session (PGlite), sent inside the transaction just before its
 * COMMIT: deferred constraints are checked first, while the tenant is still set; temporary
 * tables, cursors, `currval`, SQL-prepared statements and session advisory locks go; the
 * settings of {@link RESTORED_SETTINGS}, the session authorization and the role go back to what
 * they were before the scope (a session-level `SET` inside a transaction is kept at COMMIT).
 * `LISTEN` is left alone: the embedded session's own listeners (PGlite's `listen`, live queries)
 * must survive. `inTransaction`: sent inside the scope's transaction (adds the deferred
 * constraint check and clears the scope's timeouts first).
 *
 * @example
 * ```ts
 * import { sessionResetTo, type SessionBefore } from 'pg-tenants/adapter'
 *
 * declare const before: SessionBefore // captured by the scope's BEGIN message
 * declare function exec(sql: string): Promise<unknown>
 *
 * await exec(sessionResetTo(before, true)) // then COMMIT
 * ```
 */
export function sessionResetTo(before: SessionBefore, inTransaction: boolean): string {
  const settings = RESTORED_SETTINGS.map((name, i) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(before.settings[i] ?? '')}, false)`)
  return [
    ...(inTransaction ? ['SET CONSTRAINTS ALL IMMEDIATE', 'SET LOCAL statement_timeout = 0', 'SET LOCAL lock_timeout = 0'] : []),
    'CLOSE ALL',
    'DISCARD TEMP',
    'DISCARD SEQUENCES',
    'DEALLOCATE ALL',
    `SELECT pg_advisory_unlock_all(), length(concat(${settings.join(', ')}))`,
    `SET SESSION AUTHORIZATION ${quoteIdent(before.login)}`,
    ...(before.role === before.login ? [] : [`SET ROLE ${quoteIdent(before.role)}`]),
  ].join('; ')
}
