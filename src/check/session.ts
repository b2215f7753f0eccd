/**
 * The one connection a check runs on, inside one transaction that always ends in ROLLBACK: the
 * check creates temporary objects to compare policies and must leave nothing behind. It reads
 * the catalogs and takes no lock on a user table (a lock would be held to the end of the check
 * and queue the app's DDL, and every query after it, behind the check).
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { driverFor } from '../drivers/detect.js'

export type Row = Record<string, unknown>

/** What an attempt in a sandbox gave: its value, or the error it failed with. */
export type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

/** What the checks need: parameterised reads, several statements in one message, and a
 * savepoint-guarded attempt. */
export interface CheckDb {
  /** The driver's name (`node-postgres`, `pglite`, or `client` for a single `pg.Client`). */
  readonly driver: string
  rows(sql: string, params?: readonly unknown[]): Promise<Row[]>
  /** Sends statements without parameters as one message: one round trip. */
  exec(sql: string): Promise<void>
  /** Runs `fn` inside a savepoint and always rolls back to it, which also releases the locks
   * taken on the temporary objects `fn` made; a failure of `fn` comes back as its error. */
  sandbox<T>(fn: () => Promise<T>): Promise<Attempt<T>>
}

/** A single `pg.Client` (or anything with `query(text, values)`), which the scoping drivers
 * refuse but a one-connection check can use as it is. */
interface QueryClient {
  query(text: string, values?: unknown[]): Promise<unknown>
}

/** Runs `fn` on one connection of `client` inside `BEGIN … ROLLBACK`. */
export async function withCheckDb<T>(client: unknown, fn: (db: CheckDb) => Promise<T>): Promise<T> {
  const { connection, driver } = await connect(client)
  let clean = false
  try {
    // Reading the catalogs needs no lock; should anything wait on one, give up rather than queue
    // behind (and in front of) the app's DDL. One message, as a scope opens (PGlite runs it inside
    // the BEGIN it has just sent).
    await connection.exec("BEGIN; SET LOCAL lock_timeout = '5s'; SET LOCAL jit = off")
    let savepoints = 0
    const db: CheckDb = {
      driver,
      async rows(sql, params = []) {
        return [...(await connection.query(sql, params)).rows]
      },
      async exec(sql) {
        await connection.exec(sql)
      },
      async sandbox(work) {
        const name = `pgt_check_${++savepoints}`
        await connection.exec(`SAVEPOINT ${name}`)
        try {
          return { ok: true, value: await work() }
        } catch (error) {
          return { ok: false, error }
        } finally {
          await connection.exec(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`)
        }
      },
    }
    const result = await fn(db)
    await connection.exec('ROLLBACK')
    clean = true
    return result
  } finally {
    if (!clean)
      await connection.exec('ROLLBACK').then(
        () => (clean = true),
        () => undefined,
      )
    await connection.release(!clean)
  }
}

type Conn = Pick<Connection, 'exec' | 'query' | 'release'>

async function connect(client: unknown): Promise<{ connection: Conn; driver: string }> {
  try {
    const driver = driverFor(client)
    return { connection: await driver.connect(), driver: driver.name }
  } catch (error) {
    if (error instanceof TenantError && error.code === 'UNSUPPORTED_CLIENT' && isQueryClient(client)) {
      return { connection: singleClient(client), driver: 'client' }
    }
    throw error
  }
}

function isQueryClient(client: unknown): client is QueryClient {
  return typeof client === 'object' && client !== null && typeof (client as QueryClient).query === 'function'
}

function singleClient(client: QueryClient): Conn {
  const rowsOf = (raw: unknown) => {
    const list = (Array.isArray(raw) ? raw : [raw]) as { command?: string; rows?: Row[] }[]
    return list.map((r) => ({ command: (r.command ?? '').toUpperCase(), rows: r.rows ?? [] }))
  }
  return {
    async exec(sql) {
      return rowsOf(await client.query(sql))
    },
    async query(sql, params) {
      return rowsOf(await client.query(sql, [...params]))[0] ?? { command: '', rows: [] }
    },
    async release() {},
  }
}
