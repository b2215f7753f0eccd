/**
 * The behaviour pg-tenants promises, written once and run for every driver (PGlite always,
 * node-postgres with DATABASE_URL), both strategies, and two logins: a non-superuser that owns
 * the tables (so FORCE ROW LEVEL SECURITY is what restricts it) and a superuser.
 */
import { sql } from 'drizzle-orm'
import { Cache } from 'drizzle-orm/cache/core'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { describe, expect, it } from 'vitest'
import { InvalidTenantId, sqlState, TenantAlreadyExists, TenantError, TenantNotFound } from '../src/index.js'
import { migrationSql, type AnyPgDatabase, type DrizzleTransaction } from '../src/drizzle/index.js'
import { useFixture, TENANT_PAIRS, type Fixture, type TypeName } from './support/fixture.js'
import { describeTargets, type Row } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const LOGINS = ['owner', 'superuser'] as const
const TYPES: TypeName[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']

/** Expects the promise to fail the way row-level security fails a write: SQLSTATE 42501. */
async function expectRlsRejection(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, 'the write should have been rejected').toBeDefined()
  expect(sqlState(error)).toBe('42501')
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  )
}

/** A query cache that caches everything, keyed by SQL and parameters, as real caches do. */
class MemoryCache extends Cache {
  readonly #entries = new Map<string, unknown>()
  override strategy(): 'all' {
    return 'all'
  }
  override async get(key: string): Promise<unknown[] | undefined> {
    return this.#entries.get(key) as unknown[] | undefined
  }
  override async put(key: string, response: unknown): Promise<void> {
    this.#entries.set(key, response)
  }
  override async onMutate(): Promise<void> {
    this.#entries.clear()
  }
}

// Generic loops over five table types: the tests use the tables through `any`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loops over five table types
type AnyTable = any

/** The login kinds each strategy runs with, and Citus mode (its policy shape and scope message,
 * which must hold on a plain server too: test/citus.test.ts runs them on Citus). */
const MODES = [...LOGINS.map((loginKind) => ({ loginKind, citus: false })), { loginKind: 'owner' as const, citus: true }]

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    for (const { loginKind, citus } of MODES) {
      describe(`${strategy} strategy, ${loginKind} login${citus ? ', Citus mode' : ''}`, () => {
        let f: Fixture
        useFixture(target, strategy, loginKind, (fixture) => (f = fixture), { citus })

        it('tests as the login it claims to', async () => {
          const [me] = await f.login.exec(
            `SELECT r.rolsuper AS super, r.rolbypassrls AS bypass,
                    (SELECT tableowner FROM pg_tables WHERE schemaname = '${f.schema}' AND tablename = 'items_text') AS owner,
                    current_user AS login
             FROM pg_roles r WHERE r.rolname = current_user`,
          )
          if (loginKind === 'owner') {
            expect(me).toEqual({ super: false, bypass: false, owner: f.owner, login: f.owner })
          } else {
            expect(me?.['super']).toBe(true)
          }
        })

        for (const type of TYPES) {
          it(`isolates reads, updates and deletes by a ${type} tenant column`, async () => {
            const m = f.manager(type)
            const table: AnyTable = f.tables[type]
            const [a, b] = TENANT_PAIRS[type]
            await m.withTenant(a, (tx) =>
              tx.insert(table).values([
                { tenant: a, title: 'a1' },
                { tenant: a, title: 'a2' },
              ]),
            )
            await m.withTenant(b, (tx) => tx.insert(table).values({ tenant: b, title: 'b1' }))

            const seenByA: Row[] = await m.withTenant(a, (tx) => tx.select().from(table))
            expect(seenByA.map((r) => r['tenant'])).toEqual([a, a])
            const updatedByB: Row[] = await m.withTenant(b, (tx) => tx.update(table).set({ title: 'touched' }).returning())
            expect(updatedByB.map((r) => r['title'])).toEqual(['touched'])
            const deletedByB = (await m.withTenant(b, (tx) => tx.delete(table).returning())) as Row[]
            expect(deletedByB.map((r) => r['tenant'])).toEqual([b])

            await expectRlsRejection(m.withTenant(a, (tx) => tx.insert(table).values({ tenant: b, title: 'intrusion' })))
            await expectRlsRejection(m.withTenant(a, (tx) => tx.update(table).set({ tenant: b })))

            const all: Row[] = await m.withAdmin((tx) => tx.select().from(table))
            expect(all.map((r) => [r['tenant'], r['title']])).toEqual([
              [a, 'a1'],
              [a, 'a2'],
            ])
          })
        }

        it('runs tenant work as an unprivileged role and admin work as the admin role', async () => {
          const m = f.manager()
          const who = async (run: (q: (tx: DrizzleTransaction<AnyPgDatabase>) => Promise<unknown>) => Promise<unknown>) => {
            const result = (await run((tx) => tx.execute(sql`SELECT current_user AS u`))) as { rows: Row[] }
            return result.rows[0]?.['u']
          }
          const tenantRole = strategy === 'setting' ? f.options.tenantRole : `${f.options.rolePrefix}who`
          expect(await who((q) => m.withTenant('who', q))).toBe(tenantRole)
          expect(await who((q) => m.withAdmin(q))).toBe(f.options.adminRole)
          const [attrs] = await f.login.exec(
            `SELECT bool_or(rolsuper OR rolbypassrls) AS privileged FROM pg_roles WHERE rolname IN ('${tenantRole}', '${f.options.adminRole}')`,
          )
          expect(attrs?.['privileged']).toBe(false)
        })

        it('leaves no tenant state on a pooled connection (pool of one)', async () => {
          const one = await target().login(loginKind === 'owner' ? f.owner : null, { max: 1 })
          try {
            const m = f.manager('text', one.db)
            const table: AnyTable = f.tables.text
            // Behind PgBouncer (transaction mode) each statement may get another server connection,
            // so the backend pid is not compared there; login and tenant still are.
            const pid = target().name === 'pgbouncer' ? '' : ', pg_backend_pid() AS pid'
            const probe = async () =>
              (await one.exec(`SELECT current_user AS login, coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant${pid}`))[0]
            const clean = await probe()
            expect(clean?.['tenant']).toBe('')
            await m.withTenant('s1-a', (tx) => tx.insert(table).values({ tenant: 's1-a', title: 'x' }))
            await m.withTenant('s1-b', (tx) => tx.insert(table).values({ tenant: 's1-b', title: 'y' }))
            expect(await probe()).toEqual(clean)

            await expect(m.withTenant('s1-a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
            expect(await probe()).toEqual(clean)
            await expect(m.withTenant('s1-a', (tx) => tx.execute(sql`SELECT 1/0`))).rejects.toBeDefined()
            expect(await probe()).toEqual(clean)

            const session = await m.newTenantSession('s1-a')
            try {
              await session.select().from(table)
            } finally {
              await session.close()
            }
            expect(await probe()).toEqual(clean)

            const seen: Row[] = await m.withTenant('s1-b', (tx) => tx.select().from(table))
            expect(seen.map((r) => r['tenant'])).toEqual(['s1-b'])
          } finally {
            await one.end()
          }
        })

        it('admin paths see and write every tenant', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          await m.withTenant('adm-a', (tx) => tx.insert(table).values({ tenant: 'adm-a', title: 'x' }))
          await m.withAdmin((tx) => tx.insert(table).values({ tenant: 'adm-b', title: 'by admin' }))
          const rows: Row[] = await m.withAdmin((tx) =>
            tx
              .select()
              .from(table)
              .where(sql`tenant like 'adm-%'`),
          )
          expect(rows.map((r) => r['tenant']).sort()).toEqual(['adm-a', 'adm-b'])

          {
            // A session left open would hold PGlite's only session: always close it.
            await using session = await m.newSession()
            await session
              .update(table)
              .set({ title: 'edited' })
              .where(sql`tenant like 'adm-%'`)
            await session.commit()
            expect(
              (
                await session
                  .select()
                  .from(table)
                  .where(sql`tenant like 'adm-%'`)
              ).length,
            ).toBe(2)
          }
          const titles = await m.withTenant('adm-b', (tx) => tx.select().from(table))
          expect(titles.map((r: Row) => r['title'])).toEqual(['edited'])
        })

        it.runIf(loginKind === 'owner')('fails closed outside any scope, even for the owner', async () => {
          const m = f.manager()
          await m.withAdmin((tx) => tx.insert(f.tables.text).values({ tenant: 'fc', title: 'hidden' }))
          const t = `"${f.schema}".items_text`
          expect(await f.login.exec(`SELECT count(*)::int AS n FROM ${t}`)).toEqual([{ n: 0 }])
          await expectRlsRejection(f.login.exec(`INSERT INTO ${t} (tenant, title) VALUES ('fc', 'sneaky')`))
          expect(await f.login.exec(`UPDATE ${t} SET title = 'x' RETURNING id`)).toEqual([])
        })

        it.runIf(loginKind === 'owner')('goes red when the protection is broken by hand (negative control)', async () => {
          const m = f.manager()
          const t = `"${f.schema}".items_text`
          await m.withAdmin((tx) =>
            tx.insert(f.tables.text).values([
              { tenant: 'nc-a', title: 'a' },
              { tenant: 'nc-b', title: 'b' },
            ]),
          )
          try {
            // Without FORCE, the owner bypasses its own policies: the fail-closed check would fail.
            await f.login.exec(`ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY`)
            const [row] = await f.login.exec(`SELECT count(*)::int AS n FROM ${t}`)
            expect(row?.['n']).toBeGreaterThan(0)
            // With the tenant condition replaced by `true`, a tenant sees others' rows.
            await f.login.exec(`DROP POLICY pg_tenants_isolation ON ${t}; DROP POLICY pg_tenants_access ON ${t};
              CREATE POLICY open ON ${t} TO "${f.options.tenantRole}" USING (true) WITH CHECK (true)`)
            const seen: Row[] = await m.withTenant('nc-a', (tx) => tx.select().from(f.tables.text))
            expect(seen.some((r) => r['tenant'] !== 'nc-a')).toBe(true)
          } finally {
            await f.login.exec(`DROP POLICY IF EXISTS open ON ${t}`)
            await f.login.exec(migrationSql(Object.values(f.tables), f.options).up)
          }
          const restored: Row[] = await m.withTenant('nc-a', (tx) => tx.select().from(f.tables.text))
          expect(restored.map((r) => r['tenant'])).toEqual(['nc-a'])
        })

        it('rejects bad tenant ids before any SQL is sent', async () => {
          const prefixBytes = Buffer.byteLength(f.options.rolePrefix ?? '')
          const cases: [TypeName, unknown][] = [
            ['text', ''],
            ['text', 'a\0b'],
            ['text', '\uD800lone'],
            ['text', 'x'.repeat(strategy === 'role' ? 64 - prefixBytes : 1025)],
            ['text', 42],
            ['text', null],
            ['text', {}],
            ['varchar', 'y'.repeat(41)],
            ['integer', 1.5],
            ['integer', Number.NaN],
            ['integer', 2 ** 53],
            ['integer', 2 ** 31],
            ['integer', 'abc'],
            ['bigint', 2n ** 63n],
            ['bigint', '12x'],
            ['uuid', 'abc'],
            ['uuid', 42],
          ]
          for (const [type, id] of cases) {
            const m = f.manager(type)
            const before = f.login.acquires()
            let called = false
            const attempts = [
              m.withTenant(id as never, async () => {
                called = true
              }),
              m.newTenantSession(id as never),
              m.createTenant(id as never),
              m.deleteTenant(id as never),
            ]
            for (const attempt of attempts) {
              const error = await rejection(attempt)
              expect(error, `${type} ${String(id)}`).toBeInstanceOf(InvalidTenantId)
              expect((error as TenantError).code).toBe('INVALID_TENANT_ID')
            }
            expect(called).toBe(false)
            expect(f.login.acquires(), 'no connection was checked out').toBe(before)
          }
        })

        it('stores hostile but valid ids verbatim and isolates them', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          const ids = [`o'brien`, `a"b`, `semi;colon'; DROP TABLE x; --`, 'back\\slash\\', "E'\\\\'", '$$ $pg_tenants$', 'ünï©ødé 🚀', ' padded ']
          for (const id of ids) await m.withTenant(id, (tx) => tx.insert(table).values({ tenant: tx.tenant, title: id }))
          for (const id of ids) {
            const rows: Row[] = await m.withTenant(id, (tx) => tx.select().from(table))
            expect(rows.map((r) => [r['tenant'], r['title']])).toEqual([[id, id]])
          }
          const listed = await m.listTenants()
          for (const id of ids) expect(listed.has(id), id).toBe(true)
        })

        it('keeps 50 concurrent scopes over 10 tenants on a pool of 5 apart', async () => {
          const five = await target().login(loginKind === 'owner' ? f.owner : null, { max: 5 })
          try {
            const m = f.manager('text', five.db)
            const table: AnyTable = f.tables.text
            const tenants = Array.from({ length: 10 }, (_, i) => `conc-${i}`)
            for (const t of tenants) await m.createTenant(t)
            const results = await Promise.all(
              Array.from({ length: 50 }, (_, i) => {
                const t = tenants[i % tenants.length]!
                return m.withTenant(t, async (tx) => {
                  await tx.insert(table).values({ tenant: t, title: `job-${i}` })
                  await new Promise((r) => setTimeout(r, Math.random() * 5))
                  const rows: Row[] = await tx.select().from(table)
                  return rows.every((r) => r['tenant'] === t) && rows.some((r) => r['title'] === `job-${i}`)
                })
              }),
            )
            expect(results.filter((ok) => !ok)).toEqual([])
          } finally {
            await five.end()
          }
        })

        it('creates, lists and deletes tenants, and never deletes data', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          await m.createTenant('mg-1')
          await expect(m.createTenant('mg-1')).rejects.toBeInstanceOf(TenantAlreadyExists)
          expect((await m.listTenants()).has('mg-1')).toBe(true)
          await m.withTenant('mg-1', (tx) => tx.insert(table).values({ tenant: 'mg-1', title: 'survives' }))
          await m.deleteTenant('mg-1')
          expect((await m.listTenants()).has('mg-1')).toBe(false)
          await expect(m.deleteTenant('mg-1')).rejects.toBeInstanceOf(TenantNotFound)
          const kept: Row[] = await m.withAdmin((tx) =>
            tx
              .select()
              .from(table)
              .where(sql`tenant = 'mg-1'`),
          )
          expect(kept.map((r) => r['title'])).toEqual(['survives'])

          let called = false
          const missing = await rejection(
            m.withTenant(
              'mg-2',
              async () => {
                called = true
              },
              { createIfMissing: false },
            ),
          )
          expect(missing).toBeInstanceOf(TenantNotFound)
          expect(called).toBe(false)
          await expect(m.newTenantSession('mg-2', { createIfMissing: false })).rejects.toBeInstanceOf(TenantNotFound)
          expect((await m.listTenants()).has('mg-2')).toBe(false)

          await m.withTenant('mg-2', async () => undefined)
          expect((await m.listTenants()).has('mg-2')).toBe(true)
        })

        it('keeps session work only when committed, and stays scoped after commit', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          await m.withTenant('other-sess', (tx) => tx.insert(table).values({ tenant: 'other-sess', title: 'foreign' }))
          const session = await m.newTenantSession('sess')
          try {
            expect(session.tenant).toBe('sess')
            await session.insert(table).values({ tenant: session.tenant, title: 'kept' })
            await session.commit()
            const afterCommit: Row[] = await session.select().from(table)
            expect(afterCommit.map((r) => r['tenant'])).toEqual(['sess'])
            await session.insert(table).values({ tenant: session.tenant, title: 'rolled back' })
            await session.rollback()
            await session.insert(table).values({ tenant: session.tenant, title: 'never committed' })
            await expectRlsRejection(session.insert(table).values({ tenant: 'other-sess', title: 'intrusion' }))
            await session.rollback()
            expect(((await session.select().from(table)) as Row[]).map((r) => r['title'])).toEqual(['kept'])
            await session.insert(table).values({ tenant: session.tenant, title: 'dropped on close' })
            await session.close()
            await session.close()
            expect(session.closed).toBe(true)
            const error = await rejection(session.select().from(table))
            const e = error as { code?: string; cause?: { code?: string } }
            expect(e.code ?? e.cause?.code).toBe('SESSION_CLOSED')
          } finally {
            await session.close()
          }
          const titles: Row[] = await m.withTenant('sess', (tx) => tx.select().from(table))
          expect(titles.map((r) => r['title'])).toEqual(['kept'])
        })

        it('closes a session with await using', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          {
            await using session = await m.newTenantSession('using')
            await session.insert(table).values({ tenant: session.tenant, title: 'committed' })
            await session.commit()
            await session.insert(table).values({ tenant: session.tenant, title: 'discarded' })
          }
          const titles: Row[] = await m.withTenant('using', (tx) => tx.select().from(table))
          expect(titles.map((r) => r['title'])).toEqual(['committed'])
        })

        it('reports a COMMIT that PostgreSQL turned into a ROLLBACK', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          const error = await rejection(
            m.withTenant('abort', async (tx) => {
              await tx.insert(table).values({ tenant: 'abort', title: 'lost' })
              await tx.execute(sql`SELECT 1/0`).catch(() => undefined)
            }),
          )
          expect((error as TenantError).code).toBe('TRANSACTION_ABORTED')
          expect(await m.withTenant('abort', (tx) => tx.select().from(table))).toEqual([])
        })

        it('never serves a tenant from the database query cache', async () => {
          const client = (f.login.db as unknown as { $client: never }).$client
          const cache = new MemoryCache()
          const db = f.target.name === 'pglite' ? drizzlePglite(client, { cache }) : drizzleNodePg(client, { cache })
          const m = f.manager('text', db as never)
          const table: AnyTable = f.tables.text
          await m.withTenant('cache-a', (tx) => tx.insert(table).values({ tenant: 'cache-a', title: 'a' }))
          await m.withTenant('cache-b', (tx) => tx.insert(table).values({ tenant: 'cache-b', title: 'b' }))
          const seenByA: Row[] = await m.withTenant('cache-a', (tx) => tx.select().from(table))
          const seenByB: Row[] = await m.withTenant('cache-b', (tx) => tx.select().from(table))
          expect(seenByA.map((r) => r['tenant'])).toEqual(['cache-a'])
          expect(seenByB.map((r) => r['tenant'])).toEqual(['cache-b'])
        })

        it('refuses a query that starts after its scope finished (missing await)', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          await m.withTenant('late-other', (tx) => tx.insert(table).values({ tenant: 'late-other', title: 'x' }))
          let late: Promise<unknown> | undefined
          await m.withTenant('late', async (tx) => {
            late = tx
              .select()
              .from(table)
              .then(
                (rows: Row[]) => rows,
                (e: unknown) => e,
              )
          })
          const outcome = await late
          if (Array.isArray(outcome)) {
            // It ran before the COMMIT, inside the scope: then it saw only its own tenant.
            expect(outcome.every((r: Row) => r['tenant'] === 'late')).toBe(true)
          } else {
            const e = outcome as { code?: string; cause?: { code?: string } }
            expect(e.code ?? e.cause?.code).toBe('SESSION_CLOSED')
          }
        })

        it.runIf(strategy === 'role')('refuses a role that has the tenant name but is not a plain tenant', async () => {
          const m = f.manager()
          const intruder = `${f.options.rolePrefix}intruder`
          await f.target.superExec(`CREATE ROLE "${intruder}" NOLOGIN BYPASSRLS; GRANT "${intruder}" TO "${f.owner}"`)
          let called = false
          for (const createIfMissing of [false, true]) {
            const error = await rejection(
              m.withTenant(
                'intruder',
                async () => {
                  called = true
                },
                { createIfMissing },
              ),
            )
            expect(error).toBeInstanceOf(TenantNotFound)
          }
          expect(called).toBe(false)
          expect((await m.listTenants()).has('intruder')).toBe(false)
        })

        it('supports nested transactions as savepoints inside a scope', async () => {
          const m = f.manager()
          const table: AnyTable = f.tables.text
          await m.withTenant('nest', async (tx) => {
            await tx.insert(table).values({ tenant: 'nest', title: 'outer' })
            await tx
              .transaction(async (inner) => {
                await inner.insert(table).values({ tenant: 'nest', title: 'inner' })
                inner.rollback()
              })
              .catch(() => undefined)
          })
          const titles: Row[] = await m.withTenant('nest', (tx) => tx.select().from(table))
          expect(titles.map((r) => r['title'])).toEqual(['outer'])
        })
      })
    }
  }
})
