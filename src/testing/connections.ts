/**
 * How the isolation kit reaches the database: a rolled-back tenant scope for each probe, a bare
 * pooled connection for what a query outside any scope would see, and error descriptions for
 * its messages.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import type { ScopeRequest, TenantEngine } from '../core/engine.js'
import { sqlState } from '../core/errors.js'
import type { Statement } from './isolation-spec.js'

export type Row = Readonly<Record<string, unknown>>
/** A probe's outcome: what its statements returned, or the error they failed with. */
export type Outcome<T = readonly Row[]> = { readonly rows: T } | { readonly error: unknown }

/** Carries a probe's outcome out of a scope that must not commit. */
class Rollback<T> {
  constructor(readonly outcome: Outcome<T>) {}
}

export function tenantScope(id: string): ScopeRequest {
  return { kind: 'tenant', id, createIfMissing: false }
}

export function send(conn: Connection, statement: Statement) {
  return conn.query(statement.sql, statement.params)
}

/**
 * Runs `probe` in tenant `id`'s scope and rolls the scope back whatever happened. Resolves to
 * the probe's outcome; rejects only when the scope itself failed.
 */
export async function rolledBack<T>(engine: TenantEngine, id: string, probe: (conn: Connection) => Promise<T>): Promise<Outcome<T>> {
  try {
    await engine.run(tenantScope(id), async (conn) => {
      const outcome = await Promise.resolve()
        .then(() => probe(conn))
        .then(
          (rows): Outcome<T> => ({ rows }),
          (error: unknown): Outcome<T> => ({ error }),
        )
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- not an error: it carries the outcome out, and rolls the scope back
      throw new Rollback(outcome)
    })
  } catch (thrown) {
    if (thrown instanceof Rollback) return thrown.outcome
    throw thrown
  }
  throw new Error('unreachable: the probe scope committed')
}

/** Runs `fn` on a connection of the engine's driver with no scope and no transaction, as a query
 * on the pool would; a connection whose statement failed unexpectedly is not reused. */
export async function unscoped<T>(engine: TenantEngine, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await engine.driver.connect()
  let clean = false
  try {
    const value = await fn(conn)
    clean = true
    return value
  } catch (error) {
    clean = sqlState(error) === '42501' // refused before it ran: the connection is as it was
    throw error
  } finally {
    await conn.release(!clean)
  }
}

export function describe(error: unknown): string {
  const state = sqlState(error)
  const message = error instanceof Error ? error.message : String(error)
  return state ? `SQLSTATE ${state}: ${message}` : message
}
