/**
 * `pg-tenants/testing`: `assertTenantIsolation` passes on the schema `migrationSql` builds, and
 * goes red, naming table and check, on each way of breaking it by hand (negative controls).
 * Runs as the non-superuser owner login, for both strategies and every target.
 */
import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { migrationSql } from '../src/drizzle/index.js'
import { TenantError } from '../src/index.js'
import { assertTenantIsolation, TenantIsolationError, type IsolationCheck, type IsolationTable } from '../src/testing/index.js'
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

      /** Runs the check on the text table after breaking it with `breakSql`, then restores it. */
      async function brokenBy(breakSql: string): Promise<TenantIsolationError> {
        try {
          await f.login.exec(breakSql)
          const error = await rejection(assertTenantIsolation(f.manager(), { tables: [entry('text'), entry('varchar')] }))
          expect(error).toBeInstanceOf(TenantIsolationError)
          expect(error).toBeInstanceOf(TenantError)
          expect((error as TenantIsolationError).code).toBe('ISOLATION_FAILED')
          return error as TenantIsolationError
        } finally {
          await f.login.exec(`DROP POLICY IF EXISTS open ON ${textTable()}`)
          await f.login.exec(migrationSql(Object.values(f.tables), f.options).up)
        }
      }

      const checksOf = (error: TenantIsolationError, table: string) =>
        error.failures.filter((x) => x.table === table).map((x) => x.check)

      async function expectNothingLeft(): Promise<void> {
        const m = f.manager()
        const leftover = [...(await m.listTenants())].filter((t) => t.startsWith('pgt-check-'))
        expect(leftover).toEqual([])
        const rows: Row[] = await m.withAdmin((tx) => tx.select().from(f.tables.text).where(sql`tenant like 'pgt-check-%'`))
        expect(rows).toEqual([])
      }

      it('passes on the schema migrationSql builds, for every tenant column type', async () => {
        const m = f.manager()
        const before = await m.listTenants()
        const summary = await assertTenantIsolation(m, {
          tables: [entry('text'), entry('varchar'), entry('integer'), entry('bigint')],
        })
        expect(summary.tables).toEqual(['text', 'varchar', 'integer', 'bigint'].map((t) => `${f.schema}.items_${t}`))
        expect(summary.checks).toBe(1 + 4 * 5 + 1 + 4)
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
    })
  }
})
