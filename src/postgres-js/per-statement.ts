/**
 * The `manager.scoped()` handle of postgres.js: a `sql`-like function whose every query (a
 * tagged template, `unsafe`) runs, when awaited, as one short transaction scoped to the ambient
 * tenant, on the scope's `tx` (src/postgres-js/scoped-sql.ts, so through the scope's guard).
 *
 * A query here is lazy, as in postgres.js: it is built when it runs, on the scope's `tx`, and the
 * tenant is the one in context then. A query made by this handle nested in another one (a
 * fragment) is rebuilt on the same `tx`. Helpers (`sql(row)`, `sql('name')`, `json`, `array`,
 * `typed`) are postgres.js' own: data, not queries.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import type { AmbientScopes, TenantScoped } from '../core/manager.js'
import type { TransactionOptions } from '../core/transaction.js'
import type { PostgresJsLike } from '../drivers/postgres-js.js'
import { scopedSql } from './scoped-sql.js'

/** A postgres.js query as made on a scope's `tx`, before it runs. */
interface Made extends PromiseLike<unknown> {
  values(): Made
  raw(): Made
  simple(): Made
}

type Build = (tx: (...args: unknown[]) => unknown) => Made

const NOT_PER_STATEMENT =
  'runs beyond one statement, and a scoped handle ends its transaction with each statement: use it inside db.begin(async (tx) => …), ' +
  'one scoped transaction.'

/** A query of the handle: lazy, started once (when awaited or `execute()`d). */
class ScopedQuery implements PromiseLike<unknown> {
  #modes: ('values' | 'raw' | 'simple')[] = []
  #started: Promise<unknown> | undefined
  readonly #build: Build
  readonly #run: (query: ScopedQuery) => Promise<unknown>

  constructor(build: Build, run: (query: ScopedQuery) => Promise<unknown>) {
    this.#build = build
    this.#run = run
  }

  /** This query made on `tx` (not run). */
  on(tx: (...args: unknown[]) => unknown): Made {
    let made = this.#build(tx)
    for (const mode of this.#modes) made = made[mode]()
    return made
  }

  values(): this {
    this.#modes.push('values')
    return this
  }

  raw(): this {
    this.#modes.push('raw')
    return this
  }

  simple(): this {
    this.#modes.push('simple')
    return this
  }

  execute(): this {
    void this.#start()
    return this
  }

  #start(): Promise<unknown> {
    return (this.#started ??= this.#run(this))
  }

  then<A = unknown, B = never>(
    onfulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#start().then(onfulfilled, onrejected)
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<unknown> {
    return this.then(undefined, onrejected)
  }

  finally(onfinally?: (() => void) | null): Promise<unknown> {
    return this.#start().finally(onfinally)
  }

  cursor(): never {
    throw new TenantError('UNSUPPORTED_OPERATION', `A cursor ${NOT_PER_STATEMENT}`)
  }

  forEach(): never {
    throw new TenantError('UNSUPPORTED_OPERATION', `forEach ${NOT_PER_STATEMENT}`)
  }

  describe(): never {
    throw new TenantError('UNSUPPORTED_OPERATION', `describe ${NOT_PER_STATEMENT}`)
  }

  readable(): never {
    throw new TenantError('UNSUPPORTED_OPERATION', `A COPY stream ${NOT_PER_STATEMENT}`)
  }

  writable(): never {
    throw new TenantError('UNSUPPORTED_OPERATION', `A COPY stream ${NOT_PER_STATEMENT}`)
  }
}

/** Members of a postgres.js `sql` that have no per-statement meaning. */
const REFUSED: Readonly<Record<string, string>> = {
  reserve: 'A reserved connection would outlive the statement: use db.begin(async (tx) => …).',
  release: 'The handle holds no connection.',
  end: 'The handle is a view of your sql: end the postgres.js sql itself (sql.end()) when the app shuts down.',
  listen: 'LISTEN needs a connection of its own: call listen on the postgres.js sql itself.',
  subscribe: 'A subscription needs a connection of its own: call subscribe on the postgres.js sql itself.',
  notify: 'Inside db.begin(async (tx) => tx.notify(…)) the notification goes out when the scope commits.',
  file: 'Read the file yourself and run its SQL with db.unsafe(text).',
  savepoint: 'A savepoint lives in a transaction: use it inside db.begin(async (tx) => tx.savepoint(…)).',
  prepare: 'PREPARE TRANSACTION would end the scope.',
}

/** The handle over `pool` (the postgres.js `sql` the manager was made from: its helpers only). */
export function perStatementSql<Tx extends object>(ambient: AmbientScopes<Tx>, pool: PostgresJsLike): object {
  const helpers = pool as unknown as ((...args: unknown[]) => unknown) & Record<string, unknown>
  const run = (query: ScopedQuery) => ambient.statement((conn, role) => Promise.resolve(query.on(scopedSql(conn, role) as (...args: unknown[]) => unknown)))
  /** Nested queries of this handle become fragments on the same `tx`. */
  const onTx = (tx: (...args: unknown[]) => unknown, value: unknown): unknown =>
    value instanceof ScopedQuery ? value.on(tx) : Array.isArray(value) && value.some((v) => v instanceof ScopedQuery) ? value.map((v) => onTx(tx, v)) : value
  const db = (first: unknown, ...rest: unknown[]): unknown => {
    if (!Array.isArray((first as { raw?: unknown } | null)?.raw)) return helpers(first, ...rest) // a helper: data
    return new ScopedQuery((tx) => tx(first, ...rest.map((v) => onTx(tx, v))) as Made, run)
  }
  const begin = <R>(optionsOrFn: unknown, fn?: (tx: Tx & TenantScoped) => Promise<R>): Promise<R> => {
    if (typeof optionsOrFn !== 'function') {
      throw new TenantError(
        'UNSUPPORTED_OPERATION',
        "db.begin(fn) takes no postgres.js options string: pass the modes as db.transaction(fn, { isolationLevel: 'serializable' }), or to scoped(options).",
      )
    }
    void fn
    return ambient.transaction(optionsOrFn as (tx: Tx & TenantScoped) => Promise<R>)
  }
  const members: Record<string, unknown> = {
    unsafe: (...args: unknown[]) => new ScopedQuery((tx) => (tx as unknown as { unsafe: (...a: unknown[]) => Made }).unsafe(...args), run),
    begin,
    transaction: <R>(fn: (tx: Tx & TenantScoped) => Promise<R>, options?: TransactionOptions) => ambient.transaction(fn, options),
    json: helpers['json'],
    array: helpers['array'],
    typed: helpers['typed'],
    types: helpers['types'],
    options: helpers['options'],
  }
  for (const [member, hint] of Object.entries(REFUSED)) {
    members[member] = () => {
      throw new TenantError('UNSUPPORTED_OPERATION', `db.${member}() is not available on a scoped handle. ${hint}`)
    }
  }
  return Object.assign(db, members)
}
