/**
 * pg-tenants for Prisma 7 on `@prisma/adapter-pg`: build the `PrismaClient` with
 * {@link tenantAdapter}, then `fromPrisma(prisma, adapter)`. Each scope is ONE Prisma interactive
 * transaction whose BEGIN carries the scoping; its callback gets Prisma's transaction client,
 * restricted by row-level security, with nested `tx.$transaction(fn)` kept on the scope's
 * connection (a savepoint); a batch `tx.$transaction([...])`, which Prisma would run outside the
 * scope, is refused.
 *
 * @module pg-tenants/prisma
 */
import { runInside } from '../core/context.js'
import { TenantEngine, type ScopeRequest, type TenantScopeOptions } from '../core/engine.js'
import { TenantError } from '../core/errors.js'
import {
  TenantManager,
  columnsOf,
  tableSpecs,
  tenantRequest,
  transactionOf,
  withTenantProperty,
  type SessionControl,
  type SqlManagerOptions,
  type TenantScoped,
} from '../core/manager.js'
import { resolveOptions } from '../core/options.js'
import type { TenantId } from '../core/tenant-id.js'
import type { TransactionOptions } from '../core/transaction.js'
import { scopes, stackOf, type PrismaScope, type TenantPrismaAdapter } from './adapter.js'
import { scopedPrisma } from './scoped.js'

export { tenantAdapter, type PrismaPgOptions, type TenantPrismaAdapter } from './adapter.js'
export { prismaMigration, type PrismaMigration, type PrismaMigrationOptions } from './migration.js'
export type { SessionControl, SqlManagerOptions, TenantTable, TenantScoped } from '../core/manager.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { TransactionOptions } from '../core/transaction.js'

/**
 * What pg-tenants needs of a `PrismaClient` (any generated or extended client has it).
 *
 * @example
 * ```ts
 * import type { PrismaLike } from 'pg-tenants/prisma'
 *
 * export const hasTransactions = (prisma: PrismaLike): boolean => typeof prisma.$transaction === 'function'
 * ```
 */
export interface PrismaLike {
  /** Prisma's `$transaction` (pg-tenants calls its interactive form). */
  $transaction(...args: never[]): PromiseLike<unknown>
}

/** How pg-tenants calls `$transaction`: the interactive form. */
interface Interactive {
  $transaction<R>(fn: (tx: object) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>
}

/**
 * The transaction client Prisma hands an interactive transaction of `C` (the client without
 * `$connect`, `$disconnect`, `$on`, `$use`, `$extends`): what a scope's callback gets.
 *
 * @example
 * ```ts
 * import type { PrismaTx } from 'pg-tenants/prisma'
 * import type { PrismaClient } from './generated/prisma/client.js'
 *
 * export const titles = async (tx: PrismaTx<PrismaClient>) => (await tx.item.findMany()).map((i) => i.title)
 * ```
 */
export type PrismaTx<C> = C extends {
  /** The interactive form of Prisma's `$transaction`, whose callback gets the transaction client. */
  $transaction<R>(fn: (tx: infer T) => Promise<R>, options?: infer _O): Promise<R>
}
  ? T & object
  : never

/**
 * The options of a Prisma scope: pg-tenants' ({@link TenantScopeOptions}: `createIfMissing`,
 * `isolationLevel`, `accessMode`, `deferrable`, all sent with the BEGIN) and Prisma's own
 * `timeout` (how long the callback may run, default 5000 ms) and `maxWait` (how long to wait
 * for the scope to open, default 2000 ms).
 *
 * @example
 * ```ts
 * import type { PrismaScopeOptions } from 'pg-tenants/prisma'
 *
 * export const report: PrismaScopeOptions = { isolationLevel: 'repeatable read', accessMode: 'read only', timeout: 30_000 }
 * ```
 */
export interface PrismaScopeOptions extends TenantScopeOptions {
  /** Prisma's interactive transaction `timeout`, in ms. */
  readonly timeout?: number
  /** Prisma's interactive transaction `maxWait`, in ms. */
  readonly maxWait?: number
}

/**
 * What `manager.scoped()` returns on Prisma: the client's model API and raw queries
 * (`$queryRaw`, `$executeRaw`, …), each call one short interactive transaction scoped to the
 * ambient tenant (`runWithTenant`), and `$transaction(fn)` (or `transaction(fn)`) for one scoped
 * transaction. No connection is held between calls; with no tenant in context a call throws
 * `NO_TENANT_CONTEXT` before anything is sent.
 *
 * @example
 * ```ts
 * import { runWithTenant } from 'pg-tenants'
 * import type { PrismaManager } from 'pg-tenants/prisma'
 * import type { PrismaClient } from './generated/prisma/client.js'
 *
 * declare const manager: PrismaManager<PrismaClient>
 * const db = manager.scoped()
 *
 * await runWithTenant('acme', async () => {
 *   await db.item.create({ data: { tenant: 'acme', title: 'ship' } }) // one short scoped transaction
 *   return db.item.findMany() // another: acme's rows only
 * })
 * ```
 */
export type PrismaScoped<C> = Omit<PrismaTx<C>, '$transaction'> & {
  /** One scoped transaction for the ambient tenant, `fn` given Prisma's transaction client. */
  $transaction<R>(fn: (tx: PrismaTx<C> & TenantScoped) => Promise<R>, options?: TransactionOptions): Promise<R>
  /** The same as `$transaction(fn)`, as on every stack's scoped handle. */
  transaction<R>(fn: (tx: PrismaTx<C> & TenantScoped) => Promise<R>, options?: TransactionOptions): Promise<R>
}

/** The longest `timeout` Prisma's timer takes (a session waits for its commit that long). */
const SESSION_TIMEOUT_MS = 2_147_483_647

/**
 * The manager of a Prisma client: {@link fromPrisma} returns it. `withTenant`, `withAdmin` and
 * the sessions hand out Prisma's transaction client; the rest (tenants, `check()`, the test kit)
 * is every adapter's {@link TenantManager}.
 *
 * @example
 * ```ts
 * import type { PrismaManager } from 'pg-tenants/prisma'
 * import type { PrismaClient } from './generated/prisma/client.js'
 *
 * declare const manager: PrismaManager<PrismaClient>
 * export const tenants = () => manager.listTenants()
 * ```
 */
export class PrismaManager<C extends PrismaLike> extends TenantManager<PrismaTx<C>, PrismaTx<C>, PrismaScoped<C>> {
  readonly #prisma: C
  readonly #engine: TenantEngine
  readonly #stack: object

  /** Use {@link fromPrisma}. */
  constructor(prisma: C, engine: TenantEngine, parts: { tables: ReturnType<typeof tableSpecs>; client: unknown; stack: object }) {
    super({
      engine,
      tables: parts.tables,
      client: parts.client,
      bind: () => {
        throw new Error('pg-tenants: Prisma scopes are opened by Prisma')
      },
      scoped: (ambient) => scopedPrisma(prisma, ambient) as PrismaScoped<C>,
    })
    this.#prisma = prisma
    this.#engine = engine
    this.#stack = parts.stack
  }

  /**
   * Runs `fn` in one Prisma interactive transaction scoped to `tenant`: its BEGIN carries the
   * isolation level and the scoping in one message. Commits when `fn` resolves, rolls back when it
   * throws. Inside, query through `tx`: a query of the root client throws `UNSUPPORTED_OPERATION`
   * (it would run on another connection, unscoped), `tx.$transaction(fn)` runs on the scope's
   * connection as a savepoint, and a batch `tx.$transaction([...])` throws `UNSUPPORTED_OPERATION`
   * (Prisma would run it outside the scope).
   *
   * @example
   * ```ts
   * import type { PrismaManager } from 'pg-tenants/prisma'
   * import type { PrismaClient } from './generated/prisma/client.js'
   *
   * declare const manager: PrismaManager<PrismaClient>
   *
   * const mine = await manager.withTenant('acme', async (tx) => {
   *   await tx.item.create({ data: { tenant: tx.tenant, title: 'ship' } })
   *   return tx.item.findMany() // only acme's rows
   * })
   * ```
   */
  override async withTenant<T extends TenantId, R>(
    tenant: T,
    fn: (tx: PrismaTx<C> & TenantScoped<T>) => Promise<R>,
    options: PrismaScopeOptions = {},
  ): Promise<R> {
    const { timeout, maxWait, ...scope } = options
    const request = tenantRequest(tenant, scope)
    return this.#run(request, (tx) => fn(tx as PrismaTx<C> & TenantScoped<T>), prismaOptions(timeout, maxWait), tenant)
  }

  /**
   * Runs `fn` in one unrestricted Prisma interactive transaction, as the admin role.
   *
   * @example
   * ```ts
   * import type { PrismaManager } from 'pg-tenants/prisma'
   * import type { PrismaClient } from './generated/prisma/client.js'
   *
   * declare const manager: PrismaManager<PrismaClient>
   *
   * await manager.withAdmin((tx) => tx.item.deleteMany({ where: { title: 'spam' } })) // every tenant's
   * ```
   */
  override async withAdmin<R>(
    fn: (tx: PrismaTx<C>) => Promise<R>,
    options: TransactionOptions & Pick<PrismaScopeOptions, 'timeout' | 'maxWait'> = {},
  ): Promise<R> {
    const { timeout, maxWait, ...transaction } = options
    return this.#run({ kind: 'admin', transaction: transactionOf(transaction) }, fn, prismaOptions(timeout, maxWait))
  }

  /**
   * A session scoped to `tenant`: Prisma's transaction client plus `commit()`, `rollback()` and
   * `close()`. Prisma has no long-lived transactions, so a commit or rollback ends the session's
   * interactive transaction and opens the next one (another pinned connection, scoped again).
   *
   * @example
   * ```ts
   * import type { PrismaManager } from 'pg-tenants/prisma'
   * import type { PrismaClient } from './generated/prisma/client.js'
   *
   * declare const manager: PrismaManager<PrismaClient>
   *
   * await using session = await manager.newTenantSession('acme')
   * await session.item.create({ data: { tenant: session.tenant, title: 'kept' } })
   * await session.commit()
   * ```
   */
  override async newTenantSession<T extends TenantId>(tenant: T, options: TenantScopeOptions = {}): Promise<PrismaTx<C> & SessionControl & TenantScoped<T>> {
    const request = tenantRequest(tenant, options)
    return withTenantProperty<PrismaTx<C> & SessionControl, T>(await this.#session(request), tenant)
  }

  /**
   * An unrestricted session (the admin role), like {@link newTenantSession} without a tenant.
   *
   * @example
   * ```ts
   * import type { PrismaManager } from 'pg-tenants/prisma'
   * import type { PrismaClient } from './generated/prisma/client.js'
   *
   * declare const manager: PrismaManager<PrismaClient>
   *
   * await using session = await manager.newSession({ accessMode: 'read only' })
   * console.log(await session.item.count()) // every tenant's
   * ```
   */
  override async newSession(options: TransactionOptions = {}): Promise<PrismaTx<C> & SessionControl> {
    return this.#session({ kind: 'admin', transaction: transactionOf(options) })
  }

  /** Runs `fn` in Prisma's `$transaction`, inside a store that the adapter's `startTransaction`
   * claims: the transaction is the scope. */
  async #run<R>(request: ScopeRequest, fn: (tx: PrismaTx<C>) => Promise<R>, options: { timeout?: number; maxWait?: number }, tenant?: TenantId): Promise<R> {
    const engine = this.#engine
    const label = request.kind === 'admin' ? 'withAdmin' : `withTenant(${JSON.stringify(String(request.id))})`
    const scope: PrismaScope = { engine, request, role: engine.scopeRole(request), label, state: 'pending', stack: this.#stack }
    try {
      const prisma = this.#prisma as unknown as Interactive
      return await scopes.run(scope, () =>
        prisma.$transaction(async (tx) => {
          if (scope.state !== 'open' || scope.transaction === undefined) {
            // Prisma started this transaction without our adapter: it is not scoped.
            throw new TenantError(
              'UNSUPPORTED_CLIENT',
              'This PrismaClient was not built with the adapter given to fromPrisma: build it with new PrismaClient({ adapter }), adapter = tenantAdapter(pool).',
            )
          }
          return runInside(label, () => fn(scopeHandle(tx as PrismaTx<C>, scope, tenant)))
        }, options),
      )
    } catch (error) {
      throw ours(error, scope)
    } finally {
      scope.state = 'closed'
    }
  }

  async #session(request: ScopeRequest): Promise<PrismaTx<C> & SessionControl> {
    let current: Opened<PrismaTx<C>> | undefined = await this.#open(request)
    const end = async (how: 'commit' | 'rollback', reopen: boolean): Promise<void> => {
      if (current === undefined) throw new TenantError('SESSION_CLOSED', `This session is closed: open a new one to ${how}.`)
      const ending = current
      current = undefined
      await ending.finish(how)
      if (reopen) current = await this.#open(request)
    }
    const control: SessionControl = {
      commit: () => end('commit', true),
      rollback: () => end('rollback', true),
      close: async () => {
        if (current !== undefined) await end('rollback', false)
      },
      [Symbol.asyncDispose]: () => control.close(),
      get closed() {
        return current === undefined
      },
    }
    return new Proxy(Object.create(null) as PrismaTx<C> & SessionControl, {
      get(_target, property) {
        if (property in control) return (control as unknown as Record<PropertyKey, unknown>)[property]
        if (current === undefined) {
          if (property === 'then') return undefined
          throw new TenantError('SESSION_CLOSED', `This session is closed: open a new one to use ${String(property)}.`)
        }
        return (current.tx as Record<PropertyKey, unknown>)[property]
      },
      has: (_target, property) => property in control || (current !== undefined && property in (current.tx as object)),
      defineProperty: (_target, property, descriptor) => {
        Object.defineProperty(control, property, descriptor)
        return true
      },
    })
  }

  /** Opens an interactive transaction for `request` that stays open until `finish` is called. */
  async #open(request: ScopeRequest): Promise<Opened<PrismaTx<C>>> {
    let give!: (opened: Opened<PrismaTx<C>>) => void
    const given = new Promise<Opened<PrismaTx<C>>>((resolve) => (give = resolve))
    let finish!: (how: 'commit' | 'rollback') => void
    const finished = new Promise<'commit' | 'rollback'>((resolve) => (finish = resolve))
    const done = this.#run(
      request,
      async (tx) => {
        give({
          tx,
          finish: async (how) => {
            finish(how)
            await done.catch((error: unknown) => {
              if (error !== SESSION_ROLLBACK) throw error
            })
          },
        })
        if ((await finished) === 'rollback') throw SESSION_ROLLBACK
      },
      { timeout: SESSION_TIMEOUT_MS },
    )
    return Promise.race([given, done.then(() => Promise.reject(new Error('pg-tenants: the session ended before it opened')))])
  }
}

/** The error `withTenant` rejects with: pg-tenants' own where Prisma wrapped it. */
function ours(error: unknown, scope: PrismaScope): unknown {
  if (scope.error !== undefined) return scope.error
  const { refused } = scope
  const prisma = error as { clientVersion?: unknown; code?: unknown } | null
  if (refused !== undefined && typeof prisma === 'object' && prisma !== null && prisma.clientVersion !== undefined && prisma.code === refused.code)
    return refused
  return error
}

/**
 * Prisma's transaction client as a scope's callback gets it: with its `tenant` (Prisma's client is
 * a Proxy that takes no new properties), refusing with `SESSION_CLOSED` once the scope has ended
 * (Prisma's own refusal, P2028, says less).
 */
function scopeHandle<Tx extends object>(tx: Tx, scope: PrismaScope, tenant?: TenantId): Tx {
  return new Proxy(tx, {
    get(target, property) {
      if (property === 'tenant' && tenant !== undefined) return tenant
      if (property === 'then') return undefined
      if (scope.state === 'closed') {
        throw new TenantError('SESSION_CLOSED', `This transaction client belongs to ${scope.label}, which has ended: use it only inside the callback.`)
      }
      const value: unknown = Reflect.get(target, property)
      if (property !== '$transaction' || typeof value !== 'function') return value
      return (arg: unknown, ...rest: unknown[]) => {
        if (Array.isArray(arg)) {
          // A batch: Prisma would run it as a new transaction on another connection (unscoped,
          // committed apart), or send it through the root client, whichever request of the same
          // tick it is grouped with deciding the context it runs in. Refused before any query of
          // it starts (its queries are lazy).
          return Promise.reject(
            new TenantError(
              'UNSUPPORTED_OPERATION',
              `A batch $transaction([...]) inside ${scope.label} would run outside the scope: await the queries one after another on tx, ` +
                'or run them in tx.$transaction(async (inner) => …), a savepoint of the scope.',
            ),
          )
        }
        return (value as (...a: unknown[]) => unknown).call(target, arg, ...rest)
      }
    },
    has: (target, property) => (property === 'tenant' && tenant !== undefined) || Reflect.has(target, property),
  })
}

const SESSION_ROLLBACK = new Error('pg-tenants: the session rolled back')

interface Opened<Tx> {
  readonly tx: Tx
  finish(how: 'commit' | 'rollback'): Promise<void>
}

function prismaOptions(timeout: number | undefined, maxWait: number | undefined): { timeout?: number; maxWait?: number } {
  for (const [name, value] of [
    ['timeout', timeout],
    ['maxWait', maxWait],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)) {
      throw new TenantError('INVALID_OPTIONS', `${name} must be a positive number of milliseconds, got ${JSON.stringify(value)}.`)
    }
  }
  return { ...(timeout === undefined ? {} : { timeout }), ...(maxWait === undefined ? {} : { maxWait }) }
}

/**
 * Multi-tenancy for a `PrismaClient` built with {@link tenantAdapter}: pass the same adapter.
 * Give the tenant `tables` (the tables' SQL names) so that ids are checked against their column
 * types before any SQL. Throws `UNSUPPORTED_CLIENT` when `adapter` is not from `tenantAdapter`.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { fromPrisma, tenantAdapter } from 'pg-tenants/prisma'
 * import { PrismaClient } from './generated/prisma/client.js' // your generated client
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const adapter = tenantAdapter(pool)
 * const prisma = new PrismaClient({ adapter })
 * export const manager = fromPrisma(prisma, adapter, { tables: [{ name: 'items', type: 'text' }] })
 * ```
 */
export function fromPrisma<C extends PrismaLike>(prisma: C, adapter: TenantPrismaAdapter, options: SqlManagerOptions = {}): PrismaManager<C> {
  const stack = stackOf(adapter)
  if (stack === undefined) {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'fromPrisma needs the adapter the PrismaClient was built with, made by tenantAdapter(pool) from pg-tenants/prisma (a plain PrismaPg or PrismaPGlite cannot carry scopes).',
    )
  }
  if (typeof (prisma as { $transaction?: unknown } | null)?.$transaction !== 'function') {
    throw new TenantError('UNSUPPORTED_CLIENT', 'fromPrisma needs a PrismaClient (new PrismaClient({ adapter })).')
  }
  const { tables = [], knownTenantTtlMs, ...tenantOptions } = options ?? {}
  const specs = tableSpecs(tables, resolveOptions(tenantOptions).schema)
  const engine = new TenantEngine(stack.driver, tenantOptions, columnsOf(specs), knownTenantTtlMs === undefined ? {} : { knownTenantTtlMs })
  return new PrismaManager(prisma, engine, { tables: specs, client: stack.client, stack })
}
