/**
 * Counting round trips for real: on the pooled node-postgres client (every `query` call that
 * reaches the server, cross-checked with the ReadyForQuery messages it gets back), and the calls
 * into PGlite's WASM backend.
 *
 * @module
 */
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { RT_SAMPLE } from './config.js'
import type { Variant } from './variants.js'

export interface Counter {
  /** client.query calls */
  queries: number
  /** ReadyForQuery messages from the server (one per round trip) */
  ready: number
  /** physical connections opened (must stay 1: nothing destroyed) */
  connects: number
  /** when set, the SQL text of each call is recorded */
  sent?: unknown[] | undefined
}

export interface RoundTrips {
  queries: number
  ready: number
}

/** A pool of one connection whose every call and ReadyForQuery `counter` counts. */
export function countingPool(url: string, counter: Counter): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  pool.on('connect', (client) => {
    counter.connects++
    const original = client.query.bind(client) as (...a: unknown[]) => unknown
    // Every path to the server — Drizzle's prepared queries, the library's BEGIN+scope message,
    // raw calls — goes through this client's query method.
    client.query = function (...args: unknown[]) {
      counter.queries++
      if (counter.sent) counter.sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown })?.text)
      return original(...args)
    } as typeof client.query
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection
    connection.on('readyForQuery', () => counter.ready++)
  })
  return pool
}

/**
 * PGlite has no network, but every call into its WASM backend costs (~40–60 µs even for a
 * `SET`): counts them on the instance, as `queries` (and `ready`, the same number). A
 * `transaction()` is two calls of PGlite's own (its BEGIN, and its COMMIT or ROLLBACK) plus the
 * `exec`/`query` calls made on it; a top-level `exec`/`query` is one.
 */
export function countPgliteCalls(client: PGlite, counter: Counter): void {
  type Tx = Parameters<Parameters<PGlite['transaction']>[0]>[0]
  const transaction = client.transaction.bind(client)
  const count = (n = 1) => {
    counter.queries += n
    counter.ready += n
  }
  client.transaction = <T>(fn: (tx: Tx) => Promise<T>) =>
    transaction(async (tx) => {
      count(2)
      const counted = Object.create(tx) as Tx
      counted.exec = (...args: Parameters<Tx['exec']>) => (count(), tx.exec(...args))
      counted.query = ((...args: Parameters<Tx['query']>) => (count(), tx.query(...args))) as Tx['query']
      return fn(counted)
    })
}

/** Round trips per transaction of every variant, over RT_SAMPLE transactions each. */
export async function countRoundTrips(variants: readonly Variant[], counter: Counter): Promise<Record<string, RoundTrips>> {
  const roundTrips: Record<string, RoundTrips> = {}
  for (const v of variants) {
    counter.queries = 0
    counter.ready = 0
    for (let i = 0; i < RT_SAMPLE; i++) await v.run(i)
    roundTrips[v.key] = { queries: counter.queries / RT_SAMPLE, ready: counter.ready / RT_SAMPLE }
  }
  return roundTrips
}
