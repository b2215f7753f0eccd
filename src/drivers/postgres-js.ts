/**
 * Driver for a postgres.js `sql` (npm `postgres`). A connection is one `sql.reserve()`d
 * connection: `sql.begin()` sends its BEGIN as a round trip of its own and keeps only the letters
 * of its options, so it cannot carry the scoping. A query without parameters
 * (`reserved.unsafe(text)`) goes out as one simple-query message, several statements allowed,
 * which is how `BEGIN` and the scoping, or `COMMIT` and the session reset, travel together.
 *
 * What postgres.js answers, and how it is read here (measured on 3.4.9):
 * - A multi-statement message resolves with one result per statement that returns rows, plus
 *   one for the statements before the first of them; each carries the rows of its first
 *   statement and the command tag of its last (`BEGIN; SET …; SELECT …; SET …` gives `[SET, SET]`,
 *   the second with the SELECT's rows). So rows are found by their column names, never by their
 *   tag, and a `SHOW` follows `COMMIT` in the closing message, so that COMMIT's own tag
 *   (`ROLLBACK` when the transaction had failed) is the first result's.
 * - A reserved connection whose server session ends is taken back by the pool at once (and
 *   reconnected for the next query of anyone): a query sent on it afterwards crashes the process,
 *   or runs on that new session, and `release()` puts the dead connection back into the pool as
 *   if it were open (issues #1208, #1199). So the connection is watched (the pool clears its
 *   `reserved` mark when it closes): nothing is sent on it once it has closed, and it is not
 *   released.
 * - A connection that dies in the middle of a query (`pg_terminate_backend` on itself) leaves its
 *   error behind for the next connection postgres.js opens in that slot, whose first query then
 *   fails; and a `sql.reserve()` waiting inside postgres.js while a connection closes is never
 *   resolved (issue #1195). So a connection in doubt is closed while it is idle, and no
 *   reservation is asked for while one is closed (see {@link Gate}).
 * - Parameters of `query` are sent as node-postgres sends them (text, typed by the server), not
 *   serialized by postgres.js by the type the server infers, which would quote a JSON string
 *   again.
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
  /** A parameter sent with the given type OID. */
  typed(value: unknown, oid: number): unknown
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
 * A driver over a postgres.js `sql`: each connection is one `sql.reserve()`d connection, closed
 * (its server session ended) instead of released when its state is in doubt.
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
  const gate = gateOf(sql)
  return {
    name: 'postgres-js',
    exclusive: false,
    async connect() {
      await gate.enter()
      try {
        return pinnedConnection(await gate.reserve(() => sql.reserve()), from, gate)
      } catch (error) {
        gate.leave()
        throw error
      }
    },
  }
}

/** A postgres.js result: the rows of one statement, with its command tag. */
interface PostgresJsResult extends ReadonlyArray<Record<string, unknown>> {
  readonly command?: string | null
}

/** The pool's record of a connection (postgres.js' own `onexecute` hands it to `sql.begin()`):
 * `reserved` is cleared when the pool takes the connection back, closed or released;
 * `terminate()` closes it from our side. */
interface PooledConnection {
  reserved: unknown
  terminate?(): void
}

/**
 * The reservations of one `sql`, over every driver made on it. A `sql.reserve()` that waits inside
 * postgres.js (for a connection being opened, or in use) while another connection closes is lost,
 * never resolved (postgres.js 3.4.9, issue #1195), and connections in doubt are closed here. So a
 * unit of work waits here instead: at most the pool's size of reservations at a time, and no
 * reservation is asked for while one of ours is being closed, nor closed while one is asked for.
 */
interface Gate {
  /** Waits for a slot; {@link leave} gives it back. */
  enter(): Promise<void>
  leave(): void
  /** Runs `sql.reserve()`, never while a connection of ours is being closed. */
  reserve<T>(reserve: () => Promise<T>): Promise<T>
  /** Closes a connection (`close`), never while a reservation is being asked for. */
  closing(close: () => Promise<void>): Promise<void>
}

const gates = new WeakMap<PostgresJsLike, Gate>()

function gateOf(sql: PostgresJsLike): Gate {
  const known = gates.get(sql)
  if (known) return known
  const max = Number((sql.options as { max?: unknown }).max)
  const size = Number.isInteger(max) && max > 0 ? max : Infinity
  let active = 0
  const waiting: (() => void)[] = []
  let reserving = 0
  let closing = 0
  let changed: (() => void)[] = []
  const change = () => {
    const wake = changed
    changed = []
    for (const resolve of wake) resolve()
  }
  const until = async (ready: () => boolean) => {
    while (!ready()) await new Promise<void>((resolve) => changed.push(resolve))
  }
  const gate: Gate = {
    async enter() {
      if (active < size) {
        active++
        return
      }
      await new Promise<void>((resolve) => waiting.push(resolve)) // the slot of the one that leaves
    },
    leave() {
      const next = waiting.shift()
      if (next) next()
      else active--
    },
    async reserve(reserve) {
      await until(() => closing === 0)
      reserving++
      try {
        return await reserve()
      } finally {
        reserving--
        change()
      }
    },
    async closing(close) {
      await until(() => reserving === 0)
      closing++
      try {
        await close()
      } finally {
        closing--
        change()
      }
    },
  }
  gates.set(sql, gate)
  return gate
}

/** Errors postgres.js gives when the connection itself is gone. */
const CONNECTION_LOST = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'ECONNRESET', 'EPIPE'])

/** After COMMIT in the closing message: a statement that returns rows, so that COMMIT's own tag
 * stays the first result's (see the module's comment). A SHOW takes no snapshot: a `BEGIN
 * ISOLATION LEVEL …` after it in the same message (a session's next transaction) is still its
 * transaction's first statement, which a SELECT would not leave it. */
const COMMIT_TAG_KEEPER = 'SHOW transaction_read_only'

/** How long ending a server session, or the close of a connection, may take. */
const CLOSE_TIMEOUT_MS = 1000

function pinnedConnection(reserved: PostgresJsReservedLike, from: ((column: string) => string) | undefined, gate: Gate): Connection {
  let released = false
  let sealed = false
  let abandoned: TenantError | undefined
  /** Holds what only a new server session is rid of (SQL PREPARE, a role of the connection's
   * own): closed on release. */
  let tainted = false
  /** Certainly outside any transaction, its session reset: just reserved, or a closing message
   * succeeded. */
  let settled = true
  /** The server session ended under us: nothing more is sent. */
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
    settled = false
    try {
      return await client.unsafe(
        text,
        params.map((value) => client.typed(textOf(value), UNKNOWN_OID)),
        pooled ? {} : { onexecute },
      )
    } catch (error) {
      if (!alive() || CONNECTION_LOST.has(String((error as { code?: unknown }).code))) lost = true
      throw error
    }
  }
  const exec = async (text: string) => results(await send(text), from)
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    // A statement left by SQL PREPARE goes in this same message (behind PgBouncer the server
    // session is another client's right after it); the connection is closed anyway.
    const keeper = statement === 'COMMIT' ? `${COMMIT_TAG_KEEPER}; ` : ''
    const all = await exec(`${statement}; ${keeper}${tainted ? 'DEALLOCATE ALL; ' : ''}${SESSION_RESET}`)
    settled = true
    const row = all.find((r) => r.rows[0] && RESET_ROLE_COLUMN in r.rows[0])?.rows[0]
    // A role other than the login's (reset already by the closing SET SESSION AUTHORIZATION
    // DEFAULT, but it may have been the connection's own): not pooled.
    if (row?.[RESET_ROLE_COLUMN] !== row?.[RESET_LOGIN_COLUMN]) tainted = true
    return all[0]?.command !== 'ROLLBACK'
  }
  const within = async (work: Promise<unknown>) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))])
    clearTimeout(timer)
  }
  /** Closes a connection in doubt. One that may be inside a transaction first has its server
   * session end, from inside a transaction of its own, so that no pooler can hand it to another
   * client: a transaction idle for a millisecond ends its session (`pg_terminate_backend` on
   * itself would end it in the middle of a query, which postgres.js remembers against the next
   * connection it opens in that slot: its first query fails with "terminating connection"). A
   * connection still open after that (or settled: its reset done) is closed from our side. Either
   * way the close is waited for: the pool must have the connection back before another
   * reservation may wait for it (see {@link Gate}). Errors are swallowed here only: the
   * connection is given up either way. */
  const close = async () => {
    const gone = async () => {
      while (alive()) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    if (!alive()) return
    if (!settled || pooled?.terminate === undefined) {
      await within(send('ROLLBACK; BEGIN; SET LOCAL idle_in_transaction_session_timeout = 1').then(gone))
    }
    if (alive() && pooled?.terminate) {
      pooled.terminate()
      await within(gone())
    }
    // Not seen to close: it stays reserved, never back in the pool in doubt.
    lost = true
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
      const ending = endWith === 'commit' ? `COMMIT; ${COMMIT_TAG_KEEPER}` : 'ROLLBACK'
      const all = await exec(`${ending}; ${beginStatement(modes)}; ${prelude}`)
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
      try {
        if (destroy || tainted) await gate.closing(close)
        released = true
        // A connection whose session ended is the pool's again already (it reconnects it when
        // needed): release() would put it back as if it were open (postgres.js issue #1199).
        if (alive()) reserved.release()
      } finally {
        released = true
        gate.leave()
      }
    },
  }
}

/** The type OID `unknown`: a parameter of it is typed by the server from its use, and its text
 * is sent as it is (postgres.js would serialize it by that type: a string for a `json` parameter
 * would be quoted again). */
const UNKNOWN_OID = 705

/** A parameter as node-postgres sends it, so that `query` means the same on every driver: text
 * (arrays as array literals, objects as JSON), typed by the server. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
  if (Array.isArray(value)) {
    const item = (v: unknown): string => {
      if (Array.isArray(v)) return textOf(v) ?? 'NULL'
      const t = textOf(v)
      return t === null ? 'NULL' : `"${t.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    }
    return `{${value.map(item).join(',')}}`
  }
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value) ?? null // an object; a function or symbol is no value
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
    get: (target, key): unknown => (typeof key === 'string' && !(key in target) ? target[from(key)] : (Reflect.get(target, key) as unknown)),
    has: (target, key) => key in target || (typeof key === 'string' && from(key) in target),
  })
}
