/**
 * A setup that cannot work says who must run what (issue "Hardening, part 2", items 7 and 18):
 * a migration run by another login (the superuser) leaves the app's login unable to read the
 * registry or switch to the tenant roles, and a manager given other role names than the
 * migration's finds no role. Each is a SETUP_MISSING naming the login, the roles and the fix,
 * never a raw 42501 that `isRlsViolation` would take for a row-level security rejection.
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRlsViolation, TenantError } from '../src/core/errors.js'
import { buildMigration } from '../src/core/migration.js'
import type { TenantOptions } from '../src/core/options.js'
import { PostgresManager } from '../src/drizzle/index.js'
import { describeTargets, uniqueSuffix, type Login } from './support/targets.js'

async function failure(work: Promise<unknown>): Promise<TenantError> {
  const error = await work.then(
    () => {
      throw new Error('expected a failure')
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TenantError)
  return error as TenantError
}

describeTargets((target) => {
  for (const strategy of ['setting', 'role'] as const) {
    describe(`${strategy} strategy, migrated by the superuser`, () => {
      const suffix = uniqueSuffix()
      const schema = `pgt_se_${suffix}`
      const app = `pgt_se_app_${suffix}`
      const options: TenantOptions = {
        schema,
        strategy,
        rolePrefix: `pgt_se${suffix}_`,
        tenantRole: `pgt_se_rls_${suffix}`,
        adminRole: `pgt_se_admin_${suffix}`,
      }
      let login: Login
      let superuser: Login
      beforeAll(async () => {
        await target().superExec(`CREATE ROLE "${app}" LOGIN; CREATE SCHEMA "${schema}";
          CREATE TABLE "${schema}".todos (id serial PRIMARY KEY, tenant text NOT NULL);
          GRANT USAGE ON SCHEMA "${schema}" TO "${app}";`)
        await target().superExec(buildMigration([{ schema, name: 'todos', column: 'tenant', type: 'text' }], options).up)
        superuser = await target().login(null)
        await PostgresManager.fromDrizzle(superuser.db, options).createTenant('acme')
        login = await target().login(app)
      })
      afterAll(async () => {
        await target().superExec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE;
          DO $$ DECLARE r text; BEGIN
            FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '${options.rolePrefix}') OR rolname IN ('${options.tenantRole}', '${options.adminRole}', '${app}') LOOP
              EXECUTE format('DROP OWNED BY %I CASCADE', r); EXECUTE format('DROP ROLE %I', r);
            END LOOP; END $$;`)
      })

      it('a login that cannot use the registry or the roles gets SETUP_MISSING saying who must run what', async (context) => {
        // PGlite has one session, whose user is the superuser: SET ROLE to the app cannot stand for
        // another login (PostgreSQL checks SET ROLE against the session user).
        if (target().name === 'pglite') return context.skip()
        await login.activate()
        const manager = PostgresManager.fromDrizzle(login.db, options)
        const scope = () => manager.withTenant('acme', (tx) => tx.execute(sql`SELECT 1`), { createIfMissing: false })
        if (strategy === 'setting') {
          const error = await failure(scope())
          expect(error.code).toBe('SETUP_MISSING')
          expect(error.message).toContain(`"${app}" checks tenants in the registry ${schema}.tenant_registry`)
          expect(error.message).toContain(`GRANT SELECT, INSERT, DELETE ON "${schema}"."tenant_registry" TO "${app}"`)
          expect(isRlsViolation(error)).toBe(false)
          await target().superExec(`GRANT SELECT ON "${schema}".tenant_registry TO "${app}"`)
          await login.activate()
        }
        const error = await failure(scope())
        expect(error.code).toBe('SETUP_MISSING')
        expect(error.message).toMatch(/permission denied to set role/)
        expect(error.message).toContain(`"${app}" is not a member of it`)
        expect(error.message).toMatch(new RegExp(`GRANT "${strategy === 'setting' ? options.tenantRole : `${options.rolePrefix}acme`}" TO "${app}"`))
        expect(isRlsViolation(error)).toBe(false)
        const admin = await failure(manager.withAdmin((tx) => tx.execute(sql`SELECT 1`)))
        expect(admin.code).toBe('SETUP_MISSING')
        expect(admin.message).toContain(`GRANT "${options.adminRole}" TO "${app}"`)
      })

      it('a manager with other role names than the migration names the ones the policies use', async () => {
        await superuser.activate()
        const wrong = PostgresManager.fromDrizzle(superuser.db, { ...options, tenantRole: `pgt_se_wrong_${suffix}`, adminRole: `pgt_se_wrongadm_${suffix}` })
        const error = await failure(wrong.withAdmin((tx) => tx.execute(sql`SELECT 1`)))
        expect(error.code).toBe('SETUP_MISSING')
        expect(error.message).toContain(`the pg-tenants policies in this database are for`)
        expect(error.message).toContain(`"${options.adminRole}"`)
        expect(error.message).toContain(`Give the manager the options the migration was run with`)
      })
    })
  }
})

describe('isRlsViolation', () => {
  it('is true for a row a policy refused and false for a missing grant or a TenantError', () => {
    const rls = Object.assign(new Error('new row violates row-level security policy for table "todos"'), { code: '42501' })
    const grant = Object.assign(new Error('permission denied for table plans'), { code: '42501' })
    expect(isRlsViolation(new Error('Failed query', { cause: rls }))).toBe(true)
    expect(isRlsViolation(new Error('Failed query', { cause: grant }))).toBe(false)
    expect(isRlsViolation(new TenantError('SETUP_MISSING', 'x', { cause: rls }))).toBe(false)
    // The routine is not translated: a German server's rejection still counts, row_security = off does not.
    const german = Object.assign(new Error('neue Zeile verletzt Policy für Sicherheit auf Zeilenebene für Tabelle »todos«'), {
      code: '42501',
      routine: 'ExecWithCheckOptions',
    })
    const rowSecurityOff = Object.assign(new Error('query would be affected by row-level security policy for table "todos"'), {
      code: '42501',
      routine: 'check_enable_rls',
    })
    expect(isRlsViolation(german)).toBe(true)
    expect(isRlsViolation(rowSecurityOff)).toBe(false)
  })
})
