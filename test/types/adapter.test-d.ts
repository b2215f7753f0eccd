/**
 * Type tests of `pg-tenants/adapter`: the driver contract (`Driver`, `Connection`), the bundled
 * drivers and the client shapes they accept (a `pg.Pool`, a PGlite instance), the engine and its
 * requests, and the helpers an adapter builds on. Checked by vitest's typecheck mode
 * (`npm test`) and by `npm run typecheck`; nothing here runs.
 */
import type { PGlite, Transaction as PgliteTransaction } from '@electric-sql/pglite'
import type pg from 'pg'
import { describe, expectTypeOf, it } from 'vitest'
import {
  attachEngine,
  canonicalTenantId,
  driverFor,
  EngineSession,
  engineOf,
  isPgPool,
  isPglite,
  nodePostgresDriver,
  pgliteDriver,
  refuseNested,
  resolveOptions,
  RESTORED_SETTINGS,
  scopeEndedError,
  sessionBefore,
  sessionResetTo,
  tenantIdText,
  TenantEngine,
  transactionModes,
  type Connection,
  type Driver,
  type EngineSettings,
  type IsolationLevel,
  type PgliteLike,
  type PgliteTransactionLike,
  type PgPoolClientLike,
  type PgPoolLike,
  type ScopeRequest,
  type SessionBefore,
  type StatementResult,
  type TenantColumnInfo,
  type TenantScopeOptions,
  type TransactionOptions,
} from '../../src/adapter.js'
import type { AnyPostgresManager } from '../../src/drizzle/index.js'
import type { ResolvedOptions, TenantError, TenantOptions } from '../../src/index.js'

declare const pool: pg.Pool
declare const poolClient: pg.PoolClient
declare const client: pg.Client
declare const pglite: PGlite
declare const pgliteTx: PgliteTransaction
declare const manager: AnyPostgresManager
declare const driver: Driver
declare const conn: Connection
declare const engine: TenantEngine
declare const something: unknown

describe('the bundled drivers and the clients they accept', () => {
  it('nodePostgresDriver takes a pg.Pool', () => {
    expectTypeOf(nodePostgresDriver(pool)).toEqualTypeOf<Driver>()
    expectTypeOf(pool).toExtend<PgPoolLike>()
    expectTypeOf(poolClient).toExtend<PgPoolClientLike>()
    // @ts-expect-error a single pg.Client cannot be pinned per unit of work
    nodePostgresDriver(client)
    // @ts-expect-error nor is PGlite a pool
    nodePostgresDriver(pglite)
  })

  it('pgliteDriver takes a PGlite instance', () => {
    expectTypeOf(pgliteDriver(pglite)).toEqualTypeOf<Driver>()
    expectTypeOf(pglite).toExtend<PgliteLike>()
    expectTypeOf(pgliteTx).toExtend<PgliteTransactionLike>()
    // @ts-expect-error a pg.Pool is no PGlite
    pgliteDriver(pool)
  })

  it('driverFor takes any client; isPgPool and isPglite narrow', () => {
    expectTypeOf(driverFor).toEqualTypeOf<(client: unknown) => Driver>()
    if (isPgPool(something)) expectTypeOf(something).toEqualTypeOf<PgPoolLike>()
    if (isPglite(something)) expectTypeOf(something).toEqualTypeOf<PgliteLike>()
  })
})

describe('Driver and Connection', () => {
  it('Driver is a name, exclusive and connect()', () => {
    expectTypeOf(driver.name).toEqualTypeOf<string>()
    expectTypeOf(driver.exclusive).toEqualTypeOf<boolean>()
    expectTypeOf(driver).toHaveProperty('connect').toEqualTypeOf<() => Promise<Connection>>()
    const inner = nodePostgresDriver(pool)
    const counting: Driver = { name: 'counting', exclusive: inner.exclusive, connect: () => inner.connect() }
    expectTypeOf(counting).toEqualTypeOf<Driver>()
    // @ts-expect-error exclusive is required
    const missing: Driver = { name: 'x', connect: () => inner.connect() }
    // @ts-expect-error connnect is misspelt
    const misspelt: Driver = { name: 'x', exclusive: false, connnect: () => inner.connect() }
    // @ts-expect-error name is readonly
    driver.name = 'y'
    expectTypeOf([missing, misspelt]).items.toEqualTypeOf<Driver>()
  })

  it("Connection's operations", () => {
    expectTypeOf(conn.native).toBeUnknown()
    expectTypeOf(conn).toHaveProperty('assertUsable').toEqualTypeOf<() => void>()
    expectTypeOf(conn).toHaveProperty('begin').toEqualTypeOf<(prelude: string, modes: string) => Promise<StatementResult[]>>()
    expectTypeOf(conn).toHaveProperty('commit').toEqualTypeOf<() => Promise<boolean>>()
    expectTypeOf(conn).toHaveProperty('rollback').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(conn).toHaveProperty('restart').toEqualTypeOf<(end: 'commit' | 'rollback', prelude: string, modes: string) => Promise<boolean>>()
    expectTypeOf(conn).toHaveProperty('exec').toEqualTypeOf<(sql: string) => Promise<StatementResult[]>>()
    expectTypeOf(conn).toHaveProperty('query').toEqualTypeOf<(sql: string, params: readonly unknown[]) => Promise<StatementResult>>()
    expectTypeOf(conn.abandoned).toEqualTypeOf<TenantError | undefined>()
    expectTypeOf(conn).toHaveProperty('abandon').toEqualTypeOf<(reason: TenantError) => void>()
    expectTypeOf(conn).toHaveProperty('taint').toEqualTypeOf<() => void>()
    expectTypeOf(conn).toHaveProperty('keep').toEqualTypeOf<() => void>()
    expectTypeOf(conn).toHaveProperty('seal').toEqualTypeOf<() => void>()
    expectTypeOf(conn).toHaveProperty('release').toEqualTypeOf<(destroy: boolean) => Promise<void>>()
    expectTypeOf<StatementResult>().toEqualTypeOf<{ readonly command: string; readonly rows: readonly Record<string, unknown>[] }>()
  })

  it('refuses a wrong call', async () => {
    // @ts-expect-error a restart ends with 'commit' or 'rollback'
    await conn.restart('abort', '', '')
    // @ts-expect-error query takes its parameters as a list
    await conn.query('SELECT $1', 1)
    // @ts-expect-error query needs its parameters, even none
    await conn.query('SELECT 1')
    // @ts-expect-error release says whether to destroy
    await conn.release()
  })
})

describe('TenantEngine', () => {
  it('is built over a driver with the options and tenant columns', () => {
    const columns: TenantColumnInfo[] = [{ type: 'text' }, { type: 'varchar', length: 36 }]
    expectTypeOf(new TenantEngine(nodePostgresDriver(pool), { strategy: 'role' }, columns, { knownTenantTtlMs: 0 })).toEqualTypeOf<TenantEngine>()
    expectTypeOf(TenantEngine).constructorParameters.toEqualTypeOf<
      [driver: Driver, options: TenantOptions | undefined, columns: readonly TenantColumnInfo[], settings?: EngineSettings]
    >()
    expectTypeOf(engine.options).toEqualTypeOf<ResolvedOptions>()
    expectTypeOf(engine.driver).toEqualTypeOf<Driver>()
    // @ts-expect-error 'int' is no tenant column type
    new TenantEngine(driver, {}, [{ type: 'int' }])
    // @ts-expect-error knownTenantTtl is misspelt
    new TenantEngine(driver, {}, [], { knownTenantTtl: 0 })
    // @ts-expect-error tenantRol is misspelt
    new TenantEngine(driver, { tenantRol: 'x' }, [])
  })

  it('run returns what fn returns; open gives a session', async () => {
    const n = await engine.run({ kind: 'tenant', id: 'acme', createIfMissing: true }, async (c) => {
      expectTypeOf(c).toEqualTypeOf<Connection>()
      return (await c.query('SELECT 1 AS n', [])).rows.length
    })
    expectTypeOf(n).toEqualTypeOf<number>()
    const session = await engine.open({ kind: 'admin', transaction: { accessMode: 'read only' } })
    expectTypeOf(session).toEqualTypeOf<EngineSession>()
    expectTypeOf(session.connection).toEqualTypeOf<Connection>()
    expectTypeOf(session.closed).toEqualTypeOf<boolean>()
    expectTypeOf(session).toHaveProperty('commit').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(session).toHaveProperty('rollback').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(session).toHaveProperty('close').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(engine.createTenant('acme')).toEqualTypeOf<Promise<void>>()
    expectTypeOf(engine.deleteTenant(7)).toEqualTypeOf<Promise<void>>()
    expectTypeOf(engine.listTenants()).toEqualTypeOf<Promise<Set<string>>>()
    expectTypeOf(engine.scopeRole({ kind: 'admin' })).toEqualTypeOf<string>()
    expectTypeOf(engine.tenantText(42)).toEqualTypeOf<string>()
  })

  it('ScopeRequest is a tenant or an admin request', async () => {
    const tenant: ScopeRequest = { kind: 'tenant', id: 42n, createIfMissing: false, transaction: { isolationLevel: 'serializable' } }
    const admin: ScopeRequest = { kind: 'admin' }
    expectTypeOf([tenant, admin]).items.toEqualTypeOf<ScopeRequest>()
    // @ts-expect-error a tenant request says whether to create the tenant
    await engine.run({ kind: 'tenant', id: 'acme' }, async () => 1)
    // @ts-expect-error an admin request has no tenant
    await engine.run({ kind: 'admin', id: 'acme' }, async () => 1)
    // @ts-expect-error the kinds are 'tenant' and 'admin'
    await engine.run({ kind: 'guest' }, async () => 1)
    // @ts-expect-error a boolean is no tenant id
    await engine.open({ kind: 'tenant', id: true, createIfMissing: true })
    // @ts-expect-error 'serial' is no isolation level
    await engine.open({ kind: 'admin', transaction: { isolationLevel: 'serial' } })
  })

  it('attachEngine and engineOf', () => {
    expectTypeOf(engineOf(manager)).toEqualTypeOf<TenantEngine>()
    expectTypeOf(engineOf).parameter(0).toBeUnknown()
    class MyManager {
      constructor(e: TenantEngine) {
        attachEngine(this, e)
      }
    }
    expectTypeOf(engineOf(new MyManager(engine))).toEqualTypeOf<TenantEngine>()
    // @ts-expect-error an engine is attached to an object
    attachEngine('manager', engine)
  })
})

describe('helpers', () => {
  it('transaction modes', () => {
    expectTypeOf<IsolationLevel>().toEqualTypeOf<'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'>()
    expectTypeOf<TransactionOptions>().toEqualTypeOf<{ isolationLevel?: IsolationLevel; accessMode?: 'read only' | 'read write'; deferrable?: boolean }>()
    expectTypeOf<TenantScopeOptions>().toExtend<TransactionOptions>()
    expectTypeOf<TenantScopeOptions['createIfMissing']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf(transactionModes({ isolationLevel: 'serializable', accessMode: 'read only', deferrable: true })).toEqualTypeOf<string>()
    transactionModes()
    // @ts-expect-error 'serial' is no isolation level
    transactionModes({ isolationLevel: 'serial' })
    // @ts-expect-error createIfMissing is no transaction mode
    transactionModes({ createIfMissing: true })
  })

  it('tenant ids, options and session state', () => {
    expectTypeOf(canonicalTenantId(42n, [{ type: 'bigint' }])).toEqualTypeOf<string>()
    expectTypeOf(canonicalTenantId('acme', [{ type: 'varchar', length: 3 }], 63)).toEqualTypeOf<string>()
    expectTypeOf(tenantIdText('acme', resolveOptions({ strategy: 'role' }), [{ type: 'text' }])).toEqualTypeOf<string>()
    expectTypeOf(resolveOptions()).toEqualTypeOf<ResolvedOptions>()
    // @ts-expect-error strategy: 'roles' is misspelt
    resolveOptions({ strategy: 'roles' })
    expectTypeOf(scopeEndedError(true)).toEqualTypeOf<TenantError>()
    expectTypeOf(refuseNested).toEqualTypeOf<(operation: string) => void>()
    expectTypeOf(RESTORED_SETTINGS).toEqualTypeOf<readonly ['pg_tenants.tenant', 'search_path', 'TimeZone', 'statement_timeout']>()
    expectTypeOf(sessionBefore({ pg_tenants_before: 'x' })).toEqualTypeOf<SessionBefore | undefined>()
    expectTypeOf(sessionResetTo).toEqualTypeOf<(before: SessionBefore, inTransaction: boolean) => string>()
    expectTypeOf<SessionBefore>().toEqualTypeOf<{ readonly role: string; readonly login: string; readonly settings: readonly string[] }>()
  })
})
