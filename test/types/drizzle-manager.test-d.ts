/**
 * Type tests of `pg-tenants/drizzle`'s manager: what `withTenant`, `withAdmin`, the sessions and
 * tenant management hand back, against a Drizzle database with and without a relational schema,
 * on node-postgres and on PGlite. Checked by vitest's typecheck mode (`npm test`) and by
 * `npm run typecheck`; nothing here runs.
 */
import type { PGlite } from '@electric-sql/pglite'
import { count, eq, relations, sql, type ExtractTablesWithRelations } from 'drizzle-orm'
import { drizzle as drizzleNodePg, type NodePgDatabase, type NodePgQueryResultHKT } from 'drizzle-orm/node-postgres'
import type { PgTransaction } from 'drizzle-orm/pg-core'
import { bigint, integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import type pg from 'pg'
import { describe, expectTypeOf, it } from 'vitest'
import {
  PostgresManager,
  withRls,
  type AdminSession,
  type AnyPgDatabase,
  type AnyPostgresManager,
  type DrizzleQueries,
  type DrizzleTransaction,
  type ManagerOptions,
  type SessionControl,
  type TenantSession,
  type TenantTransaction,
} from '../../src/drizzle/index.js'
import type { CheckReport, ResolvedOptions, TenantId } from '../../src/index.js'

const todos = withRls(
  pgTable('todos', {
    id: serial('id').primaryKey(),
    title: text('title').notNull(),
    done: text('done'),
    tenant: text('tenant').notNull(),
    projectId: integer('project_id'),
  }),
)
const projects = withRls(pgTable('projects', { id: serial('id').primaryKey(), name: text('name').notNull(), tenant: text('tenant').notNull() }))
const projectRelations = relations(projects, ({ many }) => ({ todos: many(todos) }))
const todoRelations = relations(todos, ({ one }) => ({ project: one(projects, { fields: [todos.projectId], references: [projects.id] }) }))
/** A table whose tenant column is an integer: its ids are numbers. */
const accounts = withRls(pgTable('accounts', { id: serial('id').primaryKey(), org: integer('org').notNull() }), { column: 'org' })
/** A bigint tenant column in bigint mode: its ids are bigints. */
const ledgers = withRls(pgTable('ledgers', { id: serial('id').primaryKey(), org: bigint('org', { mode: 'bigint' }).notNull() }), { column: 'org' })

type Todo = typeof todos.$inferSelect
type Project = typeof projects.$inferSelect

declare const pool: pg.Pool
declare const pglite: PGlite

const schema = { todos, projects, projectRelations, todoRelations }
/** node-postgres, with a relational schema: `tx.query.<table>` is typed. */
const db = drizzleNodePg(pool, { schema })
const manager = PostgresManager.fromDrizzle(db, { schema: 'public' })
/** node-postgres without a schema: no relational query API. */
const plainManager = PostgresManager.fromDrizzle(drizzleNodePg(pool))
/** PGlite, with the same schema. */
const pgliteManager = PostgresManager.fromDrizzle(drizzlePglite(pglite, { schema }), { knownTenantTtlMs: 0 })

describe('PostgresManager.fromDrizzle', () => {
  it('keeps the database type', () => {
    expectTypeOf(manager).toEqualTypeOf<PostgresManager<typeof db>>()
    expectTypeOf(manager.db).toEqualTypeOf<typeof db>()
    expectTypeOf(manager.options).toEqualTypeOf<ResolvedOptions>()
    expectTypeOf(plainManager.db).toExtend<NodePgDatabase>()
    // Every manager is an AnyPostgresManager, whatever its database.
    expectTypeOf(manager).toExtend<AnyPostgresManager>()
    expectTypeOf(plainManager).toExtend<AnyPostgresManager>()
    expectTypeOf(pgliteManager).toExtend<AnyPostgresManager>()
  })

  it('takes a Drizzle pg database only', () => {
    // @ts-expect-error a pg.Pool is not a Drizzle database
    PostgresManager.fromDrizzle(pool)
    // @ts-expect-error nor is a PGlite instance
    PostgresManager.fromDrizzle(pglite)
    // @ts-expect-error the constructor is private: fromDrizzle is the way in
    new PostgresManager(db)
  })
})

describe('withTenant', () => {
  it('types tx.tenant as the literal tenant id', async () => {
    await manager.withTenant('acme', async (tx) => {
      expectTypeOf(tx.tenant).toEqualTypeOf<'acme'>()
      expectTypeOf(tx).toEqualTypeOf<TenantTransaction<typeof db, 'acme'>>()
    })
    // Integer and bigint tenant columns: the id keeps its number or bigint literal.
    await manager.withTenant(42, async (tx) => expectTypeOf(tx.tenant).toEqualTypeOf<42>())
    await manager.withTenant(42n, async (tx) => expectTypeOf(tx.tenant).toEqualTypeOf<42n>())
    // A widened id stays as wide as it was given.
    const tenant: string = 'globex'
    await manager.withTenant(tenant, async (tx) => expectTypeOf(tx.tenant).toEqualTypeOf<string>())
    const anyId = 7 as TenantId
    await manager.withTenant(anyId, async (tx) => expectTypeOf(tx.tenant).toEqualTypeOf<TenantId>())
    // tx.tenant is readonly.
    await manager.withTenant('acme', async (tx) => {
      // @ts-expect-error tx.tenant cannot be reassigned
      tx.tenant = 'acme'
    })
  })

  it('accepts string, number and bigint ids only', async () => {
    // @ts-expect-error a boolean is no tenant id
    await manager.withTenant(true, async () => 1)
    // @ts-expect-error nor is undefined
    await manager.withTenant(undefined, async () => 1)
    // @ts-expect-error nor null
    await manager.withTenant(null, async () => 1)
    // @ts-expect-error nor an object
    await manager.withTenant({ id: 'acme' }, async () => 1)
  })

  it('returns what the callback returns', async () => {
    const rows = await manager.withTenant('acme', (tx) => tx.select().from(todos))
    expectTypeOf(rows).toEqualTypeOf<Todo[]>()
    const picked = await manager.withTenant('acme', (tx) => tx.select({ id: todos.id, title: todos.title }).from(todos))
    expectTypeOf(picked).toEqualTypeOf<{ id: number; title: string }[]>()
    const inserted = await manager.withTenant('acme', (tx) => tx.insert(todos).values({ title: 'x', tenant: tx.tenant }).returning({ id: todos.id }))
    expectTypeOf(inserted).toEqualTypeOf<{ id: number }[]>()
    const nothing = await manager.withTenant('acme', async () => undefined)
    expectTypeOf(nothing).toEqualTypeOf<undefined>()
    const mixed = await manager.withTenant('acme', async (tx) => ({ tenant: tx.tenant, n: 1 as const }))
    expectTypeOf(mixed).toEqualTypeOf<{ tenant: 'acme'; n: 1 }>()
    expectTypeOf(manager.withTenant('acme', async () => 'x')).toEqualTypeOf<Promise<string>>()
  })

  it('needs an async callback', async () => {
    // @ts-expect-error a callback that returns a plain value (not a promise) is refused
    await manager.withTenant('acme', () => 1)
  })

  it("hands over Drizzle's query builder", async () => {
    await manager.withTenant('acme', async (tx) => {
      expectTypeOf(tx).toHaveProperty('select').toBeFunction()
      expectTypeOf(tx).toHaveProperty('insert').toBeFunction()
      expectTypeOf(tx).toHaveProperty('update').toBeFunction()
      expectTypeOf(tx).toHaveProperty('delete').toBeFunction()
      expectTypeOf(tx).toHaveProperty('execute').toBeFunction()
      expectTypeOf(tx).toHaveProperty('transaction').toBeFunction()
      expectTypeOf(tx).toExtend<PgTransaction<NodePgQueryResultHKT, typeof schema, ExtractTablesWithRelations<typeof schema>>>()
      await tx.insert(todos).values({ title: 'x', tenant: tx.tenant })
      await tx.update(todos).set({ done: 'yes' }).where(eq(todos.title, 'x'))
      await tx.delete(todos).where(eq(todos.title, 'x'))
      const result = await tx.execute<{ n: number }>(sql`select 1 as n`)
      expectTypeOf(result.rows).toEqualTypeOf<{ n: number }[]>()
      // A nested transaction (a savepoint) is typed like the outer one; like the object it is at
      // run time, it carries no tenant of its own.
      const inner = await tx.transaction(async (sp) => {
        expectTypeOf(sp).not.toHaveProperty('tenant')
        return sp.select().from(projects)
      })
      expectTypeOf(inner).toEqualTypeOf<Project[]>()
      // @ts-expect-error a column the table does not have
      await tx.insert(todos).values({ title: 'x', tenant: tx.tenant, colour: 'red' })
      // @ts-expect-error a value of the wrong type
      await tx.insert(todos).values({ title: 1, tenant: tx.tenant })
    })
  })

  it('has the relational query API when the database has a schema', async () => {
    const found = await manager.withTenant('acme', (tx) => tx.query.todos.findMany())
    expectTypeOf(found).toEqualTypeOf<Todo[]>()
    const one = await manager.withTenant('acme', (tx) => tx.query.projects.findFirst({ where: eq(projects.name, 'x') }))
    expectTypeOf(one).toEqualTypeOf<Project | undefined>()
    const nested = await manager.withTenant('acme', (tx) => tx.query.projects.findMany({ with: { todos: true } }))
    expectTypeOf(nested).toEqualTypeOf<{ id: number; name: string; tenant: string; todos: Todo[] }[]>()
    await manager.withTenant('acme', async (tx) => {
      expectTypeOf(tx.query).toHaveProperty('todos')
      expectTypeOf(tx.query).not.toHaveProperty('tags')
    })
    // The same on PGlite.
    const onPglite = await pgliteManager.withTenant('acme', (tx) => tx.query.todos.findMany({ columns: { id: true } }))
    expectTypeOf(onPglite).toEqualTypeOf<{ id: number }[]>()
    await using session = await pgliteManager.newTenantSession('globex')
    expectTypeOf(session.tenant).toEqualTypeOf<'globex'>()
    expectTypeOf(await session.query.projects.findMany()).toEqualTypeOf<Project[]>()
  })

  it('has no relational tables without a schema', async () => {
    await plainManager.withTenant('acme', async (tx) => {
      // A database built without a schema has no tx.query.todos.
      expectTypeOf(tx.query).not.toHaveProperty('todos')
    })
  })

  it('types rows of integer and bigint tenant tables', async () => {
    const rows = await manager.withTenant(7, (tx) => tx.select().from(accounts))
    expectTypeOf(rows).toEqualTypeOf<{ id: number; org: number }[]>()
    await manager.withTenant(7, (tx) => tx.insert(accounts).values({ org: tx.tenant }))
    await manager.withTenant(7n, (tx) => tx.insert(ledgers).values({ org: tx.tenant }))
    // @ts-expect-error a string tenant cannot fill an integer tenant column
    await manager.withTenant('7', (tx) => tx.insert(accounts).values({ org: tx.tenant }))
  })

  it('takes the tenant scope options', async () => {
    await manager.withTenant('acme', async () => 1, {})
    await manager.withTenant('acme', async () => 1, {
      createIfMissing: false,
      isolationLevel: 'serializable',
      accessMode: 'read only',
      deferrable: true,
    })
    await manager.withTenant('acme', async () => 1, { isolationLevel: 'read uncommitted' })
    await manager.withTenant('acme', async () => 1, { isolationLevel: 'read committed' })
    await manager.withTenant('acme', async () => 1, { isolationLevel: 'repeatable read', accessMode: 'read write' })
  })

  it('refuses a misspelt option or a value of the wrong type', async () => {
    // @ts-expect-error createIfMising is misspelt
    await manager.withTenant('acme', async () => 1, { createIfMising: false })
    // @ts-expect-error isolation is not an option (isolationLevel is)
    await manager.withTenant('acme', async () => 1, { isolation: 'serializable' })
    // @ts-expect-error 'serial' is no isolation level
    await manager.withTenant('acme', async () => 1, { isolationLevel: 'serial' })
    // @ts-expect-error Drizzle's spelling of the access mode is 'read only'
    await manager.withTenant('acme', async () => 1, { accessMode: 'readonly' })
    // @ts-expect-error createIfMissing is a boolean
    await manager.withTenant('acme', async () => 1, { createIfMissing: 'no' })
    // @ts-expect-error deferrable is a boolean
    await manager.withTenant('acme', async () => 1, { deferrable: 1 })
  })
})

describe('newTenantSession', () => {
  it('types session.tenant as the literal tenant id', async () => {
    const session = await manager.newTenantSession('globex')
    expectTypeOf(session.tenant).toEqualTypeOf<'globex'>()
    expectTypeOf(session).toEqualTypeOf<TenantSession<typeof db, 'globex'>>()
    const byNumber = await manager.newTenantSession(7)
    expectTypeOf(byNumber.tenant).toEqualTypeOf<7>()
    const byBigint = await manager.newTenantSession(7n)
    expectTypeOf(byBigint.tenant).toEqualTypeOf<7n>()
    // @ts-expect-error session.tenant is readonly
    session.tenant = 'globex'
    // @ts-expect-error a boolean is no tenant id
    await manager.newTenantSession(false)
  })

  it('exposes the Drizzle query API and the relational queries', async () => {
    const session = await manager.newTenantSession('globex')
    expectTypeOf(await session.select().from(todos)).toEqualTypeOf<Todo[]>()
    expectTypeOf(await session.insert(todos).values({ title: 'y', tenant: session.tenant }).returning()).toEqualTypeOf<Todo[]>()
    expectTypeOf(await session.update(todos).set({ title: 'z' }).returning({ id: todos.id })).toEqualTypeOf<{ id: number }[]>()
    expectTypeOf(session).toHaveProperty('delete').toBeFunction()
    expectTypeOf((await session.execute<{ one: 1 }>(sql`select 1 as one`)).rows).toEqualTypeOf<{ one: 1 }[]>()
    expectTypeOf(await session.query.todos.findMany()).toEqualTypeOf<Todo[]>()
    expectTypeOf(await session.transaction(async (sp) => sp.select().from(projects))).toEqualTypeOf<Project[]>()
  })

  it('has commit, rollback, close and closed', async () => {
    const session = await manager.newTenantSession('globex')
    expectTypeOf(session).toHaveProperty('commit').toEqualTypeOf<() => Promise<void>>()
    // The session's own rollback (it stays open), not Drizzle's tx.rollback(), which throws.
    expectTypeOf(session).toHaveProperty('rollback').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(session).toHaveProperty('close').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(session.closed).toEqualTypeOf<boolean>()
    expectTypeOf(session).toExtend<SessionControl>()
    // @ts-expect-error closed is readonly
    session.closed = true
    // There is no end(): close() it.
    expectTypeOf(session).not.toHaveProperty('end')
  })

  it('is AsyncDisposable: await using closes it', async () => {
    await using session = await manager.newTenantSession('globex')
    expectTypeOf(session).toExtend<AsyncDisposable>()
    expectTypeOf(session[Symbol.asyncDispose]).toBeCallableWith()
    expectTypeOf(session[Symbol.asyncDispose]).returns.toExtend<PromiseLike<void>>()
    expectTypeOf(session.tenant).toEqualTypeOf<'globex'>()
  })

  it('takes the tenant scope options', async () => {
    await manager.newTenantSession('globex', { createIfMissing: false, isolationLevel: 'repeatable read' })
    // @ts-expect-error createIfMising is misspelt
    await manager.newTenantSession('globex', { createIfMising: false })
    // @ts-expect-error 'serial' is no isolation level
    await manager.newTenantSession('globex', { isolationLevel: 'serial' })
  })
})

describe('withAdmin and newSession', () => {
  it('withAdmin returns what the callback returns, with no tenant', async () => {
    const perTenant = await manager.withAdmin((tx) => tx.select({ tenant: todos.tenant, n: count() }).from(todos).groupBy(todos.tenant))
    expectTypeOf(perTenant).toEqualTypeOf<{ tenant: string; n: number }[]>()
    const all = await manager.withAdmin((tx) => tx.query.projects.findMany())
    expectTypeOf(all).toEqualTypeOf<Project[]>()
    await manager.withAdmin(async (tx) => {
      expectTypeOf(tx).toEqualTypeOf<DrizzleTransaction<typeof db>>()
      // An admin transaction has no tenant.
      expectTypeOf(tx).not.toHaveProperty('tenant')
    })
    expectTypeOf(manager.withAdmin(async () => 1 as const)).toEqualTypeOf<Promise<1>>()
  })

  it('withAdmin takes the transaction options only', async () => {
    await manager.withAdmin(async () => 1, { isolationLevel: 'serializable', accessMode: 'read only', deferrable: true })
    // @ts-expect-error createIfMissing is a tenant scope option
    await manager.withAdmin(async () => 1, { createIfMissing: false })
    // @ts-expect-error 'serial' is no isolation level
    await manager.withAdmin(async () => 1, { isolationLevel: 'serial' })
    // @ts-expect-error accesMode is misspelt
    await manager.withAdmin(async () => 1, { accesMode: 'read only' })
  })

  it('newSession is an admin session: the query API and SessionControl, no tenant', async () => {
    await using session = await manager.newSession({ accessMode: 'read write' })
    expectTypeOf(session).toEqualTypeOf<AdminSession<typeof db>>()
    expectTypeOf(session).toExtend<SessionControl>()
    expectTypeOf(await session.select().from(projects)).toEqualTypeOf<Project[]>()
    expectTypeOf(await session.query.todos.findFirst()).toEqualTypeOf<Todo | undefined>()
    expectTypeOf(session).toHaveProperty('commit').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(session).toHaveProperty('rollback').toEqualTypeOf<() => Promise<void>>()
    // An admin session has no tenant.
    expectTypeOf(session).not.toHaveProperty('tenant')
    // @ts-expect-error createIfMissing is a tenant scope option
    await manager.newSession({ createIfMissing: true })
    // @ts-expect-error 'serial' is no isolation level
    await manager.newSession({ isolationLevel: 'serial' })
  })

  it('helpers written for a scope', async () => {
    // A helper typed with the exported TenantTransaction takes the tx of any tenant scope.
    const titles = async (tx: TenantTransaction<typeof db>) => tx.select({ title: todos.title }).from(todos)
    expectTypeOf(await manager.withTenant('acme', (tx) => titles(tx))).toEqualTypeOf<{ title: string }[]>()
    expectTypeOf(await manager.withTenant(7, titles)).toEqualTypeOf<{ title: string }[]>()
    const audit = async (tx: DrizzleTransaction<typeof db>) => tx.execute(sql`select 1`)
    await manager.withTenant('acme', (tx) => audit(tx))
    await manager.withAdmin(audit)
    // A session has the same query API, and a helper that takes what a session and a tx share
    // takes both.
    await using session = await manager.newTenantSession('acme')
    const shared = async (q: DrizzleQueries<typeof db>) => q.select().from(todos)
    await shared(session)
    await manager.withTenant('acme', (tx) => shared(tx))
    await manager.withAdmin((tx) => shared(tx))
    expectTypeOf(shared).returns.resolves.toEqualTypeOf<(typeof todos)['$inferSelect'][]>()
    // A session is not a DrizzleTransaction: its rollback() resolves (Drizzle's throws), and
    // DrizzleQueries is what the two share.
    expectTypeOf(session).not.toExtend<DrizzleTransaction<typeof db>>()
    expectTypeOf(session).toExtend<DrizzleQueries<typeof db>>()
  })

  it('a tenant session is an admin session with a tenant', () => {
    expectTypeOf<TenantSession<typeof db, 'acme'>>().toExtend<AdminSession<typeof db>>()
    expectTypeOf<TenantSession<typeof db, 'acme'>['tenant']>().toEqualTypeOf<'acme'>()
    expectTypeOf<TenantSession<typeof db>['tenant']>().toEqualTypeOf<TenantId>()
    expectTypeOf<TenantTransaction<typeof db>['tenant']>().toEqualTypeOf<TenantId>()
  })
})

describe('tenant management and check', () => {
  it('createTenant, deleteTenant, listTenants, check', () => {
    expectTypeOf(manager).toHaveProperty('createTenant').toEqualTypeOf<(id: TenantId) => Promise<void>>()
    expectTypeOf(manager).toHaveProperty('deleteTenant').toEqualTypeOf<(id: TenantId) => Promise<void>>()
    expectTypeOf(manager).toHaveProperty('listTenants').toEqualTypeOf<() => Promise<Set<string>>>()
    expectTypeOf(manager).toHaveProperty('check').returns.toEqualTypeOf<Promise<CheckReport>>()
  })

  it('createTenant and deleteTenant take tenant ids only', async () => {
    await manager.createTenant('acme')
    await manager.createTenant(7)
    await manager.deleteTenant(7n)
    // @ts-expect-error a boolean is no tenant id
    await manager.createTenant(true)
    // @ts-expect-error an id is required
    await manager.deleteTenant()
    // @ts-expect-error listTenants takes no argument
    await manager.listTenants('acme')
  })

  it("check takes what to check, not the manager's options", async () => {
    const report = await manager.check({
      ignore: ['TENANT_INDEX_MISSING'],
      column: 'tenant',
      schemas: ['public'],
      onProgress: (done, total, what) => {
        expectTypeOf(done).toEqualTypeOf<number>()
        expectTypeOf(total).toEqualTypeOf<number>()
        expectTypeOf(what).toEqualTypeOf<string>()
      },
    })
    expectTypeOf(report.ok).toEqualTypeOf<boolean>()
    await manager.check()
    // @ts-expect-error ingore is misspelt
    await manager.check({ ingore: ['TENANT_INDEX_MISSING'] })
    // @ts-expect-error the manager's own options are used: strategy is not a check option here
    await manager.check({ strategy: 'role' })
    // @ts-expect-error nor is schema
    await manager.check({ schema: 'public' })
    // @ts-expect-error nor tables: the manager's withRls tables are checked
    await manager.check({ tables: [] })
    // @ts-expect-error schemas is a list
    await manager.check({ schemas: 'public' })
  })
})

describe('manager options', () => {
  it('accepts every documented option', () => {
    PostgresManager.fromDrizzle(db, {
      schema: 'app',
      strategy: 'role',
      rolePrefix: 'crm_t_',
      tenantRole: 'crm_rls',
      adminRole: 'crm_admin',
      registryTable: 'crm_tenants',
      sharedTables: { plans: 'read', 'billing.rates': 'write', legacy: 'none' },
      adoptRoles: false,
      knownTenantTtlMs: 0,
      tables: [todos, accounts],
    })
    PostgresManager.fromDrizzle(db, { sharedTables: [{ schema: 'public', name: 'plans', access: 'read' }] })
    const options: ManagerOptions = { strategy: 'setting' }
    PostgresManager.fromDrizzle(db, options)
  })

  it('refuses a misspelt option name', () => {
    // @ts-expect-error tenantRol is misspelt
    PostgresManager.fromDrizzle(db, { tenantRol: 'x' })
    // @ts-expect-error knownTenantTtl is misspelt
    PostgresManager.fromDrizzle(db, { knownTenantTtl: 0 })
    // @ts-expect-error createIfMissing belongs to a scope, not to the manager
    PostgresManager.fromDrizzle(db, { createIfMissing: false })
    // @ts-expect-error sharedTable is misspelt
    PostgresManager.fromDrizzle(db, { sharedTable: { plans: 'read' } })
  })

  it('refuses a value of the wrong type', () => {
    // @ts-expect-error the strategies are 'setting' and 'role'
    PostgresManager.fromDrizzle(db, { strategy: 'roles' })
    // @ts-expect-error shared access is 'read', 'write' or 'none'
    PostgresManager.fromDrizzle(db, { sharedTables: { plans: 'readwrite' } })
    // @ts-expect-error a list entry needs schema, name and access
    PostgresManager.fromDrizzle(db, { sharedTables: [{ name: 'plans', access: 'read' }] })
    // @ts-expect-error knownTenantTtlMs is a number of milliseconds
    PostgresManager.fromDrizzle(db, { knownTenantTtlMs: '30s' })
    // @ts-expect-error adoptRoles is a boolean
    PostgresManager.fromDrizzle(db, { adoptRoles: 'yes' })
    // @ts-expect-error tables is a list
    PostgresManager.fromDrizzle(db, { tables: todos })
  })
})

describe('managers passed between modules', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- PostgresManager<any> is what this test is about
  async function withAny(m: PostgresManager<any>) {
    return m.withTenant('acme', (tx) => tx.select().from(todos))
  }
  async function withAnyManager(m: AnyPostgresManager) {
    await m.withAdmin((tx) => tx.insert(todos).values({ tenant: 'acme', title: 'x' }))
    return m.withTenant('acme', (tx) => tx.select().from(todos))
  }

  it('PostgresManager<any> and AnyPostgresManager type queries, not never', () => {
    expectTypeOf(withAny).returns.resolves.toEqualTypeOf<Todo[]>()
    expectTypeOf(withAnyManager).returns.resolves.toEqualTypeOf<Todo[]>()
  })

  it('keep the literal tenant and the session control', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- PostgresManager<any> is what this test is about
    const anyManager = manager as PostgresManager<any>
    await anyManager.withTenant('acme', async (tx) => {
      expectTypeOf(tx.tenant).toEqualTypeOf<'acme'>()
      expectTypeOf(tx).not.toBeNever()
      expectTypeOf(tx).toExtend<DrizzleTransaction<AnyPgDatabase>>()
    })
    const m: AnyPostgresManager = manager
    // @ts-expect-error the way back loses the schema: an AnyPostgresManager is not a PostgresManager<typeof db>
    const back: PostgresManager<typeof db> = m
    expectTypeOf(back).not.toBeAny()
    await using session = await m.newTenantSession('acme')
    expectTypeOf(session.tenant).toEqualTypeOf<'acme'>()
    expectTypeOf(session).toHaveProperty('commit').toEqualTypeOf<() => Promise<void>>()
    expectTypeOf(await session.select().from(todos)).toEqualTypeOf<Todo[]>()
  })
})
