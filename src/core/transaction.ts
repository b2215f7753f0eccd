/**
 * Transaction options of a scope (isolation level, access mode, deferrable), carried in the
 * message that opens it, and the session reset that rides with the message that ends it.
 *
 * @module
 */
import { TenantError } from './errors.js'
import { quoteIdent } from './quote.js'

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

/** Column of the reset's last row: the session's current role after the reset. */
export const RESET_ROLE_COLUMN = 'pg_tenants_current_role'
/** Column of the reset's last row: the login (session user). */
export const RESET_LOGIN_COLUMN = 'pg_tenants_session_user'

/**
 * What ends every unit of work, after its `COMMIT` or `ROLLBACK` and in the same message: the
 * session state that outlives a transaction goes back to the session's defaults, so that nothing
 * a scope left (a temporary table, a session-level `SET` or `set_config(…, false)`, a `WITH
 * HOLD` cursor, `LISTEN`, a session advisory lock, `currval`) reaches the next unit of work on the
 * connection. A session-level `SET ROLE` cannot be reset without guessing what the role was
 * before, so the last row reports the current role and the login: the driver restores or
 * destroys the connection when they differ.
 */
export const SESSION_RESET =
  'CLOSE ALL; UNLISTEN *; DISCARD TEMP; DISCARD SEQUENCES; RESET ALL; ' +
  `SELECT pg_advisory_unlock_all(), current_user::text AS ${RESET_ROLE_COLUMN}, session_user::text AS ${RESET_LOGIN_COLUMN}`

/** The same reset for a driver that knows the role the session had before the scope (PGlite),
 * sent inside the transaction just before its COMMIT: the role is put back exactly (a
 * session-level `SET ROLE` inside a transaction is kept at COMMIT), with no result to inspect. */
export function sessionResetTo(role: { readonly before: string; readonly login: boolean }): string {
  return (
    'CLOSE ALL; UNLISTEN *; DISCARD TEMP; DISCARD SEQUENCES; RESET ALL; SELECT pg_advisory_unlock_all(); ' +
    (role.login ? 'RESET ROLE' : `SET ROLE ${quoteIdent(role.before)}`)
  )
}
