/**
 * Driver for embedded PGlite. One PGlite instance is one PostgreSQL session, so a "connection" is
 * the whole instance held exclusively: we enter PGlite's own `transaction()` (its lock), end the
 * transaction it opened so that the connection starts idle like a pooled one, and from then on
 * run our own BEGIN … COMMIT on it until release.
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

/** A driver over one PGlite instance; units of work on it are serialised by PGlite's lock. */
export function pgliteDriver(db: PgliteLike): Driver {
  return {
    name: 'pglite',
    connect() {
      return new Promise<Connection>((resolve, reject) => {
        let release!: () => void
        const held = new Promise<void>((r) => (release = r))
        db.transaction(async (tx) => {
          await tx.exec('ROLLBACK')
          resolve(pinnedConnection(tx, release))
          await held
        }).catch(reject) // after `resolve`, a late failure (its final COMMIT) has nobody to tell
      })
    },
  }
}

function pinnedConnection(tx: PgliteTransactionLike, unlock: () => void): Connection {
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
      return (await live().exec(sql)).map(toResult)
    },
    async query(sql, params) {
      return toResult(await live().query(sql, [...params]))
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
}

function toResult(r: PgliteResults): StatementResult {
  return { command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }
}
