/**
 * The statement-level migration API that `pg-tenants generate` writes from: `migrationStatements`
 * is `buildMigration` split into single statements, and `tableStatements` gives one more table
 * everything it needs once the setup exists, down to the grants of a table that the setup's
 * default privileges do not cover (one created by another role). On every target, both
 * strategies, as the non-superuser owner, each statement sent on its own.
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sqlState } from '../src/core/errors.js'
import { buildMigration, migrationStatements, tableStatements, type TableSpec } from '../src/core/migration.js'
import { POLICY_NAMES } from '../src/core/policy.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { describeTargets, type Row } from './support/targets.js'

const SPECS: TableSpec[] = [
  { schema: 'public', name: 'todos', column: 'tenant', type: 'text' },
  { schema: 'app', name: 'projects', column: 'org_id', type: 'varchar', length: 40 },
  { schema: 'app', name: 'n', column: 'org', type: 'bigint' },
]

describe('migrationStatements', () => {
  it("is buildMigration's SQL, one statement per entry, in the same order", () => {
    for (const options of [{}, { strategy: 'role' as const, schema: 'app' }]) {
      const full = buildMigration(SPECS, options)
      const split = migrationStatements(SPECS, options)
      const squash = (text: string) => text.replace(/\n+/g, '\n').trim()
      expect(squash(split.up.join('\n'))).toBe(squash(full.up))
      expect(squash(split.down.join('\n'))).toBe(squash(full.down))
      for (const statement of [...split.up, ...split.down]) {
        const body = statement
          .split('\n')
          .filter((line) => !line.startsWith('--'))
          .join('\n')
        expect(body.trim().endsWith(';'), statement).toBe(true)
        // Outside DO blocks and literals, exactly one statement.
        if (!body.startsWith('DO ')) expect(body.replace(/'[^']*'/g, '').split(';'), statement).toHaveLength(2)
      }
    }
  })
})

describeTargets((target) => {
  for (const strategy of ['setting', 'role'] as const) {
    describe(`tableStatements, ${strategy} strategy`, () => {
      let f: Fixture
      let spec: TableSpec
      const rel = () => `"${f.schema}"."extra"`
      const run = async (statements: readonly string[]) => {
        for (const statement of statements) await f.ownerLogin.exec(statement)
      }

      beforeAll(async () => {
        f = await createFixture(target(), strategy, 'owner')
        spec = { schema: f.schema, name: 'extra', column: 'tenant', type: 'text' }
        // Created by another role than the owner, so the setup's default privileges (the owner's)
        // do not reach it or its sequence: only the per-table grants can.
        await f.target.superExec(`CREATE TABLE ${`"${f.schema}"."extra"`} (id serial PRIMARY KEY, tenant text NOT NULL, body text);
          ALTER TABLE "${f.schema}"."extra" OWNER TO "${f.owner}";`)
        await f.login.activate()
      })
      afterAll(() => f.cleanup())

      async function asTenant(tenant: string, text: string): Promise<Row[]> {
        const result: unknown = await f.manager().withTenant(tenant, (tx) => tx.execute(sql.raw(text)))
        return Array.isArray(result) ? (result as Row[]) : ((result as { rows: Row[] }).rows ?? [])
      }

      it('before: the tenant role may not touch the table (control)', async () => {
        const error = await asTenant('acme', `SELECT * FROM ${rel()}`).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(sqlState(error)).toBe('42501')
      })

      it('up: grants, RLS forced, three policies, index, check; tenants isolated', async () => {
        await run(tableStatements(spec, f.options).up)
        await run(tableStatements(spec, f.options).up) // idempotent
        const [flags] = await f.login.exec(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = '${rel()}'::regclass`)
        expect(flags).toEqual({ rls: true, force: true })
        const policies = await f.login.exec(`SELECT polname AS name FROM pg_policy WHERE polrelid = '${rel()}'::regclass ORDER BY 1`)
        expect(policies.map((p) => p['name'])).toEqual([POLICY_NAMES.access, POLICY_NAMES.admin, POLICY_NAMES.isolation])
        const [objects] = await f.login.exec(`SELECT
          (SELECT count(*)::int FROM pg_indexes WHERE schemaname = '${f.schema}' AND indexname = 'pgt_extra_tenant_idx') AS idx,
          (SELECT count(*)::int FROM pg_constraint WHERE conname = 'pgt_extra_tenant_not_empty') AS chk`)
        expect(objects).toEqual({ idx: 1, chk: 1 })

        // The serial id needs the sequence grant; the rows need the policies.
        await asTenant('acme', `INSERT INTO ${rel()} (tenant, body) VALUES ('acme', 'a')`)
        await asTenant('globex', `INSERT INTO ${rel()} (tenant, body) VALUES ('globex', 'g')`)
        expect(await asTenant('acme', `SELECT tenant FROM ${rel()}`)).toEqual([{ tenant: 'acme' }])
        const error = await asTenant('acme', `INSERT INTO ${rel()} (tenant) VALUES ('globex')`).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(sqlState(error)).toBe('42501')
        expect(await f.login.exec(`SELECT count(*)::int AS n FROM ${rel()}`)).toEqual([{ n: 0 }]) // FORCE
      })

      it('down: removes the table part, keeps the rows and the grants', async () => {
        await run(tableStatements(spec, f.options).down)
        const [state] = await f.login.exec(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force,
          (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies,
          (SELECT count(*)::int FROM pg_indexes WHERE schemaname = '${f.schema}' AND indexname = 'pgt_extra_tenant_idx') AS idx
          FROM pg_class c WHERE oid = '${rel()}'::regclass`)
        expect(state).toEqual({ rls: false, force: false, policies: 0, idx: 0 })
        expect(await f.login.exec(`SELECT count(*)::int AS n FROM ${rel()}`)).toEqual([{ n: 2 }])
        const [granted] = await f.login.exec(`SELECT has_table_privilege('${f.options.tenantRole}', '${rel()}', 'SELECT') AS ok`)
        expect(granted).toEqual({ ok: true })
      })
    })
  }
})
