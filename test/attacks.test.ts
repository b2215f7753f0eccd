/**
 * Attacks from inside a tenant scope: raw SQL that tries to reach, change or infer another
 * tenant's rows. Each test fails if the protection it names is missing; the ones named
 * "residual:" or "known limit:" assert a leak that exists, so that it stays documented (and the
 * test goes red the day it changes).
 *
 * Run for every target, both strategies, and two logins: the non-superuser owner of the tables
 * (FORCE ROW LEVEL SECURITY is what holds it) and a superuser.
 */
import { sql } from 'drizzle-orm'
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import { describe, expect, it } from 'vitest'
import { SETTING_KEY, sqlState } from '../src/index.js'
import { migrationSql, withRls } from '../src/drizzle/index.js'
import { useFixture, type Fixture } from './support/fixture.js'
import { describeTargets, type Row } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const LOGINS = ['owner', 'superuser'] as const

/** The rows of a `tx.execute` result (node-postgres and PGlite both return `{ rows }`). */
function rowsOf(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  )
}

function messageOf(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } }
  return `${e?.message ?? ''} ${e?.cause?.message ?? ''}`
}

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    for (const loginKind of LOGINS) {
      describe(`${strategy} strategy, ${loginKind} login`, () => {
        let f: Fixture
        let t: string
        useFixture(target, strategy, loginKind, (fixture) => {
          f = fixture
          t = `"${f.schema}".items_text`
        })

        /** DDL as the table owner; on PGlite (one session) the login under test comes back after. */
        async function asOwner(statements: string): Promise<Row[]> {
          try {
            return await f.ownerLogin.exec(statements)
          } finally {
            await f.login.activate()
          }
        }

        async function asSuper(statements: string): Promise<Row[]> {
          try {
            return await f.target.superExec(statements)
          } finally {
            await f.login.activate()
          }
        }

        /** Tenants `a` and `b`, each with one row; returns the ids of the rows. */
        async function seed(a: string, b: string): Promise<{ aId: number; bId: number }> {
          const m = f.manager()
          const [ra] = await m.withTenant(a, (tx) =>
            tx
              .insert(f.tables.text)
              .values({ tenant: a, title: `${a}-orig` })
              .returning(),
          )
          const [rb] = await m.withTenant(b, (tx) =>
            tx
              .insert(f.tables.text)
              .values({ tenant: b, title: `${b}-orig` })
              .returning(),
          )
          return { aId: ra!.id, bId: rb!.id }
        }

        async function rowsOfTenant(tenant: string): Promise<Row[]> {
          return f
            .manager()
            .withAdmin(async (tx) => rowsOf(await tx.execute(sql`SELECT id, tenant, title FROM ${sql.raw(t)} WHERE tenant = ${tenant} ORDER BY id`)))
        }

        it("1. INSERT … ON CONFLICT DO UPDATE on another tenant's id is refused (42501), its row unchanged", async () => {
          const { bId } = await seed('oc-a', 'oc-b')
          const before = await rowsOfTenant('oc-b')
          const error = await failure(
            f.manager().withTenant('oc-a', (tx) =>
              tx.execute(sql`INSERT INTO ${sql.raw(t)} (id, tenant, title) VALUES (${bId}, ${tx.tenant}, 'hijack')
                             ON CONFLICT (id) DO UPDATE SET title = 'hijacked'`),
            ),
          )
          expect(sqlState(error)).toBe('42501')
          expect(await rowsOfTenant('oc-b')).toEqual(before)
        })

        it("2. MERGE cannot match another tenant's row, nor insert one for it (42501)", async () => {
          const { bId } = await seed('mg-a', 'mg-b')
          const before = await rowsOfTenant('mg-b')
          const m = f.manager()
          // B's row is invisible to the join: it is NOT MATCHED, and A gets a new row of its own.
          await m.withTenant('mg-a', (tx) =>
            tx.execute(sql`MERGE INTO ${sql.raw(t)} AS i USING (VALUES (${bId}::int)) AS v(id) ON i.id = v.id
                           WHEN MATCHED THEN UPDATE SET title = 'merged-over'
                           WHEN NOT MATCHED THEN INSERT (tenant, title) VALUES (${tx.tenant}, 'merged-new')`),
          )
          expect(await rowsOfTenant('mg-b')).toEqual(before)
          expect((await rowsOfTenant('mg-a')).map((r) => r['title'])).toEqual(['mg-a-orig', 'merged-new'])
          const error = await failure(
            m.withTenant('mg-a', (tx) =>
              tx.execute(sql`MERGE INTO ${sql.raw(t)} AS i USING (VALUES (-1)) AS v(id) ON i.id = v.id
                             WHEN MATCHED THEN UPDATE SET title = 'x'
                             WHEN NOT MATCHED THEN INSERT (tenant, title) VALUES ('mg-b', 'planted')`),
            ),
          )
          expect(sqlState(error)).toBe('42501')
          expect(await rowsOfTenant('mg-b')).toEqual(before)
        })

        it('3. UPDATE … SET tenant = <other> without WHERE is refused (42501), nothing moves', async () => {
          await seed('mv-a', 'mv-b')
          const error = await failure(f.manager().withTenant('mv-a', (tx) => tx.execute(sql`UPDATE ${sql.raw(t)} SET tenant = 'mv-b'`)))
          expect(sqlState(error)).toBe('42501')
          expect((await rowsOfTenant('mv-a')).map((r) => r['title'])).toEqual(['mv-a-orig'])
          expect((await rowsOfTenant('mv-b')).map((r) => r['title'])).toEqual(['mv-b-orig'])
        })

        it("4a. a view owned by the table owner (no security_invoker) shows no other tenant's rows", async () => {
          await seed('vw-a', 'vw-b')
          const view = `"${f.schema}".attack_view`
          try {
            await asOwner(`CREATE VIEW ${view} AS SELECT * FROM ${t}; GRANT SELECT ON ${view} TO "${f.options.tenantRole}"`)
            const seen = await f.manager().withTenant('vw-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(view)}`)))
            // The view reads as its owner, which FORCE holds to RLS: on PostgreSQL 15 the owner
            // inherits the tenant role, so its policies apply with the scope's tenant (own rows);
            // on 16+ (INHERIT FALSE) no policy applies to it, which denies every row.
            expect(seen.filter((r) => r['tenant'] !== 'vw-a')).toEqual([])
          } finally {
            await asOwner(`DROP VIEW IF EXISTS ${view}`)
          }
        })

        it("4b. a security_invoker view shows only the tenant's own rows", async () => {
          await seed('vi-a', 'vi-b')
          const view = `"${f.schema}".attack_invoker_view`
          try {
            await asOwner(`CREATE VIEW ${view} WITH (security_invoker = true) AS SELECT * FROM ${t}; GRANT SELECT ON ${view} TO "${f.options.tenantRole}"`)
            const seen = await f.manager().withTenant('vi-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(view)}`)))
            expect(seen.map((r) => r['tenant'])).toEqual(['vi-a'])
          } finally {
            await asOwner(`DROP VIEW IF EXISTS ${view}`)
          }
        })

        it.runIf(loginKind === 'owner')("4c. residual: a view owned by a superuser bypasses RLS (every tenant's rows)", async () => {
          await seed('vs-a', 'vs-b')
          const view = `"${f.schema}".attack_super_view`
          try {
            await asSuper(`CREATE VIEW ${view} AS SELECT * FROM ${t}; GRANT SELECT ON ${view} TO "${f.options.tenantRole}"`)
            const seen = await f
              .manager()
              .withTenant('vs-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(view)} WHERE tenant LIKE 'vs-%'`)))
            // Mitigation: create views as the (non-superuser) owner, or WITH (security_invoker = true).
            expect(seen.map((r) => r['tenant']).sort()).toEqual(['vs-a', 'vs-b'])
          } finally {
            await asSuper(`DROP VIEW IF EXISTS ${view}`)
          }
        })

        it("5. a SECURITY DEFINER function owned by the table owner shows no other tenant's rows", async () => {
          await seed('fn-a', 'fn-b')
          const fn = `"${f.schema}".attack_definer`
          try {
            await asOwner(`CREATE FUNCTION ${fn}() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT tenant FROM ${t.replaceAll("'", "''")}';
              GRANT EXECUTE ON FUNCTION ${fn}() TO "${f.options.tenantRole}"`)
            const seen = await f.manager().withTenant('fn-a', async (tx) => rowsOf(await tx.execute(sql`SELECT t AS tenant FROM ${sql.raw(fn)}() AS t`)))
            // FORCE holds the owner to RLS: with the `setting` strategy on PostgreSQL 15 it sees the
            // scope's rows; as current_user is then the owner, the `role` strategy sees none.
            expect(seen.filter((r) => r['tenant'] !== 'fn-a')).toEqual([])
          } finally {
            await asOwner(`DROP FUNCTION IF EXISTS ${fn}()`)
          }
        })

        it('6. TRUNCATE is refused (42501: no TRUNCATE grant)', async () => {
          await seed('tr-a', 'tr-b')
          const error = await failure(f.manager().withTenant('tr-a', (tx) => tx.execute(sql`TRUNCATE ${sql.raw(t)}`)))
          expect(sqlState(error)).toBe('42501')
          expect(await rowsOfTenant('tr-b')).toHaveLength(1)
        })

        it('7a. COPY … FROM STDIN is refused on an RLS table (0A000, before any data is read)', async () => {
          const error = await failure(f.manager().withTenant('cp-a', (tx) => tx.execute(sql`COPY ${sql.raw(t)} FROM STDIN`)))
          expect(sqlState(error)).toBe('0A000')
          expect(messageOf(error)).toMatch(/row-level security/)
        })

        it('7b. CTEs, sub-queries, TABLE, ONLY and aggregates show only own rows', async () => {
          await seed('rd-a', 'rd-b')
          const queries = [
            sql`WITH c AS (SELECT * FROM ${sql.raw(t)}) SELECT tenant FROM c`,
            sql`SELECT tenant FROM (SELECT * FROM ${sql.raw(t)}) s`,
            sql`SELECT tenant FROM ${sql.raw(t)} WHERE id IN (SELECT id FROM ${sql.raw(t)})`,
            sql`TABLE ${sql.raw(t)}`,
            sql`SELECT tenant FROM ONLY ${sql.raw(t)}`,
            sql`SELECT tenant FROM ${sql.raw(t)} WHERE tenant = 'rd-b' OR true`,
            sql`SELECT DISTINCT tenant FROM ${sql.raw(t)} GROUP BY tenant`,
            sql`WITH RECURSIVE r AS (SELECT id, tenant FROM ${sql.raw(t)} UNION SELECT id, tenant FROM r) SELECT tenant FROM r`,
          ]
          for (const q of queries) {
            const seen = await f.manager().withTenant('rd-a', async (tx) => rowsOf(await tx.execute(q)))
            expect(seen.map((r) => r['tenant'])).toEqual(['rd-a'])
          }
          const [count] = await f.manager().withTenant('rd-a', async (tx) => rowsOf(await tx.execute(sql`SELECT count(*)::int AS n FROM ${sql.raw(t)}`)))
          expect(count?.['n']).toBe(1)
        })

        it.runIf(loginKind === 'owner')('8. a later PERMISSIVE USING (true) policy for the tenant role does not widen access (RESTRICTIVE)', async () => {
          await seed('pp-a', 'pp-b')
          try {
            await asOwner(`CREATE POLICY attack_open ON ${t} AS PERMISSIVE FOR ALL TO "${f.options.tenantRole}" USING (true) WITH CHECK (true)`)
            const m = f.manager()
            const seen = await m.withTenant('pp-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(t)}`)))
            expect(seen.map((r) => r['tenant'])).toEqual(['pp-a'])
            const error = await failure(m.withTenant('pp-a', (tx) => tx.execute(sql`INSERT INTO ${sql.raw(t)} (tenant, title) VALUES ('pp-b', 'planted')`)))
            expect(sqlState(error)).toBe('42501')
          } finally {
            await asOwner(`DROP POLICY IF EXISTS attack_open ON ${t}`)
            await asOwner(migrationSql(Object.values(f.tables), f.options).up)
          }
          const seen = await f.manager().withTenant('pp-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(t)}`)))
          expect(seen.map((r) => r['tenant'])).toEqual(['pp-a'])
        })

        it('9. SET LOCAL row_security = off makes the next query fail (42501) instead of leak', async () => {
          await seed('rs-a', 'rs-b')
          const error = await failure(
            f.manager().withTenant('rs-a', async (tx) => {
              await tx.execute(sql`SET LOCAL row_security = off`)
              return rowsOf(await tx.execute(sql`SELECT * FROM ${sql.raw(t)}`))
            }),
          )
          expect(sqlState(error)).toBe('42501')
          expect(messageOf(error)).toMatch(/would be affected by row-level security policy/)
        })

        // Named prepared statements live on the server connection; behind PgBouncer in transaction
        // mode the next transaction may get another one, where the statement does not exist.
        it('10. one named prepared statement on a pool of one serves each tenant only its rows', async (ctx) => {
          if (f.target.name === 'pgbouncer') ctx.skip('named prepared statements do not survive transaction pooling')
          await seed('ps-a', 'ps-b')
          const one = await f.target.login(loginKind === 'owner' ? f.owner : null, { max: 1 })
          try {
            const m = f.manager('text', one.db)
            // More than five executions each, so that PostgreSQL may switch to a generic plan.
            for (let i = 0; i < 7; i++) {
              for (const tenant of ['ps-a', 'ps-b']) {
                const seen: Row[] = await m.withTenant(tenant, (tx) =>
                  tx
                    .select()
                    .from(f.tables.text)
                    .where(sql`true`)
                    .prepare('pgt_attack_prepared')
                    .execute(),
                )
                expect(
                  seen.map((r) => r['tenant']),
                  `${tenant}, round ${i}`,
                ).toEqual([tenant])
              }
            }
          } finally {
            await one.end()
            await f.login.activate()
          }
        })

        it('11. residual: a UNIQUE constraint reveals that another tenant already used a value (23505)', async () => {
          const probe = withRls(
            pgSchema(f.schema).table('attack_unique', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }),
          )
          const table = `"${f.schema}".attack_unique`
          try {
            await asOwner(`CREATE TABLE ${table} (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL UNIQUE);
              ${migrationSql([probe], f.options).up}`)
            const m = f.manager()
            await m.withTenant('uq-b', (tx) => tx.execute(sql`INSERT INTO ${sql.raw(table)} (tenant, title) VALUES (${tx.tenant}, 'secret-merger')`))
            const [visible] = await m.withTenant('uq-a', async (tx) => rowsOf(await tx.execute(sql`SELECT count(*)::int AS n FROM ${sql.raw(table)}`)))
            expect(visible?.['n']).toBe(0)
            // Mitigation: make unique keys per tenant, UNIQUE (tenant, title).
            const error = await failure(
              m.withTenant('uq-a', (tx) => tx.execute(sql`INSERT INTO ${sql.raw(table)} (tenant, title) VALUES (${tx.tenant}, 'secret-merger')`)),
            )
            expect(sqlState(error)).toBe('23505')
          } finally {
            await asOwner(`DROP TABLE IF EXISTS ${table}`)
          }
        })

        it('13. residual: planner estimates reveal how common a value is across tenants (pg_stats itself is hidden)', async () => {
          const probe = withRls(
            pgSchema(f.schema).table('attack_stats', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }),
          )
          const table = `"${f.schema}".attack_stats`
          const m = f.manager()
          /** The planner's row estimate for `title = value`, from inside tenant st-a's scope. */
          const estimate = (value: string) =>
            m.withTenant('st-a', async (tx) => {
              // A literal (a fixed test string), so the plan is made for this value.
              const [row] = rowsOf(await tx.execute(sql.raw(`EXPLAIN (FORMAT JSON) SELECT * FROM ${table} WHERE title = '${value}'`)))
              const plan = row!['QUERY PLAN'] as [{ Plan: { 'Plan Rows': number } }]
              return plan[0].Plan['Plan Rows']
            })
          try {
            await asOwner(`CREATE TABLE ${table} (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);
              ${migrationSql([probe], f.options).up}`)
            await m.withTenant('st-b', (tx) =>
              tx.execute(sql`INSERT INTO ${sql.raw(table)} (tenant, title)
                             SELECT ${tx.tenant}, CASE WHEN g <= 300 THEN 'secret-merger' ELSE 'other-' || g END FROM generate_series(1, 600) g`),
            )
            await asOwner(`ANALYZE ${table}`)
            const [seen] = await m.withTenant('st-a', async (tx) =>
              rowsOf(
                await tx.execute(sql`
              SELECT (SELECT count(*) FROM ${sql.raw(table)})::int AS rows,
                     (SELECT count(*) FROM pg_stats WHERE schemaname = ${f.schema} AND tablename = 'attack_stats')::int AS stats`),
              ),
            )
            // PostgreSQL hides the statistics of a table whose row security applies to the reader.
            expect(seen).toEqual({ rows: 0, stats: 0 })
            // The planner still uses them: st-a learns that 'secret-merger' is common elsewhere.
            expect(await estimate('secret-merger')).toBeGreaterThanOrEqual(100)
            expect(await estimate('absent-value')).toBeLessThanOrEqual(5)
            // Mitigation: no statistics on the column (and the ones already gathered removed).
            await asOwner(`ALTER TABLE ${table} ALTER COLUMN title SET STATISTICS 0`)
            await asSuper(`DELETE FROM pg_statistic WHERE starelid = '${table}'::regclass
                             AND staattnum = (SELECT attnum FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attname = 'title')`)
            await asOwner(`ANALYZE ${table}`)
            expect(await estimate('secret-merger')).toBe(await estimate('absent-value'))
          } finally {
            await asOwner(`DROP TABLE IF EXISTS ${table}`)
          }
        })

        it('14. residual: a shared sequence reveals how many rows other tenants inserted', async () => {
          const m = f.manager()
          const insert = (tenant: string) =>
            m.withTenant(tenant, async (tx) => (await tx.insert(f.tables.text).values({ tenant, title: 'seq' }).returning())[0]!.id)
          const first = await insert('sq-a')
          for (let i = 0; i < 5; i++) await insert('sq-b')
          // Mitigation: uuid keys (uuid('id').defaultRandom()), or keys numbered per tenant.
          expect((await insert('sq-a')) - first).toBe(6)
        })

        it('12. known limit: SQL inside a scope can switch itself to another tenant', async () => {
          await seed('sw-a', 'sw-b')
          // `setting`: the tenant setting; `role`: the role setting, to a tenant role the login is a member of.
          const [key, value] = strategy === 'setting' ? [SETTING_KEY, 'sw-b'] : ['role', `${f.options.rolePrefix}sw-b`]
          const seen = await f.manager().withTenant('sw-a', async (tx) => {
            await tx.execute(sql`SELECT set_config(${key}, ${value}, true)`)
            return rowsOf(await tx.execute(sql`SELECT tenant FROM ${sql.raw(t)} WHERE tenant LIKE 'sw-%'`))
          })
          expect(seen.map((r) => r['tenant'])).toEqual(['sw-b'])
        })
      })
    }
  }
})
