/**
 * What a second attack on `check` and the test kit found (issue "Hardening, part 2"): the check
 * must never run the table owner's code with its own rights, must see a SECURITY DEFINER function
 * owned by the admin role and a grant reached through a NOINHERIT chain, and the kit must not count
 * a probe it could not run as held. Every target, both strategies, as the non-superuser owner.
 */
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { describe, expect, it } from 'vitest'
import { checkDatabase, type CheckReport } from '../src/index.js'
import { PostgresManager } from '../src/drizzle/index.js'
import { assertTenantIsolation } from '../src/testing/index.js'
import { useFixture, type Fixture } from './support/fixture.js'
import { describeTargets, type Login } from './support/targets.js'

const clientOf = (login: Login) => (login.db as unknown as { $client: unknown }).$client

describeTargets((target) => {
  for (const strategy of ['setting', 'role'] as const) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))
      const T = () => `"${f.schema}"."items_text"`
      const check = async (): Promise<CheckReport> => {
        await f.login.activate()
        return checkDatabase(clientOf(f.login), { ...f.options, schemas: [f.schema], ignore: ['ROLE_CAN_CREATE_TEMP'] })
      }

      it("never evaluates a CHECK that calls anything but PostgreSQL's own immutable functions", async () => {
        await f.ownerLogin.exec(`CREATE SEQUENCE "${f.schema}".calls;
          CREATE FUNCTION "${f.schema}".ok(t text) RETURNS boolean VOLATILE LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('"${f.schema}".calls'); RETURN t <> ''; END $$;
          ALTER TABLE ${T()} DROP CONSTRAINT pgt_items_text_tenant_not_empty, ADD CONSTRAINT user_check CHECK ("${f.schema}".ok(tenant));`)
        try {
          const report = await check()
          const [calls] = await f.ownerLogin.exec(`SELECT is_called FROM "${f.schema}".calls`)
          expect(calls, 'the check ran the function').toEqual({ is_called: false })
          // Not evaluated, so not counted: the finding stays, with the safe fix.
          const hit = report.findings.find((x) => x.code === 'EMPTY_TENANT_ALLOWED' && x.object === `${f.schema}.items_text`)
          expect(hit?.fix).toContain(`CHECK ("tenant" <> '')`)
        } finally {
          await f.ownerLogin.exec(`ALTER TABLE ${T()} DROP CONSTRAINT user_check, ADD CONSTRAINT pgt_items_text_tenant_not_empty CHECK (tenant <> '');
            DROP FUNCTION "${f.schema}".ok(text); DROP SEQUENCE "${f.schema}".calls;`)
        }
      })

      it('SECURITY_DEFINER_BYPASS: a function owned by the admin role, which its policy gives every row', async () => {
        const fn = `"${f.schema}".all_items`
        await target().superExec(`CREATE FUNCTION ${fn}() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT tenant FROM ${T().replaceAll("'", "''")}';
          ALTER FUNCTION ${fn}() OWNER TO "${f.options.adminRole}";`)
        try {
          const report = await check()
          const hit = report.findings.find((x) => x.code === 'SECURITY_DEFINER_BYPASS')
          expect(hit?.message).toContain(`the admin role "${f.options.adminRole}"`)
        } finally {
          await target().superExec(`DROP FUNCTION ${fn}()`)
        }
      })

      it('SHARED_TABLE_UNDECLARED: a table reached through a role the tenant role can SET ROLE to, NOINHERIT or not', async () => {
        const group = `${f.options.tenantRole}_g`
        await target().superExec(`CREATE ROLE "${group}" NOLOGIN; ALTER ROLE "${f.options.tenantRole}" NOINHERIT; GRANT "${group}" TO "${f.options.tenantRole}";
          CREATE TABLE "${f.schema}".plans (id int); GRANT USAGE ON SCHEMA "${f.schema}" TO "${group}"; GRANT SELECT ON "${f.schema}".plans TO "${group}";`)
        try {
          const report = await check()
          expect(report.findings.map((x) => `${x.code} ${x.object}`)).toContain(`SHARED_TABLE_UNDECLARED ${f.schema}.plans`)
        } finally {
          await target().superExec(
            `ALTER ROLE "${f.options.tenantRole}" INHERIT; DROP TABLE "${f.schema}".plans; REVOKE USAGE ON SCHEMA "${f.schema}" FROM "${group}"; DROP ROLE "${group}"`,
          )
        }
      })
    })
  }
})

describe('the kit, when the tenant role may not use plpgsql (PGlite)', () => {
  it('reports the WHERE-less probes as not run instead of held', async () => {
    const client = await PGlite.create()
    try {
      const { migrationSql, withRls } = await import('../src/drizzle/index.js')
      const { pgTable, serial, text } = await import('drizzle-orm/pg-core')
      const items = withRls(pgTable('items', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
      await client.exec('REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC')
      await client.exec('CREATE TABLE items (id serial PRIMARY KEY, tenant text NOT NULL)')
      await client.exec(migrationSql([items]).up) // as the superuser: the DO blocks need plpgsql
      const manager = PostgresManager.fromDrizzle(drizzle(client))
      const error = await assertTenantIsolation(manager, { tables: [items] }).catch((e: unknown) => e)
      expect(String((error as Error)?.message)).toMatch(/could not run: the tenant role may not use plpgsql/)
    } finally {
      await client.close()
    }
  })
})
