/**
 * Driver for embedded PGlite. One PGlite instance is one PostgreSQL session, so a "connection" is
 * the whole instance held exclusively: we enter PGlite's own `transaction()` (its lock) and keep
 * it until release.
 *
 * Every call into PGlite is a pass through the WASM backend (~50 µs even for `SELECT 1`), so the
 * transaction PGlite opens is used, not thrown away: the core opens a scope with one message
 * `BEGIN; <scoping>`, and on a fresh connection only `<scoping>` is sent, inside the BEGIN PGlite
 * has just run; the core's closing `COMMIT` is PGlite's own, which also ends the lock. A scoped
 * unit of work thus costs one call more than `db.transaction` (the scoping), not three.
 * Anything else sent first (tenant management) ends PGlite's transaction, so that it runs with
 * autocommit, like on a pooled connection.
 *
 * @module
 */
import { scopeEndedError, type Connection, type Driver, type StatementResult } from '../core/driver.js'
import { TenantError } from '../core/errors.js'

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

/** How the core opens a scope: `BEGIN` and the scoping statements in one message. */
const BEGIN = 'BEGIN; '

/** A driver over one PGlite instance; units of work on it are serialised by PGlite's lock. */
export function pgliteDriver(db: PgliteLike): Driver {
  return {
    name: 'pglite',
    connect() {
      return new Promise<Connection>((resolve, reject) => {
        let unlock!: () => void
        const held = new Promise<void>((r) => (unlock = r))
        const lock: { ended?: Promise<void> } = {}
        let entered = false
        lock.ended = db.transaction(async (tx) => {
          entered = true
          resolve(pinnedConnection(tx, unlock, lock as { ended: Promise<void> }))
          await held
        })
        // Before the connection exists, a failure is the caller's; after, the connection awaits
        // `ended` where the outcome matters (its COMMIT), and elsewhere it has nobody to tell.
        lock.ended.catch((error: unknown) => {
          if (!entered) reject(error)
        })
      })
    },
  }
}

function pinnedConnection(tx: PgliteTransactionLike, unlock: () => void, lock: { ended: Promise<void> }): Connection {
  /** PGlite's BEGIN is open and nothing else was sent yet. */
  let fresh = true
  let released = false
  let sealed = false
  const live = () => {
    if (released) throw scopeEndedError(false)
    return tx
  }
  const forOrm = () => {
    if (sealed) throw scopeEndedError(true)
    return live()
  }
  /** Management work (anything but a scope) starts outside PGlite's transaction. */
  const leaveFresh = async (t: PgliteTransactionLike) => {
    if (!fresh) return
    fresh = false
    await t.exec('ROLLBACK')
  }
  const guarded = {
    query: (sql: string, params?: unknown[], options?: unknown) => forOrm().query(sql, params, options),
    exec: (sql: string, options?: unknown) => forOrm().exec(sql, options),
    transaction: () => {
      throw new TenantError('UNSUPPORTED_CLIENT', 'Inside a scope, use tx.transaction() for a nested transaction (a savepoint).')
    },
  }
  return {
    client: guarded,
    async exec(sql) {
      const t = live()
      if (fresh && sql.startsWith(BEGIN)) {
        fresh = false
        const results = await t.exec(sql.slice(BEGIN.length))
        return [{ command: 'BEGIN', rows: [] }, ...results.map(toResult)]
      }
      await leaveFresh(t)
      if (sql === 'COMMIT') return commitAndRelease()
      return (await t.exec(sql)).map(toResult)
    },
    async query(sql, params) {
      const t = live()
      await leaveFresh(t)
      return toResult(await t.query(sql, [...params]))
    },
    seal() {
      sealed = true
    },
    async release(destroy) {
      if (released) return
      // An embedded session cannot be replaced; the best we can do for one in doubt is to end
      // whatever transaction it is in (transaction-local state ends with it).
      if (destroy) await tx.exec('ROLLBACK').catch(() => undefined)
      released = true
      unlock()
    },
  }

  /** The core's COMMIT is the last statement of a unit of work: let PGlite send it, which ends
   * its transaction and its lock in the same step, and report what PostgreSQL answered. */
  async function commitAndRelease(): Promise<StatementResult[]> {
    released = true
    unlock()
    try {
      await lock.ended
    } catch (error) {
      // PGlite's TransactionAbortedError: the server answered COMMIT with ROLLBACK. Reported as
      // the server's answer, so the core raises its own TRANSACTION_ABORTED as on other drivers.
      if (isRolledBackCommit(error)) return [{ command: 'ROLLBACK', rows: [] }]
      throw error
    }
    return [{ command: 'COMMIT', rows: [] }]
  }
}

function isRolledBackCommit(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; query?: unknown } | null
  return e?.code === '25P02' && e.query === 'COMMIT' && typeof e.message === 'string' && /rolled back instead of committed/.test(e.message)
}

function toResult(r: PgliteResults): StatementResult {
  return { command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }
}
