/**
 * Driver for a node-postgres (`pg`) `Pool`. A query without parameters goes out as one
 * simple-query message, which is how `BEGIN` and the scoping, or `COMMIT` and the session reset,
 * travel together.
 *
 * @module
 */
import type { TenantError } from '../core/errors.js'
import { scopeEndedError, type Connection, type Driver, type StatementResult } from '../core/driver.js'
import { beginStatement, RESET_LOGIN_COLUMN, RESET_ROLE_COLUMN, SESSION_RESET } from '../core/transaction.js'

/** The part of a `pg` query result we read. */
interface PgResult {
  command: string | null
  rows: Record<string, unknown>[]
}

/**
 * The part of a `pg.PoolClient` we use.
 *
 * @example
 * ```ts
 * import type { PoolClient } from 'pg'
 * import type { PgPoolClientLike } from 'pg-tenants/adapter'
 *
 * declare const client: PoolClient
 * const like: PgPoolClientLike = client
 * ```
 */
export interface PgPoolClientLike {
  /** A query: without values, one simple-query message, several statements allowed (then one
   * result per statement). */
  query(text: string, values?: unknown[]): Promise<PgResult | PgResult[]>
  /** A query given as a config object (what Drizzle's node-postgres session sends). */
  query(config: object, values?: unknown[]): Promise<unknown>
  /** Back to the pool; with an error or `true`, the client is destroyed instead. */
  release(err?: Error | boolean): void
  /** Listens for the client's `error` (a dead backend) or `end` while it is checked out. */
  on(event: 'error' | 'end', listener: (error: Error) => void): unknown
  /** Stops listening. */
  off(event: 'error' | 'end', listener: (error: Error) => void): unknown
  /** pg >= 8.12: the status of the last ReadyForQuery (`I` idle, `T` in a transaction, `E` failed). */
  getTransactionStatus?(): string | null
}

/**
 * The part of a `pg.Pool` we use.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import type { PgPoolLike } from 'pg-tenants/adapter'
 *
 * const pool: PgPoolLike = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * ```
 */
export interface PgPoolLike {
  /** Checks a client out of the pool. */
  connect(): Promise<PgPoolClientLike>
}

/**
 * True for a `pg.Pool` (or anything shaped like one); false for a single `pg.Client`, which
 * cannot be pinned per unit of work.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { isPgPool } from 'pg-tenants/adapter'
 *
 * isPgPool(new pg.Pool()) // true
 * isPgPool(new pg.Client()) // false
 * ```
 */
export function isPgPool(client: unknown): client is PgPoolLike {
  const c = client as Record<string, unknown> | null
  return typeof c === 'object' && c !== null && typeof c['connect'] === 'function' && typeof c['query'] === 'function' && 'totalCount' in c && 'idleCount' in c
}

/**
 * A driver over a node-postgres pool: each connection is a client checked out of it, destroyed
 * instead of returned when its state is in doubt.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { nodePostgresDriver, TenantEngine } from 'pg-tenants/adapter'
 *
 * const driver = nodePostgresDriver(new pg.Pool({ connectionString: process.env.DATABASE_URL }))
 * const engine = new TenantEngine(driver, {}, [{ type: 'uuid' }])
 * ```
 */
export function nodePostgresDriver(pool: PgPoolLike): Driver {
  return {
    name: 'node-postgres',
    exclusive: false,
    async connect() {
      return pinnedConnection(await pool.connect())
    },
  }
}

function pinnedConnection(client: PgPoolClientLike): Connection {
  let released = false
  let sealed = false
  let abandoned: TenantError | undefined
  /** Holds state only a new server session is rid of (SQL PREPARE): ended and destroyed. */
  let tainted = false
  // pg-pool stops listening for 'error' while a client is checked out; a backend that dies
  // between two queries (killed, idle-in-transaction timeout, restart) would then crash the
  // process. The next query fails with the error anyway, and the connection is destroyed.
  let broken = false
  const onError = () => {
    broken = true
  }
  client.on('error', onError)
  const live = () => {
    if (released) throw scopeEndedError(false)
    return client
  }
  const exec = async (sql: string) => results(await live().query(sql))
  /** The reset's row: a role other than the login's (reset already by its closing SET SESSION
   * AUTHORIZATION DEFAULT, but it may have been set on connect): this client is destroyed, so
   * that the pool opens a fresh one, running its own connect hooks. */
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    // A statement left by SQL PREPARE goes in this same message (behind PgBouncer the server
    // session is another client's right after it); the client is destroyed anyway, so pg's own
    // record of its named statements no longer matters.
    const all = await exec(`${statement}; ${tainted ? 'DEALLOCATE ALL; ' : ''}${SESSION_RESET}`)
    const row = all.find((r) => r.rows[0] && RESET_ROLE_COLUMN in r.rows[0])?.rows[0]
    if (row?.[RESET_ROLE_COLUMN] !== row?.[RESET_LOGIN_COLUMN]) broken = true
    return all[0]?.command !== 'ROLLBACK'
  }
  /** Before a connection in doubt is destroyed while a transaction may still be open on it: end
   * its server session too. Behind PgBouncer, closing our client leaves the server session to the
   * next client, with whatever it holds; inside a transaction PgBouncer keeps the same server for
   * us, so this reaches the right one (outside one it would reach any, and the reset in the
   * closing message has already run on the right one). Waits for the client's end, so that the
   * backend's last word is not reported to the pool as an error nobody listens to. */
  const terminate = async () => {
    if (broken || client.getTransactionStatus?.() === 'I') return
    const gone = new Promise<void>((resolve) => {
      client.on('end', () => resolve())
      setTimeout(resolve, 1000).unref()
    })
    const answered = await live()
      .query('SELECT pg_terminate_backend(pg_backend_pid())')
      .then(
        () => true,
        () => false, // the backend's end came as the query's error: nothing more will follow
      )
    if (answered) await gone
  }
  return {
    native: client,
    assertUsable() {
      if (sealed) throw scopeEndedError(true)
      live()
    },
    async begin(prelude, modes) {
      return (await exec(`${beginStatement(modes)}; ${prelude}`)).slice(1)
    },
    commit: () => end('COMMIT'),
    async rollback() {
      await end('ROLLBACK')
    },
    async restart(endWith, prelude, modes) {
      const all = await exec(`${endWith === 'commit' ? 'COMMIT' : 'ROLLBACK'}; ${beginStatement(modes)}; ${prelude}`)
      return endWith === 'rollback' || all[0]?.command !== 'ROLLBACK'
    },
    exec,
    async query(sql, params) {
      const [first] = results(await live().query(sql, [...params]))
      return first ?? { command: '', rows: [] }
    },
    keep() {},
    taint() {
      tainted = true
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
      destroy ||= tainted
      if (destroy) await terminate()
      released = true
      // A terminated backend may still report its end: the listener stays on a destroyed client.
      if (!destroy && !broken) client.off('error', onError)
      client.release(destroy || broken ? new Error('pg-tenants: connection state unknown, destroyed') : undefined)
    },
  }
}

function results(raw: PgResult | PgResult[]): StatementResult[] {
  return (Array.isArray(raw) ? raw : [raw]).map((r) => ({ command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }))
}
