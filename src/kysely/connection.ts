/**
 * The Kysely `DatabaseConnection` of a scope: every query Kysely compiles for the scope's
 * transaction runs on the scope's pinned connection, through the scope's guard
 * (src/core/guard.ts), which refuses it once the scope is over and sees the caller's SQL end the
 * transaction (a `COMMIT`) from the command tags.
 *
 * @module
 */
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely'
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { guardedClient, guardScope } from '../core/guard.js'

/** Runs one compiled statement (its SQL and parameters) on the scope's connection, guarded, and
 * answers as Kysely's own Postgres connections do. */
export type ScopedRun = (sql: string, parameters: readonly unknown[]) => Promise<QueryResult<unknown>>

/** The part of a node-postgres or PGlite result read here (one per statement of a message). */
interface NativeResult {
  command?: string | null
  /** node-postgres */
  rowCount?: number | null
  /** PGlite */
  affectedRows?: number
  rows?: unknown[]
}

/** The commands whose row count Kysely reports as `numAffectedRows`, as its Postgres driver does. */
const AFFECTING: readonly string[] = ['INSERT', 'UPDATE', 'DELETE', 'MERGE']

/** `QueryResult` from a command tag, the affected count and the rows. */
export function queryResult(command: string | null | undefined, count: number | null | undefined, rows: readonly unknown[] | undefined): QueryResult<unknown> {
  const affecting = AFFECTING.includes(String(command ?? '').toUpperCase())
  return { ...(affecting ? { numAffectedRows: BigInt(count ?? 0) } : {}), rows: [...(rows ?? [])] }
}

/**
 * The run of a node-postgres or PGlite scope: `query` of the guarded pinned client. A statement
 * without parameters goes out as one simple-query message (node-postgres does so itself; PGlite
 * through `exec`), so several statements work there as on Kysely's own connections; of several
 * results, the last one is returned.
 */
export function nativeRun(conn: Connection, scopeRole: string): ScopedRun {
  const client = guardedClient(conn, scopeRole)
  const exec = client.exec
  return async (sql, parameters) => {
    const raw = parameters.length === 0 && exec ? await exec(sql) : await client.query(sql, [...parameters])
    const last = (Array.isArray(raw) ? raw.at(-1) : raw) as NativeResult | undefined
    return queryResult(last?.command, last?.rowCount ?? last?.affectedRows, last?.rows)
  }
}

/** The part of a postgres.js reserved connection (`Connection.native`) used here. */
interface PostgresJsReserved {
  unsafe(query: string, parameters: unknown[], options: { simple: boolean }): PromiseLike<ArrayLike<unknown> & { command?: string; count?: number }>
}

/**
 * The run of a postgres.js scope: `unsafe` of the reserved connection, guarded. Every statement
 * goes out with the extended protocol (`simple: false`), parameters or not: one statement a
 * call, so that its command tag is exact (postgres.js tags a multi-statement message's results
 * with only some of its statements), and no round trip is spent asking the server.
 */
export function postgresJsRun(conn: Connection, scopeRole: string): ScopedRun {
  const native = conn.native as PostgresJsReserved
  const send = (sql: string, parameters: readonly unknown[]) => native.unsafe(sql, [...parameters], { simple: false })
  const guarded = guardScope(conn, scopeRole, {
    // A postgres.js result is the array of its rows, with the statement's tag as `command`.
    tags: (result) => {
      const command = (result as { command?: unknown }).command
      return [typeof command === 'string' ? command.toUpperCase() : '']
    },
    // The one column's value, whatever the sql's column-name transform made of its name.
    currentRole: async () => {
      conn.assertUsable() // the connection may have died with the call: then send nothing on it (postgres.js#1208)
      const [row] = Array.from((await send('SELECT current_user::text AS pg_tenants_role', [])) as ArrayLike<Record<string, unknown>>)
      return Object.values(row ?? {})[0]
    },
  })
  return async (sql, parameters) => {
    const result = await guarded(async () => send(sql, parameters))
    return queryResult(result.command, result.count, Array.from(result))
  }
}

let cursors = 0

/**
 * The connection Kysely's executor is given for a scope. `streamQuery` reads through a cursor
 * of the scope's transaction (`DECLARE … CURSOR FOR <query>`, then `FETCH`), each statement
 * through the guard like any other: so it streams a `SELECT` (or `VALUES`), not an
 * `INSERT … RETURNING`.
 */
export function scopedConnection(run: ScopedRun): DatabaseConnection {
  return {
    executeQuery: <R>(compiled: CompiledQuery) => run(compiled.sql, compiled.parameters) as Promise<QueryResult<R>>,
    streamQuery: <R>(compiled: CompiledQuery, chunkSize = 100) => stream(run, compiled, chunkSize) as AsyncIterableIterator<QueryResult<R>>,
  }
}

async function* stream(run: ScopedRun, compiled: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<unknown>> {
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
    throw new TenantError('UNSUPPORTED_OPERATION', `stream(chunkSize) needs a positive integer chunk size, got ${String(chunkSize)}.`)
  }
  const cursor = `pg_tenants_stream_${++cursors}`
  await run(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${compiled.sql}`, compiled.parameters)
  try {
    for (;;) {
      const { rows } = await run(`FETCH FORWARD ${chunkSize} FROM ${cursor}`, [])
      if (rows.length > 0) yield { rows }
      if (rows.length < chunkSize) return
    }
  } finally {
    // A cursor lives only as long as its transaction: once the scope is over or its transaction
    // has failed, there is nothing left to close (and the caller's own error is the one to see).
    await run(`CLOSE ${cursor}`, []).catch((error: unknown) => {
      const code = (error as { code?: unknown } | null)?.code
      if (code !== 'SESSION_CLOSED' && code !== '25P02') throw error
    })
  }
}
