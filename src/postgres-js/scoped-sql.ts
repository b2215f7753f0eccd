/**
 * The postgres.js `sql` a scope hands out (`pg-tenants/postgres-js`, and the client Drizzle's
 * postgres.js session talks to): postgres.js' own functions on the scope's reserved connection,
 * so that tagged templates, fragments and helpers compose as usual, with the *execution* of every
 * query it makes going through the scope's guard (src/core/guard.ts).
 *
 * A postgres.js query is lazy: it runs when awaited (or `.execute()`d), by calling its handler.
 * Each query made here gets a handler that waits for its turn in the guard, then runs it, and
 * settles it with the guard's verdict, not the connection's: a query that ended the scope's
 * transaction rejects with `UNSUPPORTED_OPERATION`, and one started after the scope rejects with
 * `SESSION_CLOSED` without being sent.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { guardScope } from '../core/guard.js'
import type { PostgresJsReservedLike } from '../drivers/postgres-js.js'

/** The fields of a postgres.js `Query` (a Promise subclass) the guard takes over. */
interface QueryInternals {
  /** Runs the query on its connection; called once, when it is first awaited or executed. */
  handler: (query: QueryInternals) => void
  /** Settle the query (the connection calls them; a cursor replaces them). */
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  active: boolean
  /** Set when the query was cancelled before it was sent. */
  cancelled: unknown
  readonly options: { readonly simple?: boolean }
}

/** A postgres.js result: rows, with the command tag and columns of the statement. */
interface Segment {
  readonly command?: string | null
  readonly columns?: unknown
}

/** The guard's question, on the reserved connection: the role, and whether SQL `PREPARE` left a
 * statement (its tag may be hidden in a multi-statement result). */
const PROBE = 'SELECT current_user::text AS pg_tenants_role, EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql) AS pg_tenants_prepared'

/** Members of a postgres.js `sql` that have no meaning on one scope's connection. */
const REFUSED: Readonly<Record<string, string>> = {
  begin:
    "The scope's transaction is pg-tenants' own: use tx.savepoint(fn) (a SAVEPOINT) for a nested transaction, and pass " +
    "transaction options to the scope: withTenant(id, fn, { isolationLevel: 'serializable' }).",
  reserve: 'tx is already one pinned connection: run the queries on tx itself.',
  release: 'The scope releases its connection itself when it ends: return from the callback (or close the session).',
  end: 'tx is one scope, not the pool: end the postgres.js sql you gave pg-tenants (sql.end()) when the app shuts down.',
  listen: 'LISTEN needs a connection of its own that outlives the scope: call listen on the postgres.js sql itself, outside the scope.',
  subscribe: 'A subscription needs a connection of its own that outlives the scope: call subscribe on the postgres.js sql itself, outside the scope.',
  prepare: "PREPARE TRANSACTION would end the scope's transaction: let the scope commit (return from the callback).",
  // postgres.js reads the file after the query has started and sends it whenever the read ends:
  // after the scope, maybe inside the next unit of work on the connection.
  file: 'Read the file yourself and run its SQL with tx.unsafe(text): postgres.js sends a file query when its read ends, which may be after the scope.',
}

/** The segments of a postgres.js answer: one result, or one per result of a multi-statement
 * message. */
function segments(result: unknown): readonly Segment[] {
  if (isResult(result)) return [result]
  return Array.isArray(result) && result.every(isResult) ? result : []
}

function isResult(value: unknown): value is Segment {
  return Array.isArray(value) && 'command' in value
}

/** The guarded postgres.js `sql` for a scope over a postgres.js connection (`conn.native` a
 * reserved `sql`). `scopeRole` is the role the scope's transaction runs as. */
export function scopedSql(conn: Connection, scopeRole: string): object {
  const reserved = conn.native as PostgresJsReservedLike
  const own = conn.native as Record<string, unknown>
  /** Answers to simple-query messages: several statements may stand behind one tag. */
  const simple = new WeakSet<object>()
  const guarded = guardScope(conn, scopeRole, {
    tags: (result) => segments(result).map((s) => String(s.command ?? '').toUpperCase()),
    // One statement per answer, exactly tagged, only when sent with the extended protocol (a
    // tagged template, unsafe with parameters). A simple query's results merge the tags of
    // several statements (`SELECT 1 AS x; COMMIT; CREATE TABLE t AS SELECT 1` comes back as one
    // result tagged SELECT, with columns), and a COPY stream has none: the server is asked.
    exact: (result) => Array.isArray(result) && !simple.has(result),
    currentRole: async () => {
      const [row] = (await conn.query(PROBE, [])).rows
      if (row?.['pg_tenants_prepared'] === true) conn.taint()
      return row?.['pg_tenants_role']
    },
  })

  /** Routes the query's execution through the guard. */
  const guard = <Q>(made: Q): Q => {
    const query = made as unknown as QueryInternals
    const run = query.handler
    query.handler = () => {
      const outer = { resolve: query.resolve, reject: query.reject }
      let inner: { resolve: (value: unknown) => void; reject: (error: unknown) => void } | undefined
      // The connection settles the query through these (and a cursor sets its own): while the
      // guard has the query, they settle the guard's call; the query itself settles after.
      for (const key of ['resolve', 'reject'] as const) {
        Object.defineProperty(query, key, {
          configurable: true,
          get: () => (value: unknown) => {
            query.active = false
            ;(inner ?? outer)[key](value)
          },
          set: (fn: (value: unknown) => void) => {
            outer[key] = fn
          },
        })
      }
      guarded(
        () =>
          new Promise<unknown>((resolve, reject) => {
            if (query.cancelled) return resolve(undefined) // rejected by its cancel() already
            inner = {
              resolve: (value) => {
                if (query.options.simple && typeof value === 'object' && value !== null) simple.add(value)
                resolve(value)
              },
              reject,
            }
            run(query)
          }),
      ).then(
        (value) => outer.resolve(value),
        (error: unknown) => outer.reject(error),
      )
    }
    return made
  }

  const tx = (first: unknown, ...rest: unknown[]): unknown => {
    const made = reserved(first, ...rest)
    // A template is a query; anything else (an object, a list, a name) is a helper to embed.
    return Array.isArray((first as { raw?: unknown } | null)?.raw) ? guard(made) : made
  }

  let savepoints = 0
  const savepoint = async (nameOrFn: unknown, fn?: unknown): Promise<unknown> => {
    const callback = typeof nameOrFn === 'function' ? nameOrFn : fn
    if (typeof callback !== 'function') {
      throw new TenantError('INVALID_OPTIONS', "tx.savepoint needs a callback: tx.savepoint(async (sp) => { … }) or tx.savepoint('name', async (sp) => { … }).")
    }
    const name = reserved(`s${savepoints++}${typeof nameOrFn === 'string' ? `_${nameOrFn}` : ''}`)
    await (tx as Template)`savepoint ${name}`
    try {
      const x: unknown = (callback as (sql: unknown) => unknown)(tx)
      const result = await (Array.isArray(x) ? Promise.all(x) : x)
      await (tx as Template)`release savepoint ${name}`
      return result
    } catch (error) {
      await (tx as Template)`rollback to savepoint ${name}`
      throw error
    }
  }

  const members: Record<string, unknown> = {
    unsafe: (...args: unknown[]) => guard((own['unsafe'] as (...a: unknown[]) => unknown)(...args)),
    // postgres.js' own notify() runs on the pool, outside the scope: inside it, the notification
    // goes out when the scope commits.
    notify: (channel: unknown, payload: unknown) => (tx as Template)`select pg_notify(${channel}, ${String(payload)})`,
    json: own['json'],
    array: own['array'],
    typed: own['typed'],
    types: own['types'],
    savepoint,
  }
  for (const [member, hint] of Object.entries(REFUSED)) {
    members[member] = () => {
      throw new TenantError('UNSUPPORTED_OPERATION', `tx.${member}() is not available inside a scope. ${hint}`)
    }
  }
  return Object.assign(tx, members)
}

type Template = (strings: TemplateStringsArray, ...args: unknown[]) => Promise<unknown>
