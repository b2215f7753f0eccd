/**
 * `pg-tenants/testing`: `assertTenantIsolation` passes on the schema `migrationSql` builds, and
 * goes red, naming table and check, on each way of breaking it by hand (negative controls), with
 * Drizzle `withRls` tables and with ORM-neutral `{ spec, row }` entries alike. Runs as the
 * non-superuser owner login, for both strategies and every target.
 */
import { sql } from 'drizzle-orm'
import { pgTable, text } from 'drizzle-orm/pg-core'
import { describe, expect, it } from 'vitest'
import { migrationSql } from '../src/drizzle/index.js'
import { TenantError, tableStatements, type TableSpec } from '../src/index.js'
import {
  assertTenantIsolation,
  TenantIsolationError,
  type IsolationCheck,
  type IsolationEntry,
  type IsolationTable,
  type IsolationTableSpec,
} from '../src/testing/index.js'
import { useFixture, type Fixture, type TypeName } from './support/fixture.js'
import { describeTargets, type Row } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  )
}

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy, owner login`, () => {
      let f: Fixture
      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))

      const entry = (type: TypeName): IsolationTable => ({ table: f.tables[type], row: (tenant) => ({ tenant, title: 'x' }) })
      const textTable = () => `"${f.schema}".items_text`
      const textName = () => `${f.schema}.items_text`

      /** The spec form of a fixture table, built by hand (no Drizzle table involved). */
      const specOf = (type: TypeName, row = true): IsolationTableSpec => ({
        spec: { schema: f.schema, name: `items_${type}`, column: 'tenant', type, ...(type === 'varchar' ? { length: 40 } : {}) },
        ...(row ? { row: (tenant) => ({ tenant, title: 'x' }) } : {}),
      })

      /** Runs the check on the text table (and the varchar one) after breaking it with `breakSql`,
       * then restores it. */
      async function brokenBy(breakSql: string, tables: readonly IsolationEntry[] = [entry('text'), entry('varchar')]): Promise<TenantIsolationError> {
        try {
          await f.login.exec(breakSql)
          const error = await rejection(assertTenantIsolation(f.manager(), { tables }))
          expect(error).toBeInstanceOf(TenantIsolationError)
          expect(error).toBeInstanceOf(TenantError)
          expect((error as TenantIsolationError).code).toBe('ISOLATION_FAILED')
          return error as TenantIsolationError
        } finally {
          await f.login.exec(`DROP POLICY IF EXISTS open ON ${textTable()}`)
          await f.login.exec(migrationSql(Object.values(f.tables), f.options).up)
        }
      }

      const checksOf = (error: TenantIsolationError, table: string) => error.failures.filter((x) => x.table === table).map((x) => x.check)

      async function expectNothingLeft(): Promise<void> {
        const m = f.manager()
        const leftover = [...(await m.listTenants())].filter((t) => t.startsWith('pgt-check-'))
        expect(leftover).toEqual([])
        const rows: Row[] = await m.withAdmin((tx) =>
          tx
            .select()
            .from(f.tables.text)
            .where(sql`tenant like 'pgt-check-%'`),
        )
        expect(rows).toEqual([])
      }

      it('passes on the schema migrationSql builds, for every tenant column type', async () => {
        const m = f.manager()
        const before = await m.listTenants()
        const summary = await assertTenantIsolation(m, {
          tables: [entry('text'), entry('varchar'), entry('integer'), entry('bigint')],
        })
        expect(summary.tables).toEqual(['text', 'varchar', 'integer', 'bigint'].map((t) => `${f.schema}.items_${t}`))
        expect(summary.checks).toBe(1 + 4 * 7 + 1 + 4)
        expect(summary.tenants[0]).not.toBe(summary.tenants[1])
        const withUuid = await assertTenantIsolation(m, { tables: [entry('uuid'), entry('text')] })
        expect(withUuid.tenants[0]).toMatch(/^[0-9a-f-]{36}$/)
        expect(await m.listTenants()).toEqual(before)
        const all: Row[] = await m.withAdmin((tx) => tx.select().from(f.tables.integer))
        expect(all).toEqual([])
        await expectNothingLeft()
      })

      it('refuses tables no tenant id can fit, and tables not marked withRls', async () => {
        const mixed = await rejection(assertTenantIsolation(f.manager(), { tables: [entry('uuid'), entry('integer')] }))
        expect((mixed as TenantError).code).toBe('INVALID_OPTIONS')
        await expect(assertTenantIsolation(f.manager(), { tables: [] })).rejects.toBeInstanceOf(TenantError)
        const unmarked = pgTable('items_text', { tenant: text('tenant') })
        const plain = await rejection(assertTenantIsolation(f.manager(), { tables: [unmarked, { table: 'x' } as never] }))
        expect((plain as TenantError).code).toBe('INVALID_OPTIONS')
        expect((plain as Error).message).toContain('not tenant-scoped')
        const junk = await rejection(assertTenantIsolation(f.manager(), { tables: [{ table: 'x' } as never] }))
        expect((junk as TenantError).code).toBe('INVALID_OPTIONS')
      })

      it('reports a table whose bare row is not valid as a seed failure, and still cleans up', async () => {
        const error = await rejection(assertTenantIsolation(f.manager(), { tables: [f.tables.text, entry('varchar')] }))
        expect(error).toBeInstanceOf(TenantIsolationError)
        expect((error as TenantIsolationError).failures.map((x) => [x.table, x.check])).toEqual([[textName(), 'seed']])
        await expectNothingLeft()
      })

      it('catches row-level security disabled on a table', async () => {
        const error = await brokenBy(`ALTER TABLE ${textTable()} DISABLE ROW LEVEL SECURITY`)
        const expected: IsolationCheck[] = ['select', 'insert', 'update', 'delete', 'move', 'outside-scope']
        expect(checksOf(error, textName())).toEqual(expected)
        expect(checksOf(error, `${f.schema}.items_varchar`)).toEqual([])
        expect(error.message).toContain(`${textName()} select: tenant A sees`)
        expect(error.message).toContain(`${textName()} insert:`)
        await expectNothingLeft()
      })

      it('catches a permissive USING (true) policy once the restrictive policy is dropped', async () => {
        const error = await brokenBy(
          `CREATE POLICY open ON ${textTable()} TO "${f.options.tenantRole}" USING (true) WITH CHECK (true);
           DROP POLICY pg_tenants_isolation ON ${textTable()}`,
        )
        const checks = checksOf(error, textName())
        for (const check of ['select', 'insert', 'update', 'delete', 'move'] as const) expect(checks).toContain(check)
        expect(checksOf(error, `${f.schema}.items_varchar`)).toEqual([])
        await expectNothingLeft()
      })

      it('passes with a permissive USING (true) policy while the restrictive policy stands (by design)', async () => {
        try {
          await f.login.exec(`CREATE POLICY open ON ${textTable()} TO "${f.options.tenantRole}" USING (true) WITH CHECK (true)`)
          const summary = await assertTenantIsolation(f.manager(), { tables: [entry('text')] })
          expect(summary.tables).toEqual([textName()])
        } finally {
          await f.login.exec(`DROP POLICY IF EXISTS open ON ${textTable()}`)
        }
        await expectNothingLeft()
      })

      it('catches FORCE removed: the owner login sees tenant rows outside any scope', async () => {
        const error = await brokenBy(`ALTER TABLE ${textTable()} NO FORCE ROW LEVEL SECURITY`)
        expect(error.failures.map((x) => [x.table, x.check])).toEqual([[textName(), 'outside-scope']])
        expect(error.message).toContain(`${textName()} outside-scope: a query outside any scope sees 2 of the seeded rows`)
        await expectNothingLeft()
      })

      describe('spec form: { spec, row } only, no Drizzle table', () => {
        /** Every fixture table is empty and no throwaway tenant is left (counted as the superuser,
         * which bypasses row-level security). */
        async function expectEmpty(): Promise<void> {
          const counts = await f.target.superExec(
            (['text', 'varchar', 'integer', 'bigint', 'uuid'] as const)
              .map((t) => `SELECT '${t}' AS t, count(*)::int AS n FROM "${f.schema}".items_${t}`)
              .join(' UNION ALL '),
          )
          expect(counts.filter((r) => r['n'] !== 0)).toEqual([])
          expect([...(await f.manager().listTenants())].filter((t) => t.startsWith('pgt-check-'))).toEqual([])
        }

        it('passes on the schema migrationSql builds, for every tenant column type', async () => {
          const m = f.manager()
          const before = await m.listTenants()
          const summary = await assertTenantIsolation(m, {
            tables: [specOf('text'), specOf('varchar'), specOf('integer'), specOf('bigint')],
          })
          expect(summary.tables).toEqual(['text', 'varchar', 'integer', 'bigint'].map((t) => `${f.schema}.items_${t}`))
          expect(summary.checks).toBe(1 + 4 * 7 + 1 + 4)
          const withUuid = await assertTenantIsolation(m, { tables: [specOf('uuid'), specOf('text')] })
          expect(withUuid.tenants[0]).toMatch(/^[0-9a-f-]{36}$/)
          expect(await m.listTenants()).toEqual(before)
          await expectEmpty()
        })

        it('takes an empty schema as the manager schema, and mixes with Drizzle entries', async () => {
          const bare: IsolationTableSpec = {
            spec: { schema: '', name: 'items_integer', column: 'tenant', type: 'integer' },
            row: (tenant) => ({ tenant, title: 'x' }),
          }
          const summary = await assertTenantIsolation(f.manager(), { tables: [bare, entry('bigint'), specOf('text')] })
          expect(summary.tables).toEqual(['integer', 'bigint', 'text'].map((t) => `${f.schema}.items_${t}`))
          await expectEmpty()
        })

        it('quotes every name: a table and columns named with quotes, spaces and semicolons', async () => {
          const spec: TableSpec = { schema: f.schema, name: 'odd "items"; drop', column: 'ten"ant', type: 'text' }
          const t = `"${f.schema}"."odd ""items""; drop"`
          await f.login.exec(`CREATE TABLE ${t} (id serial PRIMARY KEY, "ten""ant" text NOT NULL, "no""te; x" text)`)
          for (const statement of tableStatements(spec, f.options).up) await f.login.exec(statement)
          try {
            // The default row (the tenant column only), then a row builder keyed by column name.
            expect((await assertTenantIsolation(f.manager(), { tables: [{ spec }] })).tables).toEqual([`${f.schema}.${spec.name}`])
            await assertTenantIsolation(f.manager(), { tables: [{ spec, row: (tenant) => ({ 'ten"ant': tenant, 'no"te; x': "it's" }) }] })
            expect(await f.target.superExec(`SELECT count(*)::int AS n FROM ${t}`)).toEqual([{ n: 0 }])
          } finally {
            await f.login.exec(`DROP TABLE ${t}`)
          }
        })

        it('reports a table whose default row is not valid as a seed failure, and still cleans up', async () => {
          const error = await rejection(assertTenantIsolation(f.manager(), { tables: [specOf('text', false), specOf('varchar')] }))
          expect(error).toBeInstanceOf(TenantIsolationError)
          const failures = (error as TenantIsolationError).failures
          expect(failures.map((x) => [x.table, x.check])).toEqual([[textName(), 'seed']])
          expect(failures[0]?.message).toContain('SQLSTATE 23502')
          expect(failures[0]?.message).toContain('pass { spec, row } with a valid row')
          await expectEmpty()
        })

        it('catches a permissive USING (true) policy once the restrictive policy is dropped', async () => {
          const error = await brokenBy(
            `CREATE POLICY open ON ${textTable()} TO "${f.options.tenantRole}" USING (true) WITH CHECK (true);
             DROP POLICY pg_tenants_isolation ON ${textTable()}`,
            [specOf('text'), specOf('varchar')],
          )
          // (On PostgreSQL 15 the owner login also inherits the tenant role, so `outside-scope` fails too.)
          const checks = checksOf(error, textName())
          for (const check of ['select', 'insert', 'update', 'delete', 'move'] as const) expect(checks).toContain(check)
          expect(checksOf(error, `${f.schema}.items_varchar`)).toEqual([])
          expect(error.message).toContain(`${textName()} select: tenant A sees 1 row(s) of other tenants, 1 of them tenant B's`)
          expect(error.message).toContain(`${textName()} update: tenant A updated 1 of tenant B's rows`)
          await expectEmpty()
        })

        it('catches FORCE removed: the owner login sees tenant rows outside any scope', async () => {
          const error = await brokenBy(`ALTER TABLE ${textTable()} NO FORCE ROW LEVEL SECURITY`, [specOf('text'), specOf('varchar')])
          expect(error.failures.map((x) => [x.table, x.check])).toEqual([[textName(), 'outside-scope']])
          expect(error.message).toContain(`${textName()} outside-scope: a query outside any scope sees 2 of the seeded rows`)
          await expectEmpty()
        })

        it('refuses bad specs, a non-manager and a call inside a scope before touching the database', async () => {
          const bad = [
            { spec: { schema: f.schema, name: 'items_text', column: 'tenant', type: 'json' } },
            { spec: { schema: f.schema, name: 'items_text', type: 'text' } },
            { spec: specOf('text').spec, row: 'not a function' },
          ] as unknown as IsolationTableSpec[]
          for (const table of bad) {
            const error = await rejection(assertTenantIsolation(f.manager(), { tables: [table] }))
            expect((error as TenantError).code).toBe('INVALID_OPTIONS')
          }
          const mixed = await rejection(assertTenantIsolation(f.manager(), { tables: [specOf('uuid'), specOf('integer')] }))
          expect((mixed as TenantError).code).toBe('INVALID_OPTIONS')
          const client = await rejection(assertTenantIsolation({}, { tables: [specOf('text')] }))
          expect((client as TenantError).code).toBe('UNSUPPORTED_CLIENT')
          const nested = await rejection(f.manager().withAdmin(() => assertTenantIsolation(f.manager(), { tables: [specOf('text')] })))
          expect((nested as TenantError).code).toBe('NESTED_SCOPE')
          await expectEmpty()
        })
      })
    })
  }
})
