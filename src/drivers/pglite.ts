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
 * The session cannot be replaced, so nothing is ever destroyed: what a scope left is reset, inside
 * its transaction just before PGlite's own COMMIT (`sessionResetTo`), and the role goes back to
 * the one the session had before the scope (the user's own, e.g. a non-superuser owner), never to
 * the superuser.
 *
 * @module
 */
import { scopeEndedError, type Connection, type Driver, type StatementResult } from '../core/driver.js'
import { beginStatement, SESSION_RESET, sessionResetTo } from '../core/transaction.js'

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

/** Columns of the role the session had when a scope began, and of its login. */
const OUTER_ROLE = 'pg_tenants_outer_role'
const LOGIN = 'pg_tenants_login'

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
        const ended: Promise<void> = db.transaction(async (tx) => {
          entered = true
          resolve(pinnedConnection(tx, unlock, ended))
          await held
        })
        // Before the connection exists, a failure is the caller's; after, the connection awaits
        // `ended` where the outcome matters (its COMMIT), and elsewhere it has nobody to tell.
        ended.catch((error: unknown) => {
          if (!entered) reject(error)
        })
      })
    },
  }
}

function pinnedConnection(tx: PgliteTransactionLike, unlock: () => void, ended: Promise<void>): Connection {
  /** PGlite's BEGIN is open and nothing else was sent yet. */
  let fresh = true
  let released = false
  let sealed = false
  /** The session's role before the current scope, and whether it was the login's own. */
  let outer: { readonly before: string; readonly login: boolean } | undefined
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
  /** What undoes a scope's leftovers, the role included when a scope began. */
  const reset = () => (outer ? sessionResetTo(outer) : SESSION_RESET)
  const rollback = async () => {
    fresh = false
    await run(`ROLLBACK; ${reset()}`)
    outer = undefined
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
      const all = await run(`${open}SELECT current_user::text AS ${OUTER_ROLE}, session_user::text AS ${LOGIN}; ${prelude}`)
      const skip = open === '' ? 1 : 2
      const row = all[skip - 1]?.rows[0]
      const before = row?.[OUTER_ROLE]
      outer = typeof before === 'string' ? { before, login: before === row?.[LOGIN] } : undefined
      return all.slice(skip)
    },
    /** The reset goes inside the transaction and PGlite's own COMMIT ends it (and its lock):
     * one call more than a plain transaction. An aborted transaction refuses the reset; it is
     * then rolled back and reset here, and reported as not committed. */
    async commit() {
      try {
        await run(reset())
      } catch (error) {
        if ((error as { code?: unknown }).code !== '25P02') throw error
        await rollback()
        return false
      }
      outer = undefined
      released = true
      unlock()
      try {
        await ended
      } catch (error) {
        if (isRolledBackCommit(error)) return false
        throw error
      }
      return true
    },
    rollback,
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
      if (destroy) await rollback().catch(() => undefined)
      released = true
      unlock()
    },
  }
}

/** PGlite's TransactionAbortedError: the server answered its COMMIT with ROLLBACK. */
function isRolledBackCommit(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; query?: unknown } | null
  return e?.code === '25P02' && e.query === 'COMMIT' && typeof e.message === 'string' && /rolled back instead of committed/.test(e.message)
}

function toResult(r: PgliteResults): StatementResult {
  return { command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }
}
