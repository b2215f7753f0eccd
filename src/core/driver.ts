/**
 * What the core needs from a database driver: a pinned connection that can send several
 * statements in one simple-query message (so the scoping rides with `BEGIN`), run one
 * parameterised statement, and be released — or destroyed when its state is in doubt.
 * The core declares these shapes itself and imports no driver (as kysely does).
 *
 * @module
 */
import { TenantError } from './errors.js'

/** One statement's outcome. */
export interface StatementResult {
  /** The command tag, upper case: `BEGIN`, `SELECT`, `COMMIT`, `ROLLBACK`, … */
  readonly command: string
  readonly rows: readonly Record<string, unknown>[]
}

/** A connection pinned to one unit of work. */
export interface Connection {
  /** The driver-native object an ORM session talks to while the connection is pinned. It
   * refuses every call once the connection is released. */
  readonly client: unknown
  /** Sends one simple-query message (one or more statements, no parameters). */
  exec(sql: string): Promise<StatementResult[]>
  /** Sends one statement with bind parameters. */
  query(sql: string, params: readonly unknown[]): Promise<StatementResult>
  /** From now on `client` refuses every call, while `exec` and `query` still work: sent before
   * the closing COMMIT or ROLLBACK, so that a query the caller forgot to await cannot run after
   * it, outside the scope. */
  seal(): void
  /** Gives the connection back. `destroy` closes it instead, for when its state is in doubt. */
  release(destroy: boolean): Promise<void>
}

/** A source of pinned connections: a pool, or an embedded database serialised by a lock. */
export interface Driver {
  /** A short name for messages and benchmarks: `node-postgres`, `pglite`, … */
  readonly name: string
  connect(): Promise<Connection>
}

/** The error a pinned connection's `client` throws once the scope is over: `afterScope` when it
 * was sealed (a query started after the scope's last statement), otherwise when released. */
export function scopeEndedError(afterScope: boolean): TenantError {
  return new TenantError(
    'SESSION_CLOSED',
    afterScope
      ? 'A query started after its scope had finished (a missing await?): it was refused, so it ' +
          'cannot run outside the scope. Await every query inside withTenant/withAdmin.'
      : 'This scope or session has ended and its connection was released: run queries inside ' +
          'withTenant/withAdmin, or on a session before you close it.',
  )
}
