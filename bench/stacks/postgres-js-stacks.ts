/**
 * The stacks on postgres.js (npm `postgres`), each over its own `sql` with `max: 1`, logged in as
 * the owner. Counting: every query postgres.js sends passes its `debug` hook once (a
 * multi-statement simple query is one query, sent as one message), and the ReadyForQuery
 * messages are read off the socket, which the `socket` option (a documented factory) hands to
 * postgres.js already connected.
 *
 * @module
 */
import { drizzle } from 'drizzle-orm/postgres-js'
import { eq, sql as dsql } from 'drizzle-orm'
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import { Kysely } from 'kysely'
import { PostgresJSDialect } from 'kysely-postgres-js'
import net from 'node:net'
import postgres from 'postgres'
import type { Strategy } from '../../src/core/options.js'
import { fromDrizzle, withRls } from '../../src/drizzle/index.js'
import { fromPostgresJs } from '../../src/postgres-js/index.js'
import type { Counter } from '../scope-overhead/round-trips.js'
import { optionsFor, SCHEMA, TENANT_TABLES } from './config.js'
import { kyselyBenchStack, type BenchDb } from './server-stacks.js'
import { benchStack, type BenchStack, type Row, type Table } from './stack.js'

/** Calls `onReady` for every ReadyForQuery ('Z') among the server's messages (type, length, body). */
function onReadyForQuery(socket: net.Socket, onReady: () => void): void {
  const head = Buffer.alloc(5)
  let have = 0
  let skip = 0
  socket.on('data', (chunk: Buffer) => {
    let at = 0
    while (at < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - at)
        skip -= n
        at += n
        continue
      }
      const n = Math.min(5 - have, chunk.length - at)
      chunk.copy(head, have, at, at + n)
      have += n
      at += n
      if (have < 5) continue
      if (head[0] === 0x5a) onReady()
      skip = head.readUInt32BE(1) - 4
      have = 0
    }
  })
}

/** A postgres.js `sql` of one connection to `url` whose queries and ReadyForQuery messages `counter` counts. */
export function countingSql(url: string, counter: Counter): postgres.Sql {
  const { hostname, port } = new URL(url)
  const options: postgres.Options<Record<string, never>> & { socket: () => Promise<net.Socket> } = {
    max: 1,
    debug: () => void counter.queries++,
    socket: () =>
      new Promise((resolve, reject) => {
        const socket = net.connect(Number(port || 5432), hostname)
        socket.once('error', reject)
        socket.once('connect', () => {
          socket.off('error', reject)
          counter.connects++
          onReadyForQuery(socket, () => counter.ready++)
          resolve(socket)
        })
      }),
  }
  return postgres(url, options)
}

const fresh = (): Counter => ({ queries: 0, ready: 0, connects: 0 })

/** The same select as the other stacks, as postgres.js tagged templates (one per table: a
 * table name is no parameter). */
const pjsSelect = (h: postgres.ISql, table: Table, id: number): Promise<Row[]> =>
  table === 'items'
    ? h<Row[]>`SELECT id, tenant, payload FROM pgt_stacks.items WHERE id = ${id}`
    : h<Row[]>`SELECT id, tenant, payload FROM pgt_stacks.items_plain WHERE id = ${id}`

/** `fromPostgresJs(sql)`; the baseline is postgres.js' own `sql.begin(tx => …)`. */
export async function postgresJsStack(url: string, strategy: Strategy): Promise<BenchStack> {
  const counter = fresh()
  const sql = countingSql(url, counter)
  const manager = fromPostgresJs(sql, { ...optionsFor(strategy), tables: TENANT_TABLES })
  return benchStack<postgres.ISql>({
    counter,
    scope: (tenant, fn) => manager.withTenant(tenant, fn),
    transaction: <R>(fn: (h: postgres.ISql) => Promise<R>) => sql.begin(fn) as Promise<R>,
    select: pjsSelect,
    raw: async (h, text) => [...(await h.unsafe<Record<string, unknown>[]>(text))],
    close: () => sql.end(),
  })
}

const s = pgSchema(SCHEMA)
const columns = { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), payload: text('payload') }
const items = withRls(s.table('items', columns))
const itemsPlain = s.table('items_plain', columns)

/** `fromDrizzle(drizzle(sql))` on drizzle-orm/postgres-js; the baseline is `db.transaction(tx => …)`. */
export async function drizzlePostgresJsStack(url: string, strategy: Strategy): Promise<BenchStack> {
  const counter = fresh()
  const sql = countingSql(url, counter)
  const db = drizzle(sql)
  type Db = typeof db
  type Handle = Pick<Db, 'select' | 'execute'>
  const manager = fromDrizzle(db, { ...optionsFor(strategy), tables: [items] })
  return benchStack<Handle>({
    counter,
    scope: (tenant, fn) => manager.withTenant(tenant, fn),
    transaction: (fn) => db.transaction(fn),
    select: (h, table, id) => {
      const t = table === 'items' ? items : itemsPlain
      return h.select().from(t).where(eq(t.id, id))
    },
    raw: async (h, text) => [...(await h.execute<Record<string, unknown>>(dsql.raw(text)))],
    close: () => sql.end(),
  })
}

/** `fromKysely(db, sql)` over kysely-postgres-js' `PostgresJSDialect`; the baseline is
 * `db.transaction().execute(trx => …)`. */
export async function kyselyPostgresJsStack(url: string, strategy: Strategy): Promise<BenchStack> {
  const counter = fresh()
  const sql = countingSql(url, counter)
  const db = new Kysely<BenchDb>({ dialect: new PostgresJSDialect({ postgres: sql }) })
  return kyselyBenchStack(db, sql, counter, strategy, () => db.destroy()) // destroy ends the sql
}
