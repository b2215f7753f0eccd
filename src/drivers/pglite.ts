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
import { TenantError } from '../core/errors.js'
import { beginStatement, SESSION_BEFORE_COLUMNS, sessionBefore, sessionResetTo, type SessionBefore } from '../core/transaction.js'

/** The part of a PGlite result we read. */
interface PgliteResults {
  command?: string
  rows: Record<string, unknown>[]
}

/**
 * The part of PGlite's transaction object we use.
 *
 * @example
 * ```ts
 * import type { Transaction } from '@electric-sql/pglite'
 * import type { PgliteTransactionLike } from 'pg-tenants/adapter'
 *
 * declare const tx: Transaction
 * const like: PgliteTransactionLike = tx
 * ```
 */
export interface PgliteTransactionLike {
  /** One statement with bind parameters. */
  query(sql: string, params?: unknown[], options?: unknown): Promise<PgliteResults>
  /** Several statements, no parameters; one result per statement. */
  exec(sql: string, options?: unknown): Promise<PgliteResults[]>
}

/**
 * The part of a `PGlite` instance we use.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import type { PgliteLike } from 'pg-tenants/adapter'
 *
 * const db: PgliteLike = new PGlite()
 * ```
 */
export interface PgliteLike {
  /** Runs `fn` in a transaction, holding PGlite's lock until it settles. */
  transaction<T>(fn: (tx: PgliteTransactionLike) => Promise<T>): Promise<T>
}

/**
 * True for a PGlite instance (or anything shaped like one).
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { isPglite } from 'pg-tenants/adapter'
 *
 * isPglite(new PGlite()) // true
 * ```
 */
export function isPglite(client: unknown): client is PgliteLike {
  const c = client as Record<string, unknown> | null
  return typeof c === 'object' && c !== null && typeof c['transaction'] === 'function' && typeof c['exec'] === 'function' && 'waitReady' in c
}

/** Sessions open per PGlite instance, over every manager and driver made on it. */
const kept = new WeakMap<PgliteLike, number>()

/**
 * A driver over one PGlite instance; units of work on it are serialised by PGlite's lock.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { pgliteDriver, TenantEngine } from 'pg-tenants/adapter'
 *
 * const engine = new TenantEngine(pgliteDriver(new PGlite()), {}, [{ type: 'text' }])
 * ```
 */
export function pgliteDriver(db: PgliteLike): Driver {
  return {
    name: 'pglite',
    exclusive: true,
    connect() {
      if ((kept.get(db) ?? 0) > 0) {
        return Promise.reject(
          new TenantError(
            'NESTED_SCOPE',
            'PGlite has one connection and an open session holds it until you close() it, so this would ' +
              'wait forever: close the session first, or do the work on the session.',
          ),
        )
      }
      return new Promise<Connection>((resolve, reject) => {
        let unlock!: () => void
        const held = new Promise<void>((r) => (unlock = r))
        let entered = false
        const ended: Promise<void> = db.transaction(async (tx) => {
          entered = true
          resolve(pinnedConnection(tx, unlock, ended, db))
          await held
        })
        // Before the connection exists, a failure is the caller's; after, the connection awaits
        // `ended` where the outcome matters (its COMMIT), and elsewhere it has nobody to tell.
        ended.catch((error: unknown) => {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- PGlite's error, as it is
          if (!entered) reject(error)
        })
      })
    },
  }
}

function pinnedConnection(tx: PgliteTransactionLike, unlock: () => void, ended: Promise<void>, db: PgliteLike): Connection {
  /** PGlite's BEGIN is open and nothing else was sent yet. */
  let fresh = true
  let released = false
  let sealed = false
  let abandoned: TenantError | undefined
  let keeping = false
  const unkeep = () => {
    if (!keeping) return
    keeping = false
    kept.set(db, (kept.get(db) ?? 1) - 1)
  }
  /** The session's state before the current scope, to put back when it ends. */
  let before: SessionBefore | undefined
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
  /** Nothing of the caller's ran before a scope began, so only a begun scope needs the reset. */
  const rollback = async () => {
    fresh = false
    await run(before ? `ROLLBACK; ${sessionResetTo(before, false)}` : 'ROLLBACK')
    before = undefined
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
      const all = await run(`${open}SELECT ${SESSION_BEFORE_COLUMNS}; ${prelude}`)
      const skip = open === '' ? 1 : 2
      before = sessionBefore(all[skip - 1]?.rows[0])
      return all.slice(skip)
    },
    /** The reset goes inside the transaction and PGlite's own COMMIT ends it (and its lock):
     * one call more than a plain transaction. An aborted transaction refuses the reset; it is
     * then rolled back and reset here, and reported as not committed. */
    async commit() {
      try {
        if (before) await run(sessionResetTo(before, true))
      } catch (error) {
        if ((error as { code?: unknown }).code !== '25P02') throw error
        await rollback()
        return false
      }
      before = undefined
      released = true
      unkeep()
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
    // The reset deallocates SQL-prepared statements (PGlite names none of its own).
    taint() {},
    keep() {
      if (keeping) return
      keeping = true
      kept.set(db, (kept.get(db) ?? 0) + 1)
    },
    seal() {
      sealed = true
    },
    get abandoned() {
      return abandoned
    },
    abandon(reason) {
      abandoned ??= reason
      sealed = true
    },
    async release(destroy) {
      if (released) return
      // An embedded session cannot be replaced: one in doubt gets the reset instead.
      if (destroy) await rollback().catch(() => undefined)
      released = true
      unkeep()
      unlock()
    },
  }
}

/** PGlite's TransactionAbortedError: the server answered its COMMIT with ROLLBACK. */
function isRolledBackCommit(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; query?: unknown } | null
  return e?.code === '25P02' && e.query === 'COMMIT' && typeof e.message === 'string' && /rolled back instead of committed/.test(e.message)
}

/** PGlite before 0.5.5 tags no result with its command, so a COMMIT sent inside a scope could not
 * be seen: refused at the scope's first statement, before any code of the caller runs. */
function toResult(r: PgliteResults): StatementResult {
  if (typeof r.command !== 'string') {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'This PGlite does not say which command a result is for (PGlite before 0.5.5), so pg-tenants could not see a scope ' +
        'ended by a COMMIT sent inside it: upgrade @electric-sql/pglite to 0.5.5 or later (npm install @electric-sql/pglite@^0.5.5).',
    )
  }
  return { command: r.command.toUpperCase(), rows: r.rows ?? [] }
}
