/**
 * Transaction options of a scope (isolation level, access mode, deferrable), carried in the
 * message that opens it, and the session reset that rides with the message that ends it.
 *
 * @module
 */
import { TenantError } from './errors.js'
import { quoteIdent, quoteLiteral } from './quote.js'

/** PostgreSQL's isolation levels, as Drizzle's `db.transaction(fn, config)` names them. */
export type IsolationLevel = 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'

/** How a scope's transaction is opened. Sent with its `BEGIN`, so it costs no round trip. */
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

/** The transaction modes as SQL (`ISOLATION LEVEL SERIALIZABLE READ ONLY`), or `''` for none.
 * Only fixed words reach SQL: anything else is refused with `INVALID_OPTIONS`. */
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

/** `BEGIN` with the modes. */
export function beginStatement(modes: string): string {
  return modes === '' ? 'BEGIN' : `BEGIN ${modes}`
}

/** Columns of the reset's row: the session's current role after the reset, the login (session
 * user), and whether SQL `PREPARE` left a statement behind. */
export const RESET_ROLE_COLUMN = 'pg_tenants_current_role'
export const RESET_LOGIN_COLUMN = 'pg_tenants_session_user'
export const RESET_PREPARED_COLUMN = 'pg_tenants_sql_prepared'

/**
 * What ends every unit of work on a pooled connection, after its `COMMIT` or `ROLLBACK` and in the
 * same message: the session state that outlives a transaction goes back to the session's
 * defaults, so that nothing a scope left (a temporary table, a session-level `SET` or
 * `set_config(…, false)`, `SET SESSION AUTHORIZATION`, a `WITH HOLD` cursor, `LISTEN`, a session
 * advisory lock, `currval`) reaches the next unit of work on the connection — behind PgBouncer,
 * the next client. Timeouts the scope set cannot stop it (they are cleared first). Two things
 * cannot be reset without guessing, so its row reports them: a session-level `SET ROLE` (the
 * current role differs from the login) and statements left by SQL `PREPARE` (`DEALLOCATE ALL`
 * would also drop the driver's own named statements); the driver then destroys the connection.
 */
export const SESSION_RESET =
  'SET statement_timeout = 0; SET lock_timeout = 0; CLOSE ALL; UNLISTEN *; DISCARD TEMP; DISCARD SEQUENCES; RESET ALL; ' +
  `SELECT pg_advisory_unlock_all(), current_user::text AS ${RESET_ROLE_COLUMN}, session_user::text AS ${RESET_LOGIN_COLUMN}, ` +
  `EXISTS (SELECT FROM pg_prepared_statements WHERE from_sql) AS ${RESET_PREPARED_COLUMN}; ` +
  'SET SESSION AUTHORIZATION DEFAULT'

/** Settings that a driver which cannot reset everything (one embedded session whose own settings
 * must survive) puts back exactly as they were before the scope. */
export const RESTORED_SETTINGS = [
  'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'TimeZone',
  'DateStyle', 'IntervalStyle', 'default_transaction_isolation', 'default_transaction_read_only',
  'default_transaction_deferrable', 'row_security', 'client_encoding', 'standard_conforming_strings', 'pg_tenants.tenant',
] as const

/** The session's state before a scope, as a driver that restores it exactly captured it. */
export interface SessionBefore {
  /** `current_user` and `session_user`. */
  readonly role: string
  readonly login: string
  /** The values of {@link RESTORED_SETTINGS}, in that order. */
  readonly settings: readonly string[]
}

/** The SELECT list that captures {@link SessionBefore} (columns `r`, `l`, `s0`…). */
export const SESSION_BEFORE_COLUMNS =
  'current_user::text AS pg_tenants_r, session_user::text AS pg_tenants_l, ' +
  RESTORED_SETTINGS.map((name, i) => `coalesce(current_setting(${quoteLiteral(name)}, true), '') AS pg_tenants_s${i}`).join(', ')

/** Reads {@link SESSION_BEFORE_COLUMNS} from a result row. */
export function sessionBefore(row: Readonly<Record<string, unknown>> | undefined): SessionBefore | undefined {
  const role = row?.['pg_tenants_r']
  const login = row?.['pg_tenants_l']
  if (typeof role !== 'string' || typeof login !== 'string') return undefined
  return { role, login, settings: RESTORED_SETTINGS.map((_, i) => String(row?.[`pg_tenants_s${i}`] ?? '')) }
}

/**
 * The reset for one embedded session (PGlite), sent inside the transaction just before its
 * COMMIT: deferred constraints are checked first, while the tenant is still set; temporary
 * tables, cursors, `currval`, SQL-prepared statements and session advisory locks go; the
 * settings of {@link RESTORED_SETTINGS}, the session authorization and the role go back to what
 * they were before the scope (a session-level `SET` inside a transaction is kept at COMMIT).
 * `LISTEN` is left alone: the embedded session's own listeners (PGlite's `listen`, live queries)
 * must survive.
 */
export function sessionResetTo(before: SessionBefore, inTransaction: boolean): string {
  const settings = RESTORED_SETTINGS.map((name, i) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(before.settings[i] ?? '')}, false)`)
  return [
    ...(inTransaction ? ['SET CONSTRAINTS ALL IMMEDIATE', 'SET LOCAL statement_timeout = 0', 'SET LOCAL lock_timeout = 0'] : []),
    'CLOSE ALL', 'DISCARD TEMP', 'DISCARD SEQUENCES', 'DEALLOCATE ALL',
    `SELECT pg_advisory_unlock_all(), ${settings.join(', ')}`,
    `SET SESSION AUTHORIZATION ${quoteIdent(before.login)}`,
    ...(before.role === before.login ? [] : [`SET ROLE ${quoteIdent(before.role)}`]),
  ].join('; ')
}
