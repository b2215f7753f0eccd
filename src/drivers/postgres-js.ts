/**
 * Driver for a postgres.js `sql` (npm `postgres`). A connection is one `sql.reserve()`d
 * connection: `sql.begin()` sends its BEGIN as a round trip of its own and keeps only the letters
 * of its options, so it cannot carry the scoping. A query without parameters
 * (`reserved.unsafe(text)`) goes out as one simple-query message, several statements allowed,
 * which is how `BEGIN` and the scoping, or `COMMIT` and the session reset, travel together.
 *
 * What postgres.js answers, and how it is read here:
 * - A multi-statement message resolves with one result per statement that returns rows, plus
 *   one for the statements before the first of them; each carries the rows of its first
 *   statement and the command tag of its last (`BEGIN; SET …; SELECT …; SET …` gives `[SET, SET]`,
 *   the second with the SELECT's rows). So rows are found by their column names, never by their
 *   tag, and a `SELECT 1` follows `COMMIT` in the closing message, so that COMMIT's own tag
 *   (`ROLLBACK` when the transaction had failed) is the first result's.
 * - A reserved connection whose server session ends is taken back by the pool at once (it is
 *   reconnected for the next query of anyone), and a query sent on it afterwards crashes the
 *   process or runs on that new session; calling `release()` on it puts a dead connection back
 *   into the pool (postgres.js 3.4.9, issues #1199 and #1208). So the connection is watched (the
 *   pool clears its `reserved` mark when it closes): nothing is sent on it once it has closed, and
 *   it is not released again.
 *
 * @module
 */
import { scopeEndedError, type Connection, type Driver, type StatementResult } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { beginStatement, RESET_LOGIN_COLUMN, RESET_ROLE_COLUMN, SESSION_RESET } from '../core/transaction.js'

/**
 * The part of a postgres.js reserved connection (`await sql.reserve()`) pg-tenants uses: a
 * postgres.js `sql` bound to one connection of the pool, and its `release()`.
 *
 * @example
 * ```ts
 * import postgres from 'postgres'
 * import type { PostgresJsReservedLike } from 'pg-tenants/adapter'
 *
 * const sql = postgres(process.env.DATABASE_URL!)
 * const reserved: PostgresJsReservedLike = await sql.reserve()
 * reserved.release()
 * ```
 */
export interface PostgresJsReservedLike {
  /** A tagged-template query, or a helper (`sql(object)`, `sql('name')`), on this connection. */
  (first: unknown, ...rest: unknown[]): unknown
  /** A query from text: without parameters one simple-query message, several statements
   * allowed; it runs when awaited. */
  unsafe(query: string, parameters?: unknown[], options?: object): PromiseLike<unknown>
  /** Gives the connection back to the pool. */
  release(): void
}

/**
 * The part of a postgres.js `sql` (`postgres(url)`) pg-tenants uses.
 *
 * @example
 * ```ts
 * import postgres from 'postgres'
 * import type { PostgresJsLike } from 'pg-tenants/adapter'
 *
 * const sql: PostgresJsLike = postgres(process.env.DATABASE_URL!)
 * ```
 */
export interface PostgresJsLike {
  /** Pins one connection of the pool until `release()`. */
  reserve(): Promise<PostgresJsReservedLike>
  /** A query from text on any connection of the pool. */
  unsafe(query: string, parameters?: unknown[], options?: object): PromiseLike<unknown>
  /** The parsed options; pg-tenants reads `transform.column.from`. */
  readonly options: object
}

/**
 * True for a postgres.js `sql` made by `postgres(...)` (or anything shaped like one); false for a
 * reserved connection or a transaction's `sql`, which cannot hand out a connection per unit of
 * work.
 *
 * @example
 * ```ts
 * import postgres from 'postgres'
 * import { isPostgresJs } from 'pg-tenants/adapter'
 *
 * const sql = postgres(process.env.DATABASE_URL!)
 * isPostgresJs(sql) // true
 * isPostgresJs(await sql.reserve()) // false
 * ```
 */
export function isPostgresJs(value: unknown): value is PostgresJsLike {
  const c = value as Record<string, unknown> | null
  return (
    typeof c === 'function' &&
    typeof c['reserve'] === 'function' &&
    typeof c['unsafe'] === 'function' &&
    typeof c['begin'] === 'function' &&
    typeof c['options'] === 'object' &&
    c['options'] !== null
  )
}

/** True for the pinned client of a postgres.js connection (`Connection.native` of
 * {@link postgresJsDriver}): a reserved postgres.js `sql`. */
export function isPostgresJsReserved(value: unknown): value is PostgresJsReservedLike {
  const c = value as Record<string, unknown> | null
  return typeof c === 'function' && typeof c['unsafe'] === 'function' && typeof c['release'] === 'function' && !('reserve' in c)
}

/**
 * A driver over a postgres.js `sql`: each connection is one `sql.reserve()`d connection, ended
 * (its server session terminated) instead of released when its state is in doubt.
 *
 * @example
 * ```ts
 * import postgres from 'postgres'
 * import { postgresJsDriver, TenantEngine } from 'pg-tenants/adapter'
 *
 * const driver = postgresJsDriver(postgres(process.env.DATABASE_URL!))
 * const engine = new TenantEngine(driver, {}, [{ type: 'text' }])
 * ```
 */
export function postgresJsDriver(sql: PostgresJsLike): Driver {
  const from = columnFrom(sql)
  return {
    name: 'postgres-js',
    exclusive: false,
    async connect() {
      return pinnedConnection(await sql.reserve(), from)
    },
  }
}

/** A postgres.js result: the rows of one statement, with its command tag. */
interface PostgresJsResult extends ReadonlyArray<Record<string, unknown>> {
  readonly command?: string | null
}

/** The pool's record of a connection (postgres.js' own `onexecute` hands it to `sql.begin()`):
 * `reserved` is cleared when the pool takes the connection back, closed or released. */
interface PooledConnection {
  reserved: unknown
  terminate?(): void
}

/** Errors postgres.js gives when the connection itself is gone. */
const CONNECTION_LOST = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'ECONNRESET', 'EPIPE'])

/** After COMMIT in the closing message: a statement that returns rows, so that COMMIT's own tag
 * stays the first result's (see the module's comment). */
const COMMIT_TAG_KEEPER = 'SELECT 1 AS pg_tenants_ended'

/** How long ending a server session may take before the connection is closed from our side. */
const TERMINATE_TIMEOUT_MS = 1000

function pinnedConnection(reserved: PostgresJsReservedLike, from: ((column: string) => string) | undefined): Connection {
  let released = false
  let sealed = false
  let abandoned: TenantError | undefined
  /** Holds state only a new server session is rid of (SQL PREPARE, a role set by the session). */
  let tainted = false
  /** The server session ended under us (or we could not tell): nothing more is sent. */
  let lost = false
  let pooled: PooledConnection | undefined
  let mark: unknown
  const onexecute = (connection: PooledConnection) => {
    if (pooled === undefined) {
      pooled = connection
      mark = connection.reserved
    }
    return true // as without the option: the connection may take the next query at once
  }
  /** Still this reservation's, with an open server session. */
  const alive = () => !lost && (pooled === undefined || pooled.reserved === mark)
  const live = () => {
    if (released) throw scopeEndedError(false)
    if (!alive()) {
      lost = true
      throw new TenantError(
        'SESSION_CLOSED',
        'The database connection of this scope was closed (its server session ended: a restart, a timeout, a terminated ' +
          'backend), so nothing more can run in it. Run the unit of work again.',
      )
    }
    return reserved
  }
  const send = async (text: string, params: readonly unknown[] = []): Promise<unknown> => {
    const client = live()
    try {
      return await client.unsafe(text, [...params], pooled ? {} : { onexecute })
    } catch (error) {
      if (!alive() || CONNECTION_LOST.has(String((error as { code?: unknown }).code))) lost = true
      throw error
    }
  }
  const exec = async (text: string) => results(await send(text), from)
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    // A statement left by SQL PREPARE goes in this same message (behind PgBouncer the server
    // session is another client's right after it); the connection is ended anyway.
    const keeper = statement === 'COMMIT' ? `${COMMIT_TAG_KEEPER}; ` : ''
    const all = await exec(`${statement}; ${keeper}${tainted ? 'DEALLOCATE ALL; ' : ''}${SESSION_RESET}`)
    const row = all.find((r) => r.rows[0] && RESET_ROLE_COLUMN in r.rows[0])?.rows[0]
    // A role other than the login's (reset already by the closing SET SESSION AUTHORIZATION
    // DEFAULT, but it may have been the connection's own): not pooled.
    if (row?.[RESET_ROLE_COLUMN] !== row?.[RESET_LOGIN_COLUMN]) tainted = true
    return all[0]?.command !== 'ROLLBACK'
  }
  /** Ends the server session of a connection in doubt, so that behind PgBouncer nothing it holds
   * reaches another client: as the scope's role (or in a failed transaction) the backend cannot
   * end itself, so the transaction is rolled back first, in the same message. Then, if the
   * connection is still open, it is closed from our side. Errors are swallowed here only: the
   * connection is given up either way. */
  const terminate = async () => {
    const ended = async (text: string) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_TIMEOUT_MS)))
      await Promise.race([send(text).catch(() => undefined), timeout])
      clearTimeout(timer)
    }
    if (!alive()) return
    await ended('SELECT pg_terminate_backend(pg_backend_pid())')
    if (alive()) await ended('ROLLBACK; SELECT pg_terminate_backend(pg_backend_pid())')
    if (alive() && pooled?.terminate) {
      pooled.terminate()
      lost = true
    }
  }
  return {
    native: reserved,
    assertUsable() {
      if (sealed) throw scopeEndedError(true)
      live()
    },
    async begin(prelude, modes) {
      // BEGIN's result is its own unless a prelude statement without rows followed it (then
      // that result stands for them).
      const all = await exec(`${beginStatement(modes)}; ${prelude}`)
      return all[0]?.command === 'BEGIN' ? all.slice(1) : all
    },
    commit: () => end('COMMIT'),
    async rollback() {
      await end('ROLLBACK')
    },
    async restart(endWith, prelude, modes) {
      const close = endWith === 'commit' ? `COMMIT; ${COMMIT_TAG_KEEPER}` : 'ROLLBACK'
      const all = await exec(`${close}; ${beginStatement(modes)}; ${prelude}`)
      return endWith === 'rollback' || all[0]?.command !== 'ROLLBACK'
    },
    exec,
    async query(text, params) {
      const [first] = results(await send(text, params), from)
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
      if (destroy || tainted) await terminate()
      released = true
      // A connection whose session ended is the pool's again already (it reconnects it when
      // needed); release() would put it back as if it were open. One not seen to end stays
      // reserved rather than go back in doubt.
      if ((destroy || tainted) && pooled === undefined && !lost) lost = true
      if (!alive() || lost) return
      reserved.release()
    },
  }
}

/** The results of a call: one per result postgres.js gave (see the module's comment). */
function results(raw: unknown, from: ((column: string) => string) | undefined): StatementResult[] {
  const list = (isResult(raw) ? [raw] : Array.isArray(raw) ? raw : []) as PostgresJsResult[]
  return list.map((r) => ({ command: String(r.command ?? '').toUpperCase(), rows: from ? r.map((row) => byColumn(row, from)) : [...r] }))
}

function isResult(value: unknown): value is PostgresJsResult {
  return Array.isArray(value) && 'command' in value
}

/** The sql's column-name transform (`postgres({ transform: postgres.camel })`), if any. */
function columnFrom(sql: PostgresJsLike): ((column: string) => string) | undefined {
  const from = (sql.options as { transform?: { column?: { from?: unknown } } }).transform?.column?.from
  return typeof from === 'function' ? (from as (column: string) => string) : undefined
}

/** A row whose columns the sql renamed (`transform.column.from`), readable by the names the SQL
 * gave them, as the engine and the checks read them. */
function byColumn(row: Record<string, unknown>, from: (column: string) => string): Record<string, unknown> {
  return new Proxy(row, {
    get: (target, key) => (typeof key === 'string' && !(key in target) ? target[from(key)] : Reflect.get(target, key)),
    has: (target, key) => key in target || (typeof key === 'string' && from(key) in target),
  })
}
