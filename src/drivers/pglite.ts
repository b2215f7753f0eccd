/**
 * Driver for embedded PGlite. One PGlite instance is one PostgreSQL session, so a "connection" is
 * the whole instance held exclusively: we enter PGlite's own `transaction()` (its lock) and keep
 * it until release.
 *
 * Every call into PGlite is a pass through the WASM backend (~50 µs even for `SELECT 1`), so the
 * transaction PGlite opens is used, not thrown away: `begin` on a fresh connection sends only the
 * transaction modes and the prelude, inside the BEGIN PGlite has just run. Management work
 * (anything sent before a `begin`) first ends PGlite's transaction, so that it runs with
 * autocommit, as on a pooled connection.
 *
 * The session cannot be replaced, so nothing is ever destroyed: what a scope left is reset
 * (`SESSION_RESET`), and a session-level `SET ROLE` it left is undone to the role the session
 * had before the scope (the user's own, e.g. a non-superuser owner), never to the superuser.
 *
 * @module
 */
import { scopeEndedError, type Connection, type Driver, type StatementResult } from '../core/driver.js'
import { quoteIdent } from '../core/quote.js'
import { beginStatement, RESET_LOGIN_COLUMN, RESET_ROLE_COLUMN, SESSION_RESET } from '../core/transaction.js'

interface PgliteResults {
  command?: string
  rows: Record<string, unknown>[]
}

/** The part of PGlite's transaction object we use. */
export interface PgliteTransactionLike {
  query(sql: string, params?: unknown[], options?: unknown): Promise<PgliteResults>
  exec(sql: string, options?: unknown): Promise<PgliteResults[]>
}

/** The part of a `PGlite` instance we use. */
export interface PgliteLike {
  transaction<T>(fn: (tx: PgliteTransactionLike) => Promise<T>): Promise<T>
}

/** True for a PGlite instance (or anything shaped like one). */
export function isPglite(client: unknown): client is PgliteLike {
  const c = client as Record<string, unknown> | null
  return (
    typeof c === 'object' && c !== null && typeof c['transaction'] === 'function' &&
    typeof c['exec'] === 'function' && 'waitReady' in c
  )
}

/** Column of the role the session had when a scope began. */
const OUTER_ROLE = 'pg_tenants_outer_role'

/** A driver over one PGlite instance; units of work on it are serialised by PGlite's lock. */
export function pgliteDriver(db: PgliteLike): Driver {
  return {
    name: 'pglite',
    exclusive: true,
    connect() {
      return new Promise<Connection>((resolve, reject) => {
        let unlock!: () => void
        const held = new Promise<void>((r) => (unlock = r))
        let entered = false
        const ended = db.transaction(async (tx) => {
          entered = true
          resolve(pinnedConnection(tx, unlock))
          await held
        })
        // Before the connection exists, a failure is the caller's. After it, every statement
        // that matters was ours and reported; PGlite's own closing COMMIT finds no transaction.
        ended.catch((error: unknown) => {
          if (!entered) reject(error)
        })
      })
    },
  }
}

function pinnedConnection(tx: PgliteTransactionLike, unlock: () => void): Connection {
  /** PGlite's BEGIN is open and nothing else was sent yet. */
  let fresh = true
  let released = false
  let sealed = false
  /** The session's role before the current scope, as `current_user` showed it. */
  let outerRole: string | undefined
  const live = () => {
    if (released) throw scopeEndedError(false)
    return tx
  }
  const run = async (sql: string) => (await live().exec(sql)).map(toResult)
  /** Management work (anything but a scope) starts outside PGlite's transaction. */
  const leaveFresh = async () => {
    if (!fresh) return
    fresh = false
    await run('ROLLBACK')
  }
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    fresh = false
    const all = await run(`${statement}; ${SESSION_RESET}`)
    const last = all[all.length - 1]?.rows[0]
    const role = last?.[RESET_ROLE_COLUMN]
    const before = outerRole
    if (before !== undefined && role !== before) {
      // Restores the role the session had before the scope: the user's own state, not a tenant's.
      await run(before === last?.[RESET_LOGIN_COLUMN] ? 'RESET ROLE' : `SET ROLE ${quoteIdent(before)}`)
    }
    outerRole = undefined
    return all[0]?.command !== 'ROLLBACK'
  }
  return {
    native: tx,
    assertUsable() {
      if (sealed) throw scopeEndedError(true)
      live()
    },
    async begin(prelude, modes) {
      // Inside PGlite's fresh BEGIN, modes go in a SET TRANSACTION (still before any query).
      const open = fresh ? (modes === '' ? '' : `SET TRANSACTION ${modes}; `) : `${beginStatement(modes)}; `
      fresh = false
      const all = await run(`${open}SELECT current_user::text AS ${OUTER_ROLE}; ${prelude}`)
      const skip = open === '' ? 1 : 2
      const role = all[skip - 1]?.rows[0]?.[OUTER_ROLE]
      outerRole = typeof role === 'string' ? role : undefined
      return all.slice(skip)
    },
    commit: () => end('COMMIT'),
    async rollback() {
      await end('ROLLBACK')
    },
    async restart(endWith, prelude, modes) {
      const all = await run(`${endWith === 'commit' ? 'COMMIT' : 'ROLLBACK'}; ${beginStatement(modes)}; ${prelude}`)
      return endWith === 'rollback' || all[0]?.command !== 'ROLLBACK'
    },
    async exec(sql) {
      await leaveFresh()
      return run(sql)
    },
    async query(sql, params) {
      await leaveFresh()
      return toResult(await live().query(sql, [...params]))
    },
    seal() {
      sealed = true
    },
    async release(destroy) {
      if (released) return
      // An embedded session cannot be replaced: one in doubt gets the reset instead.
      if (destroy) await end('ROLLBACK').catch(() => undefined)
      released = true
      unlock()
    },
  }
}

function toResult(r: PgliteResults): StatementResult {
  return { command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }
}
