/**
 * The Prisma driver adapter of pg-tenants: `@prisma/adapter-pg` over the app's pool (or
 * `pglite-prisma-adapter` over a PGlite instance), with one change. When Prisma starts an interactive transaction for a pg-tenants scope
 * (`manager.withTenant`), the transaction is the scope: its BEGIN carries the scoping (one
 * message with the isolation level and the tenant setting or role), its queries go through the
 * scope guard on the pinned connection, and its COMMIT resets the connection before the pool gets
 * it back. Everything else (queries outside any scope, Prisma's own transactions outside scopes,
 * the type mapping of each value) is `@prisma/adapter-pg`'s, unchanged.
 *
 * How a scope finds its transaction: `withTenant` runs `prisma.$transaction(fn)` inside an
 * AsyncLocalStorage store that holds the scope's request; Prisma calls the adapter's
 * `startTransaction` from inside that call chain, which claims the store.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { PrismaPg } from '@prisma/adapter-pg'
import type { Driver } from '../core/driver.js'
import type { TenantEngine, ScopeRequest } from '../core/engine.js'
import { TenantError } from '../core/errors.js'
import { guardedClient, type GuardedClient } from '../core/guard.js'
import { isPgPool, nodePostgresDriver, type PgPoolLike } from '../drivers/node-postgres.js'
import { isPglite, pgliteDriver, type PgliteLike } from '../drivers/pglite.js'

/**
 * The options `@prisma/adapter-pg` takes beside its pool (`schema`, `statementNameGenerator`, …),
 * as {@link tenantAdapter} passes them on.
 *
 * @example
 * ```ts
 * import type { PrismaPgOptions } from 'pg-tenants/prisma'
 *
 * export const options: PrismaPgOptions = { schema: 'app' } // the schema of the generated queries
 * ```
 */
export type PrismaPgOptions = NonNullable<ConstructorParameters<typeof PrismaPg>[1]>

/** What `@prisma/adapter-pg`'s adapter answers to (Prisma's `SqlDriverAdapter`), as far as pg-tenants uses it. */
interface Queryable {
  readonly provider: string
  readonly adapterName: string
  queryRaw(query: unknown): Promise<unknown>
  executeRaw(query: unknown): Promise<number>
}

interface DriverAdapter extends Queryable {
  startTransaction(isolationLevel?: string): Promise<unknown>
  executeScript(script: string): Promise<void>
  getConnectionInfo?(): unknown
  dispose(): Promise<void>
  underlyingDriver?(): unknown
}

/** A Prisma driver adapter factory, as `@prisma/adapter-pg` and `pglite-prisma-adapter` export them. */
interface Factory {
  readonly provider: string
  readonly adapterName: string
  connect(): Promise<unknown>
  connectToShadowDb(): Promise<unknown>
}

/**
 * The stack under a {@link tenantAdapter}: its Prisma adapter (loaded when first connected, so
 * that each stack's users install only its package), the engine's driver, and the stack's own
 * queryable over a scope's guarded client (its value mapping and errors).
 */
interface Stack {
  readonly adapterName: string
  readonly client: PgPoolLike | PgliteLike
  readonly driver: Driver
  factory(): Promise<Factory>
  scoped(guarded: GuardedClient): Promise<Queryable>
}

function pgStack(pool: PgPoolLike, options: PrismaPgOptions | undefined): Stack {
  let module: Promise<typeof import('@prisma/adapter-pg')> | undefined
  const load = () => (module ??= import('@prisma/adapter-pg'))
  return {
    adapterName: '@prisma/adapter-pg',
    client: pool,
    driver: nodePostgresDriver(pool),
    factory: async () => new (await load()).PrismaPg(pool as never, options),
    async scoped(guarded) {
      // @prisma/adapter-pg's own queryable over the pinned connection: a pool in all but `query`,
      // which is the scope guard's.
      const facade: object = Object.create(pool, {
        query: { value: guarded.query },
        connect: { value: () => Promise.reject(new Error('pg-tenants: a scope has one connection')) },
        on: { value: () => facade },
        removeListener: { value: () => facade },
      }) as object
      const queryable = (await new (await load()).PrismaPg(facade, options).connect()) as unknown as DriverAdapter
      if (queryable.underlyingDriver?.() !== facade) {
        throw new TenantError(
          'UNSUPPORTED_CLIENT',
          "@prisma/adapter-pg did not take the scope's connection: this version of it is not supported by pg-tenants.",
        )
      }
      return queryable
    },
  }
}

function pgliteStack(db: PgliteLike): Stack {
  let module: Promise<typeof import('pglite-prisma-adapter')> | undefined
  const load = () => (module ??= import('pglite-prisma-adapter'))
  return {
    adapterName: 'pglite-prisma-adapter',
    client: db,
    driver: pgliteDriver(db),
    factory: async () => new (await load()).PrismaPGlite(db as never),
    async scoped(guarded) {
      // pglite-prisma-adapter's own queryable over the scope's PGlite transaction (its `query` and
      // `exec`, the scope guard's).
      const facade = { query: guarded.query, exec: guarded.exec }
      return await new (await load()).PrismaPGlite(facade as never).connect()
    },
  }
}

/**
 * One pg-tenants scope on its way through Prisma. `pending` until the adapter's
 * `startTransaction` claims it; `open` while its transaction runs; `closed` once `withTenant`
 * has returned (a timer started inside it and firing later is not inside the scope).
 */
export interface PrismaScope {
  readonly engine: TenantEngine
  readonly request: ScopeRequest
  readonly role: string
  readonly label: string
  state: 'pending' | 'open' | 'closed'
  /** The stack of the adapter `fromPrisma` was given: only that adapter opens the scope. */
  readonly stack: object
  /** The scope's transaction, once claimed. */
  transaction?: ScopeTransaction
  /** pg-tenants' own error from opening or ending the scope: Prisma wraps what an adapter throws,
   * and `withTenant` rethrows this one instead. */
  error?: unknown
  /** The last TenantError a query of the scope failed with (the guard's refusals): `withTenant`
   * rethrows it in place of Prisma's wrapper of it (an error with the same `code`). */
  refused?: TenantError
}

/** @internal The store `withTenant` runs `prisma.$transaction` in. */
export const scopes = new AsyncLocalStorage<PrismaScope>()

/**
 * The driver adapter factory to build the `PrismaClient` with: what {@link tenantAdapter}
 * returns. Prisma sees `@prisma/adapter-pg` (or `pglite-prisma-adapter`); its `connect()` is typed
 * opaquely, so that pg-tenants' declarations need no Prisma package.
 *
 * @example
 * ```ts
 * import type { TenantPrismaAdapter } from 'pg-tenants/prisma'
 *
 * export const name = (adapter: TenantPrismaAdapter): string => adapter.adapterName // '@prisma/adapter-pg'
 * ```
 */
export interface TenantPrismaAdapter {
  /** Always `postgres`. */
  readonly provider: 'postgres'
  /** The adapter underneath: `@prisma/adapter-pg` or `pglite-prisma-adapter`. */
  readonly adapterName: string
  /** Prisma's `connect()`: the driver adapter Prisma queries through. */
  connect(): Promise<never>
  /** Prisma's `connectToShadowDb()`, for `prisma migrate`: the plain adapter, no scopes. */
  connectToShadowDb(): Promise<never>
}

/**
 * `@prisma/adapter-pg` over a node-postgres `pool` (or `pglite-prisma-adapter` over a PGlite
 * instance), made able to carry pg-tenants scopes: give it to `new PrismaClient({ adapter })` and
 * to {@link fromPrisma}. Outside scopes it behaves exactly like `new PrismaPg(pool, options)`
 * (`new PrismaPGlite(db)`). Install the adapter package of your client. Throws
 * `UNSUPPORTED_CLIENT` for anything but a `pg.Pool` or a PGlite instance.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { tenantAdapter } from 'pg-tenants/prisma'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * export const adapter = tenantAdapter(pool)
 * // const prisma = new PrismaClient({ adapter })
 * ```
 */
export function tenantAdapter(client: PgPoolLike | PgliteLike, options?: PrismaPgOptions): TenantPrismaAdapter {
  let stack: Stack
  if (isPgPool(client)) stack = pgStack(client, options)
  else if (isPglite(client)) {
    if (options !== undefined) throw new TenantError('INVALID_OPTIONS', "The options are @prisma/adapter-pg's: pglite-prisma-adapter takes none.")
    stack = pgliteStack(client)
  } else {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'tenantAdapter needs a node-postgres Pool (new pg.Pool(...), for @prisma/adapter-pg) or a PGlite instance (for pglite-prisma-adapter).',
    )
  }
  let base: Promise<Factory> | undefined
  const factory = () => (base ??= stack.factory())
  const adapter: TenantPrismaAdapter = {
    provider: 'postgres',
    adapterName: stack.adapterName,
    connect: async () => wrapAdapter((await (await factory()).connect()) as DriverAdapter, stack) as never,
    connectToShadowDb: async () => (await factory()).connectToShadowDb() as Promise<never>,
  }
  STACKS.set(adapter, stack)
  return adapter
}

const STACKS = new WeakMap<object, Stack>()

/** @internal The stack (client, engine driver) behind what {@link tenantAdapter} returned; undefined for anything else. */
export function stackOf(adapter: unknown): Pick<Stack, 'client' | 'driver'> | undefined {
  return typeof adapter === 'object' && adapter !== null ? STACKS.get(adapter) : undefined
}

function refuseInScope(what: string): void {
  const scope = scopes.getStore()
  if (scope?.state === 'open') {
    throw (scope.refused = new TenantError(
      'UNSUPPORTED_OPERATION',
      `A query of the PrismaClient itself (${what}) ran inside ${scope.label}: it would run on another connection, outside the scope. ` +
        'Inside withTenant, query through the transaction client you were given (tx.todo.findMany(), tx.$queryRaw…).',
    ))
  }
}

function wrapAdapter(inner: DriverAdapter, stack: Stack): DriverAdapter {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    queryRaw: (query) => {
      refuseInScope('a query')
      return inner.queryRaw(query)
    },
    executeRaw: (query) => {
      refuseInScope('a statement')
      return inner.executeRaw(query)
    },
    executeScript: (script) => {
      refuseInScope('a script')
      return inner.executeScript(script)
    },
    startTransaction: async (isolationLevel) => {
      const scope = scopes.getStore()
      if (scope === undefined || scope.state === 'closed') return inner.startTransaction(isolationLevel)
      // A transaction started inside a scope (the root client's `$transaction`, a batch): Prisma
      // would run it on another connection, unscoped. Refused.
      if (scope.state === 'open') refuseInScope('a $transaction')
      if (scope.stack !== stack) {
        throw (scope.error = new TenantError(
          'UNSUPPORTED_CLIENT',
          'This PrismaClient was built with another adapter than the one given to fromPrisma: pass fromPrisma the adapter of new PrismaClient({ adapter }).',
        ))
      }
      scope.state = 'open'
      try {
        const transaction = await openScope(scope, stack, inner)
        scope.transaction = transaction
        return transaction
      } catch (error) {
        scope.error ??= error
        scope.state = 'closed'
        throw error
      }
    },
    ...(inner.getConnectionInfo === undefined ? {} : { getConnectionInfo: () => inner.getConnectionInfo?.() }),
    dispose: () => inner.dispose(),
    ...(inner.underlyingDriver === undefined ? {} : { underlyingDriver: () => inner.underlyingDriver?.() }),
  }
}

/** Thrown inside the engine's unit of work to roll it back when Prisma rolls back. */
const ROLLBACK = new Error('pg-tenants: Prisma rolled the scope back')

const SAVEPOINT = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Opens the scope on a pinned connection with the engine's own unit of work (`engine.run`, every
 * check of the other adapters), and hands Prisma a transaction over it that ends the unit of work
 * when Prisma commits or rolls back.
 */
async function openScope(scope: PrismaScope, stack: Stack, inner: DriverAdapter): Promise<ScopeTransaction> {
  let end!: (how: 'commit' | 'rollback') => void
  const ended = new Promise<'commit' | 'rollback'>((resolve) => (end = resolve))
  let opened!: (transaction: ScopeTransaction) => void
  const ready = new Promise<ScopeTransaction>((resolve) => (opened = resolve))
  const done = scope.engine.run(scope.request, async (conn) => {
    const guarded = guardedClient(conn, scope.role)
    let failure: unknown
    const queryable = await stack.scoped({
      ...guarded,
      query: (...args: unknown[]) =>
        guarded.query(...args).catch((error: unknown) => {
          failure = error
          throw error
        }),
    })
    opened(
      new ScopeTransaction(
        inner,
        reporting(queryable, scope, () => failure),
        end,
        () =>
          done.catch((error: unknown) => {
            if (error !== ROLLBACK) scope.error ??= error
            throw error
          }),
      ),
    )
    if ((await ended) === 'rollback') throw ROLLBACK
  })
  // Whichever comes first: the transaction, or the failure to open it.
  return Promise.race([ready, done.then(() => Promise.reject(new Error('pg-tenants: the scope ended before Prisma got its transaction')))])
}

/**
 * `queryable` passing on the server's `routine` of a failed statement, which @prisma/adapter-pg
 * leaves out of its error (`isRlsViolation` reads it: the message may be translated), and
 * keeping the scope guard's refusals for `withTenant` to rethrow.
 */
function reporting(queryable: Queryable, scope: PrismaScope, failure: () => unknown): Queryable {
  const annotate = (error: unknown): never => {
    if (error instanceof TenantError) scope.refused = error
    const cause = (error as { cause?: unknown } | null)?.cause as Record<string, unknown> | undefined
    const original = failure() as { code?: unknown; routine?: unknown } | undefined
    if (typeof cause === 'object' && cause !== null && original?.code === cause['code'] && typeof original?.routine === 'string') {
      cause['routine'] = original.routine
    }
    throw error
  }
  return {
    provider: queryable.provider,
    adapterName: queryable.adapterName,
    queryRaw: (query) => queryable.queryRaw(query).catch(annotate),
    executeRaw: (query) => queryable.executeRaw(query).catch(annotate),
  }
}

/**
 * The scope's transaction as Prisma sees it. `usePhantomQuery: true` tells Prisma that `commit()`
 * and `rollback()` send COMMIT and ROLLBACK themselves (here: the engine's closing messages, which
 * also reset the connection).
 */
export class ScopeTransaction {
  readonly options = { usePhantomQuery: true }
  readonly provider: string
  readonly adapterName: string
  readonly #queryable: Queryable
  readonly #end: (how: 'commit' | 'rollback') => void
  readonly #done: () => Promise<void>
  #finished = false

  constructor(inner: Queryable, queryable: Queryable, end: (how: 'commit' | 'rollback') => void, done: () => Promise<void>) {
    this.provider = inner.provider
    this.adapterName = inner.adapterName
    this.#queryable = queryable
    this.#end = end
    this.#done = done
  }

  queryRaw(query: unknown): Promise<unknown> {
    return this.#queryable.queryRaw(query)
  }

  executeRaw(query: unknown): Promise<number> {
    return this.#queryable.executeRaw(query)
  }

  async commit(): Promise<void> {
    await this.#finish('commit')
  }

  async rollback(): Promise<void> {
    await this.#finish('rollback')
  }

  // Prisma 7's nested interactive transactions (`tx.$transaction(async (inner) => …)`): savepoints
  // of the scope's transaction.

  async createSavepoint(name: string): Promise<void> {
    await this.executeRaw(savepointQuery('SAVEPOINT', name))
  }

  async rollbackToSavepoint(name: string): Promise<void> {
    await this.executeRaw(savepointQuery('ROLLBACK TO SAVEPOINT', name))
  }

  async releaseSavepoint(name: string): Promise<void> {
    await this.executeRaw(savepointQuery('RELEASE SAVEPOINT', name))
  }

  async #finish(how: 'commit' | 'rollback'): Promise<void> {
    if (this.#finished) return
    this.#finished = true
    this.#end(how)
    await this.#done().catch((error: unknown) => {
      if (error !== ROLLBACK) throw error
    })
  }
}

function savepointQuery(command: string, name: string): { sql: string; args: []; argTypes: [] } {
  if (!SAVEPOINT.test(name)) throw new TenantError('UNSUPPORTED_OPERATION', `Not a savepoint name pg-tenants sends: ${JSON.stringify(name)}.`)
  return { sql: `${command} ${name}`, args: [], argTypes: [] }
}
