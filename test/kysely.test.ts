/**
 * What is Kysely's own in `fromKysely` (the shared body, test/stacks.test.ts, covers what every
 * stack does): the scope's callback gets a real Kysely `Transaction` of the user's `db`, typed
 * query builders, plugins and `withSchema` included; the caller's COMMIT is refused and a query
 * run after its scope is refused; sessions; `stream()`; a migration from `buildMigration` run by
 * Kysely's `Migrator`; `PGliteDialect`, concurrency on one PGlite instance included; and the round
 * trips of a scope against `db.transaction()`. On every target, in both strategies, as a
 * non-superuser table owner (the tables FORCE row-level security, so that an isolation test can
 * fail).
 */
import { PGlite } from '@electric-sql/pglite'
import {
  AbortedTransactionError,
  CamelCasePlugin,
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  Transaction,
  type Dialect,
  type Generated,
  type Migration,
} from 'kysely'
import { PostgresJSDialect } from 'kysely-postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { TenantError } from '../src/core/errors.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import { resolveOptions, type Strategy, type TenantOptions } from '../src/core/options.js'
import { fromKysely, PGliteDialect, type KyselyClient, type KyselySession, type PostgresManager } from '../src/kysely/index.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { targets, uniqueSuffix, type Login, type Target } from './support/targets.js'
import { codeOf, rejection } from './support/errors.js'

interface Item {
  id: Generated<number>
  tenant: string
  title: string
}
interface Database {
  items_text: Item
}
interface CamelDatabase {
  itemsText: Item
}

type Kind = 'pg' | 'postgres-js' | 'pglite'

/** How a Kysely database reaches a login: its client (what fromKysely is given too) and a dialect
 * over it. A postgres.js sql is made here (and ended by `end`); the login's pool or PGlite
 * instance is the login's, so that these Kysely instances are never destroyed. */
interface Via {
  readonly client: KyselyClient
  dialect(): Dialect
  end(): Promise<void>
}

function via(kind: Kind, login: Login): Via {
  if (kind === 'pglite') {
    const pglite = login.client as PGlite
    return { client: pglite, dialect: () => new PGliteDialect({ pglite }), end: async () => undefined }
  }
  if (kind === 'pg') {
    const pool = login.client as pg.Pool
    return { client: pool, dialect: () => new PostgresDialect({ pool }), end: async () => undefined }
  }
  const url = login.url!
  const bouncer = process.env['PGBOUNCER_URL']
  // PgBouncer in transaction mode keeps no named prepared statement across transactions.
  const prepare = bouncer === undefined || new URL(bouncer).host !== new URL(url).host
  const sql = postgres(url, { max: 5, onnotice: () => undefined, ...(prepare ? {} : { prepare: false }) })
  return { client: sql, dialect: () => new PostgresJSDialect({ postgres: sql }), end: () => sql.end() }
}

for (const factory of targets()) {
  describe(factory.name, () => {
    let target: Target
    beforeAll(async () => {
      target = await factory.create()
    })
    afterAll(async () => {
      await target?.close()
    })
    const kinds: readonly Kind[] = factory.name === 'pglite' ? ['pglite'] : ['pg', 'postgres-js']
    for (const kind of kinds) {
      for (const strategy of ['setting', 'role'] as const) describe(`${kind}, ${strategy} strategy`, () => scopes(() => target, kind, strategy))
      describe(`${kind}, Migrator`, () => migrator(() => target, kind))
    }
    if (factory.name === 'pglite') describe('PGliteDialect', () => pgliteDialect(() => target))
    else describe('round trips', () => roundTrips(() => target))
  })
}

function scopes(target: () => Target, kind: Kind, strategy: Strategy): void {
  let f: Fixture
  let v: Via
  let db: Kysely<Database>
  let manager: PostgresManager<Database>
  const tenantRole = (id: string) => (strategy === 'role' ? `${f.options.rolePrefix}${id}` : resolveOptions(f.options).tenantRole)
  beforeAll(async () => {
    f = await createFixture(target(), strategy, 'owner')
    v = via(kind, f.login)
    db = new Kysely<Database>({ dialect: v.dialect() }).withSchema(f.schema)
    manager = fromKysely(db, v.client, { ...f.options, tables: [{ schema: f.schema, name: 'items_text', type: 'text' }] })
  })
  afterAll(async () => {
    await v?.end()
    await f?.cleanup()
  })
  beforeEach(async () => {
    await f.login.activate()
  })
  const titles = (trx: Transaction<Database>) => trx.selectFrom('items_text').select('title').orderBy('title').execute()

  it("hands a Kysely Transaction whose typed queries see only the scope's tenant; admin sees all", async () => {
    for (const [tenant, title] of [
      ['qb-a', 'a1'],
      ['qb-a', 'a2'],
      ['qb-b', 'b1'],
    ] as const) {
      await manager.withTenant(tenant, (trx) => trx.insertInto('items_text').values({ tenant: trx.tenant, title }).execute())
    }
    const seen = await manager.withTenant('qb-a', async (trx) => {
      expect(trx).toBeInstanceOf(Transaction)
      expect(trx.isTransaction).toBe(true)
      expect(trx.tenant).toBe('qb-a')
      const updated = await trx
        .updateTable('items_text')
        .set({ title: sql<string>`title || '!'` })
        .executeTakeFirstOrThrow()
      expect(updated.numUpdatedRows).toBe(2n)
      const role = await sql<{ r: string }>`select current_user::text as r`.execute(trx)
      expect(role.rows).toEqual([{ r: tenantRole('qb-a') }])
      return titles(trx)
    })
    expect(seen).toEqual([{ title: 'a1!' }, { title: 'a2!' }])
    expect(await manager.withTenant('qb-b', titles)).toEqual([{ title: 'b1' }])
    const all = await manager.withAdmin((trx) =>
      trx.selectFrom('items_text').select('tenant').distinct().where('tenant', 'like', 'qb-%').orderBy('tenant').execute(),
    )
    expect(all).toEqual([{ tenant: 'qb-a' }, { tenant: 'qb-b' }])
    // Outside a scope the owner login sees nothing: the tables FORCE row-level security.
    expect(await db.selectFrom('items_text').selectAll().execute()).toEqual([])
    // A row for another tenant is refused by row-level security.
    const planted = await rejection(manager.withTenant('qb-a', (trx) => trx.insertInto('items_text').values({ tenant: 'qb-b', title: 'planted' }).execute()))
    expect(codeOf(planted)).toBe('42501')
  })

  it("keeps db's plugins (CamelCasePlugin) and withSchema, on db and on the transaction", async () => {
    const camel = new Kysely<CamelDatabase>({ dialect: v.dialect(), plugins: [new CamelCasePlugin()] })
    const camelManager = fromKysely(camel.withSchema(f.schema), v.client, f.options)
    await camelManager.withTenant('plug', (trx) => trx.insertInto('itemsText').values({ tenant: 'plug', title: 'camel' }).execute())
    const rows = await camelManager.withTenant('plug', async (trx) => {
      const mapped = await sql<{ scopeRole: string }>`select current_user::text as scope_role`.execute(trx)
      expect(mapped.rows).toEqual([{ scopeRole: tenantRole('plug') }])
      return trx.selectFrom('itemsText').select(['tenant', 'title']).execute()
    })
    expect(rows).toEqual([{ tenant: 'plug', title: 'camel' }])
    // withSchema on the scope's transaction, over a db without it.
    const bare = fromKysely(new Kysely<Database>({ dialect: v.dialect() }), v.client, f.options)
    expect(await bare.withTenant('plug', (trx) => trx.withSchema(f.schema).selectFrom('items_text').select('title').execute())).toEqual([{ title: 'camel' }])
  })

  it("refuses Kysely's own transactions inside a scope; savepoints by SQL work; modes go to the scope", async () => {
    await manager.withTenant('nest', async (trx) => {
      expect(() => trx.transaction()).toThrow()
      expect(() => trx.connection()).toThrow()
      expect(codeOf(await rejection(trx.startTransaction().execute()))).toBe('UNSUPPORTED_OPERATION')
      await trx.insertInto('items_text').values({ tenant: 'nest', title: 'kept' }).execute()
      await sql`savepoint sp`.execute(trx)
      await trx.insertInto('items_text').values({ tenant: 'nest', title: 'undone' }).execute()
      await sql`rollback to savepoint sp`.execute(trx)
      await sql`release savepoint sp`.execute(trx)
      expect((await sql<{ r: string }>`select current_user::text as r`.execute(trx)).rows).toEqual([{ r: tenantRole('nest') }])
    })
    expect(await manager.withTenant('nest', titles)).toEqual([{ title: 'kept' }])
    const modes = sql<{ iso: string; ro: string }>`select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro`
    expect((await manager.withTenant('nest', (trx) => modes.execute(trx), { isolationLevel: 'serializable', accessMode: 'read only' })).rows).toEqual([
      { iso: 'serializable', ro: 'on' },
    ])
  })

  // PostgreSQL refuses SET TRANSACTION (25001) once the transaction has taken a snapshot. The
  // PGlite driver's BEGIN message SELECTs, so this holds there; on a server the prelude of a
  // known tenant's scope, of an admin scope and of a session's next transaction is only SET LOCALs
  // (src/core/scope.ts), so PostgreSQL accepts SET TRANSACTION after it, READ WRITE in a
  // read-only scope included: red on the server targets until the core's prelude takes a snapshot.
  it("refuses SET TRANSACTION inside a scope with transaction options: the modes are the scope's (a read-only scope stays read-only)", async () => {
    await manager.createTenant('modes').catch(() => undefined)
    await manager.withTenant('modes', async () => undefined) // known: later scopes skip the registry check
    const iso = await rejection(
      manager.withTenant('modes', (trx) => sql`set transaction isolation level read committed`.execute(trx), { isolationLevel: 'serializable' }),
    )
    expect(codeOf(iso)).toBe('25001')
    const readWrite = await rejection(
      manager.withAdmin(
        async (trx) => {
          await sql`set transaction read write`.execute(trx)
          return (await sql<{ ro: string }>`select current_setting('transaction_read_only') as ro`.execute(trx)).rows
        },
        { accessMode: 'read only' },
      ),
    )
    expect(codeOf(readWrite)).toBe('25001')
  })

  it("refuses the caller's COMMIT: nothing after it runs, and the scope fails", async () => {
    // On postgres.js a scope's statements go out one at a time (extended protocol): a second
    // statement in one string is refused by the server before anything runs (below).
    for (const end of [sql`commit`, sql`rollback`, ...(kind === 'postgres-js' ? [] : [sql`select 1; commit`])]) {
      let after: unknown = 'not run'
      const error = await rejection(
        manager.withTenant('committer', async (trx) => {
          expect(codeOf(await rejection(end.execute(trx)))).toBe('UNSUPPORTED_OPERATION')
          after = await trx
            .insertInto('items_text')
            .values({ tenant: 'committer', title: 'after' })
            .execute()
            .then(
              () => 'ran',
              (e: unknown) => codeOf(e),
            )
        }),
      )
      expect(codeOf(error)).toBe('UNSUPPORTED_OPERATION')
      expect(after).toBe('SESSION_CLOSED')
    }
    if (kind === 'postgres-js') {
      const multi = await rejection(manager.withTenant('committer', (trx) => sql`select 1; commit`.execute(trx)))
      expect(codeOf(multi)).toBe('42601') // cannot insert multiple commands into a prepared statement
    }
    expect(await manager.withTenant('committer', titles)).toEqual([])
  })

  it('refuses a query built in a scope and run after it (SESSION_CLOSED)', async () => {
    let late: { execute(): Promise<unknown> } | undefined
    let kept: Transaction<Database> | undefined
    await manager.withTenant('late', async (trx) => {
      late = trx.selectFrom('items_text').selectAll()
      kept = trx
    })
    expect(codeOf(await rejection(late!.execute()))).toBe('SESSION_CLOSED')
    expect(codeOf(await rejection(kept!.insertInto('items_text').values({ tenant: 'late', title: 'x' }).execute()))).toBe('SESSION_CLOSED')
    expect(codeOf(await rejection(sql`select 1`.execute(kept!)))).toBe('SESSION_CLOSED')
  })

  it('gives sessions as a Transaction plus commit, rollback and close', async () => {
    {
      await using session: KyselySession<Database> & { tenant: string } = await manager.newTenantSession('sess')
      expect(session.isTransaction).toBe(true)
      expect(session.tenant).toBe('sess')
      await session.insertInto('items_text').values({ tenant: 'sess', title: 'kept' }).execute()
      await session.commit()
      await session.insertInto('items_text').values({ tenant: 'sess', title: 'dropped' }).execute()
      await session.rollback()
      expect(await session.selectFrom('items_text').select('title').execute()).toEqual([{ title: 'kept' }])
      await session.insertInto('items_text').values({ tenant: 'sess', title: 'uncommitted' }).execute()
    }
    expect(await manager.withTenant('sess', titles)).toEqual([{ title: 'kept' }])
    const admin = await manager.newSession()
    try {
      expect(
        Number(
          (
            await admin
              .selectFrom('items_text')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      ).toBeGreaterThan(0)
    } finally {
      await admin.close()
    }
    expect(admin.closed).toBe(true)
    expect(codeOf(await rejection(admin.selectFrom('items_text').selectAll().execute()))).toBe('SESSION_CLOSED')
  })

  it("streams through a cursor of the scope's transaction, only the tenant's rows", async () => {
    await manager.withTenant('stream', (trx) =>
      trx
        .insertInto('items_text')
        .values(['s1', 's2', 's3', 's4', 's5'].map((title) => ({ tenant: 'stream', title })))
        .execute(),
    )
    await manager.withTenant('other', (trx) => trx.insertInto('items_text').values({ tenant: 'other', title: 'o1' }).execute())
    const streamed = await manager.withTenant('stream', async (trx) => {
      const out: string[] = []
      for await (const row of trx.selectFrom('items_text').select('title').orderBy('title').stream(2)) out.push(row.title)
      // Stopping early closes the cursor; the scope goes on.
      for await (const row of trx.selectFrom('items_text').select('title').orderBy('title').stream(1)) {
        out.push(`first ${row.title}`)
        break
      }
      out.push(
        String(
          (
            await trx
              .selectFrom('items_text')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      )
      return out
    })
    expect(streamed).toEqual(['s1', 's2', 's3', 's4', 's5', 'first s1', '5'])
  })

  it("leaves db.transaction() outside a scope the caller's own", async () => {
    const [owner] = await db.transaction().execute(async (trx) => {
      expect(trx.isTransaction).toBe(true)
      return (
        await sql<{ r: string; n: number }>`select current_user::text as r, (select count(*)::int from ${sql.table(`${f.schema}.items_text`)}) as n`.execute(
          trx,
        )
      ).rows
    })
    expect(owner).toEqual({ r: f.owner, n: 0 })
  })

  it('refuses what is not a Kysely instance, or a client the engine cannot scope (UNSUPPORTED_CLIENT)', async () => {
    const client = v.client
    expect(() => fromKysely({} as Kysely<Database>, client)).toThrow(TenantError)
    expect(codeOf(rejectSync(() => fromKysely({} as Kysely<Database>, client)))).toBe('UNSUPPORTED_CLIENT')
    await manager.withTenant('k', async (trx) => {
      expect(codeOf(rejectSync(() => fromKysely<Database>(trx, client)))).toBe('UNSUPPORTED_CLIENT')
    })
    expect(codeOf(rejectSync(() => fromKysely(db, {} as pg.Pool)))).toBe('UNSUPPORTED_CLIENT')
    expect(codeOf(rejectSync(() => fromKysely(db, new pg.Client() as unknown as pg.Pool)))).toBe('UNSUPPORTED_CLIENT')
    expect(String((rejectSync(() => fromKysely(db, {} as pg.Pool)) as Error).message)).toMatch(/PostgresDialect\(\{ pool \}\)/)
  })
}

function rejectSync(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

/** A schema, an owner login and role names of their own, for a migration that creates and drops
 * them; the cleanup drops whatever is left. */
async function bareWorld(target: Target) {
  const suffix = uniqueSuffix()
  const schema = `pgk_${suffix}`
  const owner = `pgk_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy: 'setting',
    rolePrefix: `pgk_t${suffix}_`,
    tenantRole: `pgk_rls_${suffix}`,
    adminRole: `pgk_admin_${suffix}`,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const login = await target.login(owner)
  const cleanup = () =>
    target.superExec(`
      DROP SCHEMA IF EXISTS "${schema}" CASCADE;
      DO $$
      DECLARE r text;
      BEGIN
        FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('${options.tenantRole}', '${options.adminRole}', '${owner}') OR starts_with(rolname, '${options.rolePrefix}')
                 ORDER BY rolname = '${owner}' LOOP
          EXECUTE format('DROP OWNED BY %I CASCADE', r);
          EXECUTE format('DROP ROLE %I', r);
        END LOOP;
      END $$;`)
  return { schema, owner, options, login, cleanup }
}

function migrator(target: () => Target, kind: Kind): void {
  it("runs buildMigration's up and down as one string each in a Kysely Migrator migration", async () => {
    const w = await bareWorld(target())
    try {
      const notes: TableSpec = { schema: w.schema, name: 'notes', column: 'tenant', type: 'text' }
      const { up, down } = buildMigration([notes], w.options)
      const migration: Migration = {
        async up(mdb) {
          await sql`create table ${sql.table(`${w.schema}.notes`)} (id serial primary key, tenant text not null, body text not null)`.execute(mdb)
          await sql.raw(up).execute(mdb)
        },
        async down(mdb) {
          await sql.raw(down).execute(mdb)
          await sql`drop table ${sql.table(`${w.schema}.notes`)}`.execute(mdb)
        },
      }
      const v = via(kind, w.login)
      onTestFinished(() => v.end())
      const db = new Kysely<{ notes: { id: Generated<number>; tenant: string; body: string } }>({ dialect: v.dialect() })
      const m = new Migrator({ db, provider: { getMigrations: async () => ({ '0001_notes': migration }) }, migrationTableSchema: w.schema })
      await w.login.activate()
      const applied = await m.migrateToLatest()
      expect(applied.error).toBeUndefined()
      expect(applied.results?.map((r) => r.status)).toEqual(['Success'])

      const manager = fromKysely(db.withSchema(w.schema), v.client, { ...w.options, tables: [notes] })
      await manager.withTenant('mig-a', (trx) => trx.insertInto('notes').values({ tenant: 'mig-a', body: 'a' }).execute())
      await manager.withTenant('mig-b', (trx) => trx.insertInto('notes').values({ tenant: 'mig-b', body: 'b' }).execute())
      expect(await manager.withTenant('mig-a', (trx) => trx.selectFrom('notes').select('body').execute())).toEqual([{ body: 'a' }])
      await w.login.activate()
      expect(await db.withSchema(w.schema).selectFrom('notes').selectAll().execute()).toEqual([]) // FORCE: the owner sees nothing
      expect((await manager.check({ schemas: [w.schema] })).findings.filter((x) => x.severity !== 'notice')).toEqual([])

      await manager.withAdmin((trx) => trx.deleteFrom('notes').execute())
      await w.login.activate()
      const reverted = await m.migrateDown()
      expect(reverted.error).toBeUndefined()
      expect(reverted.results?.map((r) => r.status)).toEqual(['Success'])
      const left = await target().superExec(
        `SELECT (SELECT count(*)::int FROM pg_roles WHERE rolname IN ('${w.options.tenantRole}', '${w.options.adminRole}')) AS roles, to_regclass('"${w.schema}".notes') IS NULL AS dropped`,
      )
      expect(left).toEqual([{ roles: 0, dropped: true }])
    } finally {
      await w.cleanup()
    }
  })
}

function pgliteDialect(target: () => Target): void {
  let f: Fixture
  let db: Kysely<Database>
  let manager: PostgresManager<Database>
  beforeAll(async () => {
    f = await createFixture(target(), 'setting', 'owner')
    db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite: f.login.client as PGlite }) }).withSchema(f.schema)
    manager = fromKysely(db, f.login.client, { ...f.options, tables: [{ schema: f.schema, name: 'items_text', type: 'text' }] })
  })
  afterAll(async () => {
    await f?.cleanup()
  })
  beforeEach(async () => {
    await f.login.activate()
  })
  const admin = () => manager.withAdmin((trx) => trx.selectFrom('items_text').select(['tenant', 'title']).orderBy('id').execute())

  it('runs queries, transactions (committed, rolled back, aborted), modes, savepoints and multi-statement SQL', async () => {
    const pglite = f.login.client as PGlite
    await pglite.exec(`ALTER TABLE "${f.schema}".items_text NO FORCE ROW LEVEL SECURITY`) // the owner works outside scopes here
    try {
      expect((await sql<{ n: number }>`select ${1}::int + 1 as n`.execute(db)).rows).toEqual([{ n: 2 }])
      expect(Number((await db.insertInto('items_text').values({ tenant: 'dia', title: 'plain' }).executeTakeFirstOrThrow()).numInsertedOrUpdatedRows)).toBe(1)
      await db.transaction().execute((trx) => trx.insertInto('items_text').values({ tenant: 'dia', title: 'committed' }).execute())
      const failed = await rejection(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('items_text').values({ tenant: 'dia', title: 'rolled back' }).execute()
          throw new Error('undo')
        }),
      )
      expect((failed as Error).message).toBe('undo')
      const aborted = await rejection(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('items_text').values({ tenant: 'dia', title: 'aborted' }).execute()
          await sql`select 1 / 0`.execute(trx).catch(() => undefined)
        }),
      )
      expect(aborted).toBeInstanceOf(AbortedTransactionError)
      const modes = await db
        .transaction()
        .setIsolationLevel('serializable')
        .setAccessMode('read only')
        .execute(
          async (trx) =>
            (
              await sql<{
                iso: string
                ro: string
              }>`select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro`.execute(trx)
            ).rows,
        )
      expect(modes).toEqual([{ iso: 'serializable', ro: 'on' }])
      const trx = await db.startTransaction().execute()
      await trx.insertInto('items_text').values({ tenant: 'dia', title: 'before savepoint' }).execute()
      const sp = await trx.savepoint('sp').execute()
      await sp.insertInto('items_text').values({ tenant: 'dia', title: 'after savepoint' }).execute()
      await sp.rollbackToSavepoint('sp').execute()
      await trx.commit().execute()
      const multi = await sql<{ b: number }>`select 1 as a; select 2 as b`.execute(db)
      expect(multi.rows).toEqual([{ b: 2 }])
      expect(await db.selectFrom('items_text').select('title').where('tenant', '=', 'dia').orderBy('id').execute()).toEqual([
        { title: 'plain' },
        { title: 'committed' },
        { title: 'before savepoint' },
      ])
      const streamed = db.selectFrom('items_text').selectAll().stream()[Symbol.asyncIterator]().next()
      expect(codeOf(await rejection(streamed))).toBe('UNSUPPORTED_OPERATION')
    } finally {
      await pglite.exec(`DELETE FROM "${f.schema}".items_text WHERE tenant = 'dia'; ALTER TABLE "${f.schema}".items_text FORCE ROW LEVEL SECURITY`)
    }
  })

  it('keeps concurrent scopes, db queries and db transactions on one PGlite apart: each sees only what it should', async () => {
    const ids = Array.from({ length: 24 }, (_, i) => `par-${i % 6}`)
    const probe = sql<{
      r: string
      n: number
      t: string
    }>`select current_user::text as r, (select count(*)::int from ${sql.table(`${f.schema}.items_text`)}) as n, coalesce(current_setting('pg_tenants.tenant', true), '') as t`
    const results = await Promise.all([
      ...ids.map((id, i) =>
        manager.withTenant(id, async (trx) => {
          await trx
            .insertInto('items_text')
            .values({ tenant: id, title: `t${i}` })
            .execute()
          return { id, tenants: await trx.selectFrom('items_text').select('tenant').distinct().execute() }
        }),
      ),
      ...Array.from({ length: 12 }, async () => ({ plain: (await probe.execute(db)).rows })),
      ...Array.from({ length: 6 }, () => db.transaction().execute(async (trx) => ({ transaction: (await probe.execute(trx)).rows }))),
    ])
    for (const result of results) {
      if ('id' in result) expect(result.tenants).toEqual([{ tenant: result.id }])
      else expect(Object.values(result)[0]).toEqual([{ r: f.owner, n: 0, t: '' }])
    }
    // Concurrent Kysely transactions on the instance: one rolling back undoes only its own work.
    const pglite = f.login.client as PGlite
    await pglite.exec(`ALTER TABLE "${f.schema}".items_text NO FORCE ROW LEVEL SECURITY`)
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          db.transaction().execute(async (trx) => {
            await trx
              .insertInto('items_text')
              .values({ tenant: 'txn', title: `x${i}` })
              .execute()
            if (i % 2 === 1) throw new Error('undo')
          }),
        ),
      )
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected'])
      expect((await db.selectFrom('items_text').select('title').where('tenant', '=', 'txn').orderBy('title').execute()).map((r) => r.title)).toEqual([
        'x0',
        'x2',
        'x4',
        'x6',
      ])
    } finally {
      await pglite.exec(`DELETE FROM "${f.schema}".items_text WHERE tenant = 'txn'; ALTER TABLE "${f.schema}".items_text FORCE ROW LEVEL SECURITY`)
    }
    expect((await admin()).filter((r) => r.tenant.startsWith('par-')).length).toBe(24)
  })

  it("refuses a query of db's inside a scope at once (NESTED_SCOPE), which would wait for PGlite's lock forever", { timeout: 10_000 }, async () => {
    const error = await manager.withTenant('inner', () => rejection(db.selectFrom('items_text').selectAll().execute()))
    expect(codeOf(error)).toBe('NESTED_SCOPE')
  })
}

function roundTrips(target: () => Target): void {
  let f: Fixture
  let pool: pg.Pool
  let calls = 0
  beforeAll(async () => {
    f = await createFixture(target(), 'setting', 'owner')
    pool = new pg.Pool({ connectionString: f.login.url, max: 1 })
    // Every message pg sends goes through client.query: count them on the pool's one client.
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
        calls++
        return query(...args)
      }
    })
  })
  afterAll(async () => {
    await pool?.end()
    await f?.cleanup()
  })

  it('a scope with one query costs 3 round trips (BEGIN and the scoping; the query; COMMIT and the reset), as db.transaction() does', async () => {
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }).withSchema(f.schema)
    const manager = fromKysely(db, pool, { ...f.options, tables: [{ schema: f.schema, name: 'items_text', type: 'text' }] })
    await manager.createTenant('rt')
    await manager.withTenant('rt', (trx) => trx.selectFrom('items_text').selectAll().execute()) // the tenant is known from now on
    const count = async (fn: () => Promise<unknown>) => {
      calls = 0
      await fn()
      return calls
    }
    const scope = await count(() => manager.withTenant('rt', (trx) => trx.selectFrom('items_text').selectAll().execute()))
    const admin = await count(() => manager.withAdmin((trx) => trx.selectFrom('items_text').selectAll().execute()))
    const own = await count(() => db.transaction().execute((trx) => trx.selectFrom('items_text').selectAll().execute()))
    const session = await count(async () => {
      const s = await manager.newTenantSession('rt') // BEGIN and the scoping
      await s.selectFrom('items_text').selectAll().execute()
      await s.commit() // COMMIT and the next BEGIN
      await s.close() // ROLLBACK and the reset
    })
    expect({ scope, admin, own, session }).toEqual({ scope: 3, admin: 3, own: 3, session: 4 })
  })

  it('the same on postgres.js (kysely-postgres-js): 3 round trips, as db.transaction()', async () => {
    let sent = 0
    const url = f.login.url!
    const bouncer = process.env['PGBOUNCER_URL']
    const prepare = bouncer === undefined || new URL(bouncer).host !== new URL(url).host
    // postgres.js calls `debug` for every query it sends.
    const sql = postgres(url, { max: 1, onnotice: () => undefined, debug: () => void sent++, ...(prepare ? {} : { prepare: false }) })
    try {
      const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: sql }) }).withSchema(f.schema)
      const manager = fromKysely(db, sql, { ...f.options, tables: [{ schema: f.schema, name: 'items_text', type: 'text' }] })
      await manager.withTenant('rt', (trx) => trx.selectFrom('items_text').selectAll().execute()) // connected, and the tenant known
      await db.transaction().execute((trx) => trx.selectFrom('items_text').selectAll().execute())
      const count = async (fn: () => Promise<unknown>) => {
        sent = 0
        await fn()
        return sent
      }
      const scope = await count(() => manager.withTenant('rt', (trx) => trx.selectFrom('items_text').selectAll().execute()))
      const own = await count(() => db.transaction().execute((trx) => trx.selectFrom('items_text').selectAll().execute()))
      expect({ scope, own }).toEqual({ scope: 3, own: 3 })
    } finally {
      await sql.end()
    }
  })
}
