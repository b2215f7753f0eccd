/**
 * checkDatabase on a real database: a schema migrated by pg-tenants is clean; each thing broken by
 * hand afterwards shows up as its finding, and applying the finding's `fix` makes the check clean
 * again. Runs on every target and both strategies, as the non-superuser owning login.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkDatabase, type CheckCode, type CheckOptions, type CheckReport } from '../src/index.js'
import { sqlState } from '../src/core/errors.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import { POLICY_NAMES } from '../src/core/policy.js'
import { useFixture, createFixture, type Fixture, type TypeName } from './support/fixture.js'
import { expectUsageError, runCli } from './support/cli.js'
import { describeFindings, findingAsserts } from './support/findings.js'
import { describeTargets, targets, type Target } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const TYPES: TypeName[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']
/** About the database, not the schema: PUBLIC's TEMPORARY, which the migration cannot revoke.
 * The server's database is shared with the other test files, which keep it; so the checks of
 * the schema leave this code out, and its own tests below look for it. */
const TEMP: CheckCode = 'ROLE_CAN_CREATE_TEMP'

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      const T = () => `"${f.schema}"."items_text"`
      const specs = (): TableSpec[] =>
        TYPES.map((type) => ({ schema: f.schema, name: `items_${type}`, column: 'tenant', type, length: type === 'varchar' ? 40 : undefined }))
      const client = () => (f.login.db as unknown as { $client: unknown }).$client
      const check = async (extra: CheckOptions = {}): Promise<CheckReport> => {
        await f.login.activate()
        // Discovery of undeclared tables stays in this test's schema: the server is shared with
        // other test files, whose tables (granted to PUBLIC for a moment) it must not report, nor
        // apply the fixes of.
        return checkDatabase(client(), { ...f.options, tables: specs(), schemas: [f.schema], ...extra, ignore: [TEMP, ...(extra.ignore ?? [])] })
      }
      const codes = (report: CheckReport) => report.findings.map((x) => x.code)
      const { expectFinding, expectClean } = findingAsserts({ check: () => check(), superExec: (sql) => target().superExec(sql) })

      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))

      it('finds nothing on a freshly migrated schema, given the tables or discovering them', async () => {
        const report = await check()
        expect(report.findings, describeFindings(report)).toEqual([])
        expect(report.ok).toBe(true)
        expect([...report.tables].sort()).toEqual(TYPES.map((t) => `${f.schema}.items_${t}`).sort())

        const progress: [number, number][] = []
        const found = await checkDatabase(client(), {
          ...f.options,
          schemas: [f.schema],
          ignore: [TEMP],
          onProgress: (done, total) => progress.push([done, total]),
        })
        expect(found.findings, describeFindings(found)).toEqual([])
        expect([...found.tables].sort()).toEqual([...report.tables].sort())
        expect(progress.at(-1)).toEqual([5, 5])
      })

      it('leaves nothing behind and takes no lock', async () => {
        await check()
        const [temp] = await f.login.exec(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'pgt\\_check\\_%'`)
        expect(temp?.['n']).toBe(0)
        if (target().name === 'pglite') return
        // Another session holds ACCESS EXCLUSIVE on a tenant table: the check still completes.
        const holder = new pg.Client({ connectionString: process.env['DATABASE_URL'] })
        await holder.connect()
        try {
          await holder.query(`BEGIN; LOCK TABLE ${T()} IN ACCESS EXCLUSIVE MODE`)
          const report = await check()
          expect(report.ok, describeFindings(report)).toBe(true)
        } finally {
          await holder.query('ROLLBACK').catch(() => undefined)
          await holder.end()
        }
      })

      it("manager.check() checks the manager's own withRls tables with its options", async () => {
        const manager = f.manager('text')
        const clean = await manager.check({ ignore: [TEMP] })
        expect(clean.findings, describeFindings(clean)).toEqual([])
        // The other four tables are not the manager's, but the tenant role may use them: checked too.
        expect(clean.tables[0]).toBe(`${f.schema}.items_text`)
        expect([...clean.tables].sort()).toEqual(TYPES.map((t) => `${f.schema}.items_${t}`).sort())
        await target().superExec(`ALTER TABLE ${T()} NO FORCE ROW LEVEL SECURITY`)
        try {
          const broken = await manager.check({ ignore: [TEMP] })
          expect(broken.ok).toBe(false)
          expect(codes(broken)).toContain('FORCE_DISABLED')
        } finally {
          await target().superExec(`ALTER TABLE ${T()} FORCE ROW LEVEL SECURITY`)
        }
      })

      it('RLS_DISABLED', async () => {
        await expectFinding(`ALTER TABLE ${T()} DISABLE ROW LEVEL SECURITY`, 'RLS_DISABLED', `${f.schema}.items_text`)
      })

      it('FORCE_DISABLED', async () => {
        const [hit] = await expectFinding(`ALTER TABLE ${T()} NO FORCE ROW LEVEL SECURITY`, 'FORCE_DISABLED', `${f.schema}.items_text`)
        expect(hit?.message).toContain(f.owner)
      })

      it('POLICY_MISSING, for each of the three policies', async () => {
        for (const name of Object.values(POLICY_NAMES)) {
          await expectFinding(`DROP POLICY ${name} ON ${T()}`, 'POLICY_MISSING', `${f.schema}.items_text`)
        }
      })

      it('POLICY_DRIFT: a changed condition, kind, role or command', async () => {
        const cond = strategy === 'setting' ? `tenant = current_setting('pg_tenants.tenant', true)` : 'tenant = current_user'
        await expectFinding(`ALTER POLICY ${POLICY_NAMES.isolation} ON ${T()} USING (${cond})`, 'POLICY_DRIFT')
        await expectFinding(`ALTER POLICY ${POLICY_NAMES.access} ON ${T()} USING (true)`, 'POLICY_DRIFT')
        await expectFinding(`ALTER POLICY ${POLICY_NAMES.admin} ON ${T()} TO public`, 'POLICY_DRIFT')
        await expectFinding(`ALTER POLICY ${POLICY_NAMES.access} ON ${T()} WITH CHECK (true)`, 'POLICY_DRIFT')
        await expectFinding(
          `DROP POLICY ${POLICY_NAMES.isolation} ON ${T()};
           CREATE POLICY ${POLICY_NAMES.isolation} ON ${T()} AS PERMISSIVE FOR ALL TO "${f.options.tenantRole}" USING (true)`,
          'POLICY_DRIFT',
        )
        await expectFinding(
          `DROP POLICY ${POLICY_NAMES.admin} ON ${T()}; CREATE POLICY ${POLICY_NAMES.admin} ON ${T()} FOR SELECT TO "${f.options.adminRole}" USING (true)`,
          'POLICY_DRIFT',
        )
      })

      it('PERMISSIVE_POLICY: USING (true) to public, for the roles the RESTRICTIVE policy does not hold', async () => {
        const reader = `${f.options.tenantRole}_reader`
        await target().superExec(`CREATE ROLE "${reader}"; GRANT USAGE ON SCHEMA "${f.schema}" TO "${reader}"`)
        try {
          // The reader's grant is itself reported (OTHER_ROLE_GRANTED), and revoked by its fix.
          const [hit] = await expectFinding(
            `GRANT SELECT ON ${T()} TO "${reader}"; CREATE POLICY extra ON ${T()} USING (true)`,
            'PERMISSIVE_POLICY',
            `${f.schema}.items_text`,
          )
          expect(hit?.severity).toBe('warning')
          expect(hit?.message).toContain(`"${reader}"`)
          expect(hit?.fix).toContain('DROP POLICY "extra"')
          // PostgreSQL 15 grants the login the tenant role with INHERIT, so the RESTRICTIVE policy
          // binds it too; on 16+ the grant is WITH INHERIT FALSE and the login is widened.
          const [version] = await f.login.exec(`SELECT current_setting('server_version_num')::int AS v`)
          const inherits = Number(version?.['v']) < 160000
          expect(hit?.message.includes(`"${f.owner}"`)).toBe(!inherits)
        } finally {
          await target().superExec(`REVOKE ALL ON ${T()} FROM "${reader}"; REVOKE USAGE ON SCHEMA "${f.schema}" FROM "${reader}"; DROP ROLE "${reader}"`)
        }
      })

      it('PERMISSIVE_POLICY: to the tenant role it is harmless while the RESTRICTIVE policy holds, an error without it', async () => {
        await target().superExec(`CREATE POLICY extra ON ${T()} TO "${f.options.tenantRole}" USING (true)`)
        await expectClean()
        await target().superExec(`DROP POLICY ${POLICY_NAMES.isolation} ON ${T()}`)
        const report = await check()
        const hit = report.findings.find((x) => x.code === 'PERMISSIVE_POLICY')
        expect(hit?.severity, describeFindings(report)).toBe('error')
        expect(codes(report)).toContain('POLICY_MISSING')
        for (const x of report.findings) await target().superExec(x.fix)
        await expectClean()
      })

      it('ROLE_BYPASSRLS, ROLE_SUPERUSER, ROLE_CREATEROLE, ROLE_CAN_LOGIN on the tenant and admin roles', async () => {
        const role = `role "${f.options.tenantRole}"`
        const [bypass] = await expectFinding(
          `ALTER ROLE "${f.options.tenantRole}" BYPASSRLS`,
          'ROLE_BYPASSRLS',
          role,
          `ALTER ROLE "${f.options.tenantRole}" NOBYPASSRLS`,
        )
        // Only a superuser may change BYPASSRLS: the fix says so, as the login is not one.
        expect(bypass?.fix).toBe(`-- as a superuser:\nALTER ROLE "${f.options.tenantRole}" NOBYPASSRLS;`)
        const hits = await expectFinding(
          `ALTER ROLE "${f.options.tenantRole}" SUPERUSER`,
          'ROLE_SUPERUSER',
          role,
          `ALTER ROLE "${f.options.tenantRole}" NOSUPERUSER`,
        )
        expect(
          hits.map((x) => x.message),
          'a superuser is not also listed as a member of every superuser role',
        ).toHaveLength(1)
        // A role it can SET ROLE to is as good as the attribute.
        const root = `${f.options.tenantRole}_root`
        await target().superExec(`CREATE ROLE "${root}" SUPERUSER NOLOGIN`)
        try {
          const [group] = await expectFinding(`GRANT "${root}" TO "${f.options.tenantRole}"`, 'ROLE_SUPERUSER', role)
          expect(group?.message).toContain(`member of the superuser role "${root}"`)
        } finally {
          await target().superExec(`DROP ROLE "${root}"`)
        }
        await expectFinding(`ALTER ROLE "${f.options.adminRole}" CREATEROLE`, 'ROLE_CREATEROLE', `role "${f.options.adminRole}"`)
        await expectFinding(`ALTER ROLE "${f.options.adminRole}" LOGIN`, 'ROLE_CAN_LOGIN', `role "${f.options.adminRole}"`)
      })

      it('ROLE_OWNS_TABLE: the tenant role owns, or is a member of the owner of, a tenant table', async () => {
        await expectFinding(`ALTER TABLE ${T()} OWNER TO "${f.options.tenantRole}"`, 'ROLE_OWNS_TABLE', `role "${f.options.tenantRole}"`)
        // Membership in the owner role is as good as owning it.
        const group = `${f.options.tenantRole}_owners`
        await target().superExec(`CREATE ROLE "${group}"; ALTER TABLE ${T()} OWNER TO "${group}"; GRANT "${group}" TO "${f.owner}"`)
        try {
          await expectFinding(`GRANT "${group}" TO "${f.options.adminRole}"`, 'ROLE_OWNS_TABLE', `role "${f.options.adminRole}"`)
        } finally {
          await target().superExec(`ALTER TABLE ${T()} OWNER TO "${f.owner}"; DROP ROLE "${group}"`)
        }
      })

      it('DANGEROUS_GRANT: TRUNCATE, TRIGGER and REFERENCES (table or column), direct or through PUBLIC', async () => {
        await expectFinding(`GRANT TRUNCATE ON ${T()} TO "${f.options.tenantRole}"`, 'DANGEROUS_GRANT', `role "${f.options.tenantRole}"`)
        await expectFinding(`GRANT TRIGGER ON ${T()} TO PUBLIC`, 'DANGEROUS_GRANT', `role "${f.options.adminRole}"`)
        await expectFinding(`GRANT REFERENCES ON ${T()} TO "${f.options.adminRole}"`, 'DANGEROUS_GRANT', `role "${f.options.adminRole}"`)
        // On one column only: enough to probe that column's values across tenants.
        await expectFinding(`GRANT REFERENCES (id) ON ${T()} TO "${f.options.tenantRole}"`, 'DANGEROUS_GRANT', `role "${f.options.tenantRole}"`)
      })

      it('TENANT_INDEX_MISSING and EMPTY_TENANT_ALLOWED', async () => {
        await expectFinding(`DROP INDEX "${f.schema}"."pgt_items_uuid_tenant_idx"`, 'TENANT_INDEX_MISSING', `${f.schema}.items_uuid`)
        await expectFinding(`ALTER TABLE ${T()} DROP CONSTRAINT pgt_items_text_tenant_not_empty`, 'EMPTY_TENANT_ALLOWED', `${f.schema}.items_text`)
      })

      it('UNIQUE_WITHOUT_TENANT: a unique constraint or index without the tenant column', async () => {
        await expectFinding(
          `ALTER TABLE ${T()} ADD CONSTRAINT title_key UNIQUE (title)`,
          'UNIQUE_WITHOUT_TENANT',
          `${f.schema}.items_text`,
          `ALTER TABLE ${T()} DROP CONSTRAINT title_key`,
        )
        await expectFinding(
          `CREATE UNIQUE INDEX title_idx ON ${T()} (lower(title))`,
          'UNIQUE_WITHOUT_TENANT',
          `${f.schema}.items_text`,
          `DROP INDEX "${f.schema}".title_idx`,
        )
        // Unique per tenant is what it should be: no finding.
        await target().superExec(`ALTER TABLE ${T()} ADD CONSTRAINT title_per_tenant UNIQUE (tenant, title)`)
        await expectClean()
        await target().superExec(`ALTER TABLE ${T()} DROP CONSTRAINT title_per_tenant`)
      })

      it('FOREIGN_KEY_WITHOUT_TENANT: a key between tenant tables that ignores the tenant', async () => {
        const V = `"${f.schema}"."items_varchar"`
        await expectFinding(
          `ALTER TABLE ${V} ADD COLUMN parent int REFERENCES ${T()} (id)`,
          'FOREIGN_KEY_WITHOUT_TENANT',
          `${f.schema}.items_varchar`,
          `ALTER TABLE ${V} DROP COLUMN parent`,
        )
      })

      it("VIEW_NOT_SECURITY_INVOKER: a warning for the owner's view, an error for a superuser's", async () => {
        const view = `"${f.schema}"."text_view"`
        const [own] = await expectFinding(
          `SET ROLE "${f.owner}"; CREATE VIEW ${view} AS SELECT * FROM ${T()}; RESET ROLE`,
          'VIEW_NOT_SECURITY_INVOKER',
          `view ${f.schema}.text_view`,
          `DROP VIEW ${view}`,
        )
        expect(own?.severity).toBe('warning')
        const [mine] = await expectFinding(
          `CREATE VIEW ${view} AS SELECT id FROM (SELECT * FROM ${T()}) s`,
          'VIEW_NOT_SECURITY_INVOKER',
          `view ${f.schema}.text_view`,
          `DROP VIEW ${view}`,
        )
        expect(mine?.severity).toBe('error')
        // The view is the superuser's: the login cannot alter it, and the fix says who can.
        expect(mine?.fix).toMatch(/^-- as its owner "[^"]+" \(or a superuser\):\nALTER VIEW /)
        expect(own?.fix).toMatch(/^ALTER VIEW /)
        await target().superExec(`CREATE VIEW ${view} WITH (security_invoker = true) AS SELECT * FROM ${T()}`)
        await expectClean()
        await target().superExec(`DROP VIEW ${view}`)
      })

      it('MATERIALIZED_VIEW over a tenant table', async () => {
        const mv = `"${f.schema}"."text_mv"`
        await expectFinding(
          `SET ROLE "${f.owner}"; CREATE MATERIALIZED VIEW ${mv} AS SELECT * FROM ${T()}; RESET ROLE`,
          'MATERIALIZED_VIEW',
          `materialized view ${f.schema}.text_mv`,
          `DROP MATERIALIZED VIEW ${mv}`,
        )
      })

      it('TABLE_MISSING, TENANT_COLUMN_MISSING and TENANT_COLUMN_MISMATCH for declared tables', async () => {
        const report = await check({
          tables: [
            ...specs(),
            { schema: f.schema, name: 'nope', column: 'tenant', type: 'text' },
            { schema: f.schema, name: 'items_text', column: 'org', type: 'text' },
            { schema: f.schema, name: 'items_integer', column: 'tenant', type: 'uuid' },
          ],
        })
        expect(codes(report).sort()).toEqual(['TABLE_MISSING', 'TENANT_COLUMN_MISMATCH', 'TENANT_COLUMN_MISSING'])
        const missing = report.findings.find((x) => x.code === 'TABLE_MISSING')
        expect(missing?.fix).toContain('npx drizzle-kit generate && npx pg-tenants generate')
        expect(missing?.fix).toContain('migrationSql')
      })

      it('NO_TENANT_TABLES when discovery finds nothing to check', async () => {
        const report = await checkDatabase(client(), { ...f.options, schemas: [`${f.schema}_empty`], ignore: [TEMP] })
        expect(report.tables).toEqual([])
        expect(codes(report)).toEqual(['NO_TENANT_TABLES'])
        await f.login.activate()
      })

      it('ROLE_MISSING and REGISTRY_MISSING when the migration was never applied', async () => {
        const report = await check({ tenantRole: 'pgt_no_such_role', adminRole: 'pgt_no_such_admin', registryTable: 'no_registry' })
        expect(codes(report)).toContain('ROLE_MISSING')
        if (strategy === 'setting') expect(codes(report)).toContain('REGISTRY_MISSING')
        expect(codes(report)).toContain('POLICY_DRIFT') // the live policies name other roles
      })

      it('the login: a superuser is reported, as a warning, on PGlite too (until leaveSuperuser)', async () => {
        const superLogin = await target().login(null)
        try {
          const report = await checkDatabase((superLogin.db as unknown as { $client: unknown }).$client, { ...f.options, tables: specs(), ignore: [TEMP] })
          // The only finding: scopes switch role, but code outside one is not bound by row-level security.
          expect(
            report.findings.map((x) => [x.code, x.severity]),
            describeFindings(report),
          ).toEqual([['ROLE_SUPERUSER', 'warning']])
          expect(report.ok).toBe(false)
          const [hit] = report.findings
          expect(hit?.object).toMatch(/\(the login\)$/)
          if (target().name === 'pglite') expect(hit?.fix).toContain('await leaveSuperuser(db) once, before migrating (pg-tenants)')
        } finally {
          await f.login.activate()
        }
      })

      it('ROLE_SHARED: another role is a member of the admin or tenant role, directly or through a group', async () => {
        // What a second database migrated with the same role names does: it grants them to its own login.
        const other = `${f.options.tenantRole}_other`
        const group = `${f.options.tenantRole}_group`
        await target().superExec(`CREATE ROLE "${other}" LOGIN; CREATE ROLE "${group}"`)
        try {
          const [admin] = await expectFinding(`GRANT "${f.options.adminRole}" TO "${other}"`, 'ROLE_SHARED', `role "${f.options.adminRole}"`)
          expect(admin?.severity).toBe('error')
          expect(admin?.message).toContain(`"${other}"`)
          expect(admin?.fix).toContain(`REVOKE "${f.options.adminRole}" FROM "${other}";`)
          expect(admin?.fix).toContain('--tenant-role and --admin-role')
          expect(admin?.fix).toMatch(/^-- as a superuser, or a role with ADMIN OPTION/)
          const [tenant] = await expectFinding(
            `GRANT "${f.options.tenantRole}" TO "${group}"; GRANT "${group}" TO "${other}"`,
            'ROLE_SHARED',
            `role "${f.options.tenantRole}"`,
            `REVOKE "${group}" FROM "${other}"`,
          )
          expect(tenant?.message).toContain(`"${other}" (through "${group}")`)
          expect(tenant?.message).toContain(`"${group}"`)
        } finally {
          await target().superExec(`DROP ROLE "${other}"; DROP ROLE "${group}"`)
        }
      })

      it('TABLE_NOT_DECLARED: a table left out of the given tables that the tenant role may use, unprotected', async () => {
        const U = `"${f.schema}"."items_uuid"`
        const declared = () => specs().filter((s) => s.type !== 'uuid')
        // Still protected: checked, and nothing to report.
        const protectedReport = await check({ tables: declared() })
        expect(protectedReport.findings, describeFindings(protectedReport)).toEqual([])
        expect(protectedReport.tables).toContain(`${f.schema}.items_uuid`)
        // Closed, as `pg-tenants generate` leaves a table taken out of withRls (drizzle-kit dropped
        // pg_tenants_access): a missing policy only narrows access, nothing to report.
        await target().superExec(`DROP POLICY ${POLICY_NAMES.access} ON ${U}`)
        const closed = await check({ tables: declared() })
        expect(closed.findings, describeFindings(closed)).toEqual([])
        // Opened up again by hand: reported.
        await target().superExec(`CREATE POLICY ${POLICY_NAMES.access} ON ${U} USING (true)`)
        const opened = await check({ tables: declared() })
        expect(codes(opened).sort(), describeFindings(opened)).toEqual(['POLICY_DRIFT', 'TABLE_NOT_DECLARED'])
        // What the migration does to a table taken out of withRls: policies and RLS gone, grants kept.
        await target().superExec(
          Object.values(POLICY_NAMES)
            .map((n) => `DROP POLICY ${n} ON ${U};`)
            .join('') + `ALTER TABLE ${U} NO FORCE ROW LEVEL SECURITY; ALTER TABLE ${U} DISABLE ROW LEVEL SECURITY`,
        )
        try {
          const report = await check({ tables: declared() })
          const mine = report.findings.filter((x) => x.object === `${f.schema}.items_uuid`)
          expect(mine.map((x) => x.code).sort(), describeFindings(report)).toEqual(['FORCE_DISABLED', 'RLS_DISABLED', 'TABLE_NOT_DECLARED'])
          expect(mine.find((x) => x.code === 'TABLE_NOT_DECLARED')?.severity).toBe('warning')
          expect(report.findings.filter((x) => x.object !== `${f.schema}.items_uuid`)).toEqual([])
          // A table the tenant role may not use is none of its business.
          await target().superExec(`REVOKE ALL ON ${U} FROM "${f.options.tenantRole}"`)
          const revoked = await check({ tables: declared() })
          expect(revoked.findings, describeFindings(revoked)).toEqual([])
          expect(revoked.tables).not.toContain(`${f.schema}.items_uuid`)
        } finally {
          await f.ownerLogin.exec(
            `GRANT SELECT, INSERT, UPDATE, DELETE ON ${U} TO "${f.options.tenantRole}"; ${buildMigration([specs().find((s) => s.type === 'uuid')!], f.options).up}`,
          )
          await f.login.activate()
        }
        await expectClean()
      })

      it('POLICY_DRIFT on a tenant column whose name holds ";" (the policies are compared as data, not parsed from SQL)', async () => {
        const semi: TableSpec = { schema: f.schema, name: 'semi', column: 'te;nant', type: 'text' }
        const S = `"${f.schema}"."semi"`
        await f.ownerLogin.exec(`CREATE TABLE ${S} (id serial PRIMARY KEY, "te;nant" text NOT NULL); ${buildMigration([semi], f.options).up}`)
        try {
          const clean = await check({ tables: [...specs(), semi] })
          expect(clean.findings, describeFindings(clean)).toEqual([])
          await target().superExec(`ALTER POLICY ${POLICY_NAMES.isolation} ON ${S} USING (true) WITH CHECK (true);
            ALTER POLICY ${POLICY_NAMES.access} ON ${S} USING (true) WITH CHECK (true)`)
          const report = await check({ tables: [...specs(), semi] })
          expect(codes(report), describeFindings(report)).toEqual(['POLICY_DRIFT', 'POLICY_DRIFT'])
          expect(report.findings.every((x) => x.severity === 'error' && x.object === `${f.schema}.semi`)).toBe(true)
          for (const x of report.findings) await target().superExec(x.fix)
          const fixed = await check({ tables: [...specs(), semi] })
          expect(fixed.findings, describeFindings(fixed)).toEqual([])
        } finally {
          await target().superExec(`DROP TABLE ${S}`)
          await f.login.activate()
        }
      })

      it('a FOR ALL policy without WITH CHECK checks with USING: not drift', async () => {
        await target().superExec(
          `DROP POLICY ${POLICY_NAMES.admin} ON ${T()}; CREATE POLICY ${POLICY_NAMES.admin} ON ${T()} FOR ALL TO "${f.options.adminRole}" USING (true)`,
        )
        await expectClean()
        const cond = strategy === 'setting' ? `tenant = current_setting('pg_tenants.tenant', true)` : 'tenant = current_user'
        await expectFinding(
          `DROP POLICY ${POLICY_NAMES.access} ON ${T()}; CREATE POLICY ${POLICY_NAMES.access} ON ${T()} FOR ALL USING (${cond})`,
          'POLICY_DRIFT',
        )
      })

      it('DRIFT_NOT_CHECKED: a warning that blames TEMPORARY only when the login lacks it (PGlite: the server is shared)', async ({ skip }) => {
        if (target().name !== 'pglite') skip()
        const temp = (verb: 'GRANT' | 'REVOKE') =>
          `DO $$ BEGIN EXECUTE format('${verb} TEMPORARY ON DATABASE %I ${verb === 'GRANT' ? 'TO' : 'FROM'} PUBLIC', current_database()); END $$`
        await target().superExec(temp('REVOKE'))
        try {
          const report = await check()
          expect(codes(report), describeFindings(report)).toEqual(['DRIFT_NOT_CHECKED'])
          expect(report.findings[0]?.severity).toBe('warning')
          expect(report.findings[0]?.message).toMatch(/permission denied/)
        } finally {
          await target().superExec(temp('GRANT'))
          await f.login.activate()
        }
        await expectClean()
      })

      it('ROLE_CAN_CREATE_TEMP: the tenant and admin roles may create temporary tables, through PUBLIC by default', async () => {
        const uncheckedTemp = async () => {
          await f.login.activate()
          return checkDatabase(client(), { ...f.options, tables: specs() })
        }
        const [facts] = await f.login.exec(
          `SELECT current_database()::text AS db, pg_get_userbyid(datdba)::text AS owner FROM pg_database WHERE datname = current_database()`,
        )
        const db = String(facts?.['db'])
        const tenantRole = `role "${f.options.tenantRole}"`
        // A freshly migrated schema on a default database: the migration cannot revoke PUBLIC's TEMPORARY.
        const report = await uncheckedTemp()
        expect(
          report.findings.map((x) => [x.code, x.severity, x.object]),
          describeFindings(report),
        ).toEqual([
          [TEMP, 'notice', tenantRole],
          [TEMP, 'notice', `role "${f.options.adminRole}"`],
        ])
        expect(report.ok).toBe(true) // a notice: reported, but no tenant reaches another through it
        const [tenant, admin] = report.findings
        expect(tenant?.message).toContain(
          `can create temporary tables in database "${db}" (TEMPORARY, through PUBLIC, as every role has it by default), which the migration cannot revoke`,
        )
        expect(tenant?.message).toContain('a session reset (DISCARD TEMP among it) sent with its COMMIT or ROLLBACK, so no temporary table outlives its scope')
        expect(tenant?.message).toContain('while the scope is open tenant SQL can create tables that have no row-level security')
        expect(admin?.message).toContain('while the scope is open withAdmin can create tables')
        // The login is neither a superuser nor the database's owner: the fix says who may run it.
        expect(tenant?.fix).toBe(
          `-- as the database owner "${String(facts?.['owner'])}" (or a superuser):\n` +
            `-- database-wide: afterwards only the roles granted TEMPORARY here may create temporary tables in "${db}"; grant it to each that needs it (the login, the owner of the tables, other apps)\n` +
            `REVOKE TEMPORARY ON DATABASE "${db}" FROM PUBLIC;\n` +
            `GRANT TEMPORARY ON DATABASE "${db}" TO "${f.owner}";`,
        )
        // A grant of its own is named, with its own REVOKE (a role's grant: harmless on the shared server).
        await target().superExec(`GRANT TEMPORARY ON DATABASE "${db}" TO "${f.options.tenantRole}"`)
        try {
          const direct = (await uncheckedTemp()).findings.find((x) => x.object === tenantRole)
          expect(direct?.message).toContain('(TEMPORARY, through PUBLIC, as every role has it by default; granted to it)')
          expect(direct?.fix).toContain(`\nREVOKE TEMPORARY ON DATABASE "${db}" FROM "${f.options.tenantRole}";`)
        } finally {
          await target().superExec(`REVOKE TEMPORARY ON DATABASE "${db}" FROM "${f.options.tenantRole}"`)
        }
        if (target().name !== 'pglite') return // the fix is database-wide: on the server, see the next test
        try {
          for (const x of report.findings) await target().superExec(x.fix)
          // Nothing left, not even DRIFT_NOT_CHECKED: the fix gave TEMPORARY back to the login.
          const fixed = await uncheckedTemp()
          expect(fixed.findings, describeFindings(fixed)).toEqual([])
          expect(fixed.ok).toBe(true)
          // And a tenant scope can no longer create one.
          const manager = f.manager()
          const refused = await manager
            .withTenant('tempprobe', (tx) => tx.execute(sql`CREATE TEMP TABLE pgt_temp_probe (x int)`))
            .then(
              () => undefined,
              (error: unknown) => error,
            )
          expect(sqlState(refused), String(refused)).toBe('42501')
          await manager.deleteTenant('tempprobe')
        } finally {
          await target().superExec(`GRANT TEMPORARY ON DATABASE "${db}" TO PUBLIC; REVOKE TEMPORARY ON DATABASE "${db}" FROM "${f.owner}"`)
        }
        await expectClean()
      })

      it('ROLE_CAN_CREATE_TEMP: its fix, run in a database of its own on the server (it is database-wide)', async ({ skip }) => {
        if (target().name !== 'node-postgres') skip()
        const name = `pgt_temp_${randomBytes(4).toString('hex')}`
        await target().superExec(`CREATE DATABASE "${name}" TEMPLATE template0`)
        const at = (user: string) => {
          const u = new URL(process.env['DATABASE_URL']!)
          u.username = user
          u.pathname = `/${name}`
          const pool = new pg.Pool({ connectionString: u.toString(), max: 1 })
          pool.on('error', () => undefined) // DROP DATABASE … WITH (FORCE) ends what is left
          return pool
        }
        const owner = at(f.owner)
        const superuser = at(new URL(process.env['DATABASE_URL']!).username)
        try {
          const temp = async () => (await checkDatabase(owner, f.options)).findings.filter((x) => x.code === TEMP)
          const found = await temp()
          expect(found.map((x) => x.object)).toEqual([`role "${f.options.tenantRole}"`, `role "${f.options.adminRole}"`])
          expect(found[0]?.fix).toContain(`REVOKE TEMPORARY ON DATABASE "${name}" FROM PUBLIC;`)
          for (const x of found) await superuser.query(x.fix)
          expect(await temp()).toEqual([])
          const { rows } = await owner.query<{ login: boolean; tenant: boolean }>(
            `SELECT has_database_privilege(current_user, current_database(), 'TEMP') AS login, has_database_privilege($1, current_database(), 'TEMP') AS tenant`,
            [f.options.tenantRole],
          )
          expect(rows[0]).toEqual({ login: true, tenant: false })
        } finally {
          await Promise.all([owner.end(), superuser.end()])
          await target().superExec(`DROP DATABASE "${name}" WITH (FORCE)`)
        }
      })

      it('ignore leaves codes out of the report', async () => {
        await target().superExec(`DROP INDEX "${f.schema}"."pgt_items_uuid_tenant_idx"`)
        try {
          expect(codes(await check())).toEqual(['TENANT_INDEX_MISSING'])
          const report = await check({ ignore: ['TENANT_INDEX_MISSING'] })
          expect(report.ok).toBe(true)
          expect(report.findings).toEqual([])
          // A caller without types (JavaScript, a config file) is refused at run time too.
          await expect(check({ ignore: ['TENANT_INDEX_MISING' as CheckCode] })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
        } finally {
          await f.login.exec(`CREATE INDEX pgt_items_uuid_tenant_idx ON "${f.schema}"."items_uuid" (tenant)`)
        }
      })

      it.runIf(strategy === 'role')('role strategy: a tenant role with BYPASSRLS or LOGIN, with progress', async () => {
        await f.manager().createTenant('acme')
        await f.manager().createTenant('globex')
        const role = `${f.options.rolePrefix}acme`
        const progress: [number, number, string][] = []
        await target().superExec(`ALTER ROLE "${role}" BYPASSRLS LOGIN`)
        const report = await check({ onProgress: (done, total, what) => progress.push([done, total, what]) })
        const mine = report.findings.filter((x) => x.object === `role "${role}"`).map((x) => x.code)
        expect(mine.sort()).toEqual(['ROLE_BYPASSRLS', 'ROLE_CAN_LOGIN'])
        expect(progress.at(-1)?.slice(0, 2)).toEqual([2, 2])
        for (const x of report.findings) await target().superExec(x.fix)
        await expectClean()
      })

      it.runIf(strategy === 'role')('role strategy: DANGEROUS_GRANT to one tenant role, revoked from that role alone', async () => {
        // A tenant of its own: the test before this one leaves acme and globex behind.
        await f.manager().createTenant('initech')
        const role = `${f.options.rolePrefix}initech`
        const [hit] = await expectFinding(`GRANT TRUNCATE ON ${T()} TO "${role}"`, 'DANGEROUS_GRANT', `role "${role}"`)
        expect(hit?.message).toMatch(/^has TRUNCATE on /)
        expect(hit?.fix).toContain(`REVOKE TRUNCATE ON ${T()} FROM "${role}";`)
      })
    })
  }
})

describe('pg-tenants check (the CLI, in-process)', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url))
  const DIR = join(ROOT, 'test', '.tmp', `check-${randomBytes(4).toString('hex')}`)
  const DATABASE_URL = process.env['DATABASE_URL']

  const cli = (argv: string[], options: { tty?: boolean; env?: Record<string, string> } = {}) => runCli(argv, { ...options, cwd: DIR })

  beforeAll(() => mkdirSync(DIR, { recursive: true }))
  afterAll(() => rmSync(DIR, { recursive: true, force: true }))

  it('prints its help', async () => {
    const run = await cli(['check', '--help'])
    expect(run.code).toBe(0)
    expect(run.out).toMatch(/^Usage: pg-tenants check/)
    expect(run.out).toContain('POLICY_DRIFT')
  })

  it('exits 2 on bad input, before touching a database', async () => {
    expectUsageError(await cli(['check', '--strategy', 'tenant', '--url', 'postgres://x@127.0.0.1:1/x']), /Unknown strategy "tenant"/)
    expectUsageError(await cli(['check', '--ignore', 'RLS_DISABLED,NOPE', '--url', 'postgres://x@127.0.0.1:1/x']), /Unknown finding code "NOPE"/)
    expectUsageError(await cli(['check', '--schema', 'missing.ts', '--url', 'postgres://x@127.0.0.1:1/x']), /missing\.ts does not exist/)
    expectUsageError(await cli(['check', '--url', 'mysql://x@127.0.0.1/x']), /is not a postgres:\/\/ URL/)
    expectUsageError(await cli(['check', '--url', 'postgres://postgres@127.0.0.1:1/test']), /Cannot connect/)
    expectUsageError(await cli(['check']), /No database/)
  })

  describe.skipIf(!DATABASE_URL)('on the server', () => {
    let server: Target
    let f: Fixture
    let url: string
    let common: string[]
    const T = () => `"${f.schema}"."items_text"`

    beforeAll(async () => {
      server = await targets()
        .find((t) => t.name === 'node-postgres')!
        .create()
      f = await createFixture(server, 'setting', 'owner')
      const u = new URL(DATABASE_URL!)
      u.username = f.owner
      url = u.toString()
      writeFileSync(
        join(DIR, 'schema.ts'),
        `import { pgSchema, serial, text } from 'drizzle-orm/pg-core'\n` +
          `import { withRls } from '../../../src/drizzle/index.js'\n` +
          `export const items = withRls(pgSchema(${JSON.stringify(f.schema)}).table('items_text', ` +
          `{ id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }), ` +
          // The policy drizzle-kit sees names the tenant role: withRls and the flags must agree.
          `{ tenantRole: ${JSON.stringify(f.options.tenantRole)} })\n`,
      )
      common = [
        '--url',
        url,
        '--schema',
        'schema.ts',
        '--db-schema',
        f.schema,
        '--tenant-role',
        f.options.tenantRole!,
        '--admin-role',
        f.options.adminRole!,
        '--ignore',
        TEMP,
      ]
    })
    afterAll(async () => {
      await f?.cleanup()
      await server?.close()
    })

    it('checkDatabase also takes a single pg.Client', async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const report = await checkDatabase(client, {
          ...f.options,
          tables: [{ schema: f.schema, name: 'items_text', column: 'tenant', type: 'text' }],
          ignore: [TEMP],
        })
        expect(report.findings).toEqual([])
        expect(report.tables[0]).toEqual(`${f.schema}.items_text`)
        // The client is usable afterwards, outside any transaction.
        const { rows } = await client.query<{ status: string }>(
          `SELECT CASE WHEN now() = statement_timestamp() THEN 'idle' ELSE 'in transaction' END AS status`,
        )
        expect(rows[0]?.status).toBe('idle')
      } finally {
        await client.end()
      }
    })

    it("DRIFT_NOT_CHECKED: a comparison that fails keeps the database's message and is an error", async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        // The name the check gives its first mirror is taken on this session: its CREATE fails (42P07).
        await client.query('CREATE TEMP TABLE pgt_check_mirror_1 (x int)')
        const report = await checkDatabase(client, {
          ...f.options,
          tables: [{ schema: f.schema, name: 'items_text', column: 'tenant', type: 'text' }],
          ignore: [TEMP],
        })
        const hit = report.findings.find((x) => x.code === 'DRIFT_NOT_CHECKED')
        expect(hit?.severity, JSON.stringify(report.findings)).toBe('error')
        expect(hit?.object).toBe(`${f.schema}.items_text`)
        expect(hit?.message).toContain('"pgt_check_mirror_1" already exists')
        expect(hit?.message).not.toContain('TEMPORARY')
        // Only that table: the others were compared one by one.
        expect(report.findings.map((x) => x.code)).toEqual(['DRIFT_NOT_CHECKED'])
      } finally {
        await client.end()
      }
    })

    it('exits 0 on a clean database, 1 with the findings grouped by object, each with its fix', async () => {
      // PUBLIC's TEMPORARY on the shared database: a notice, shown, that leaves the check passing.
      const temp = await cli(['check', ...common.slice(0, -2)])
      expect(temp, temp.err).toMatchObject({ code: 0, err: '' })
      expect(temp.out).toContain(`ok: 2 notices on 5 tenant tables (${f.schema}.items_text, `)
      const database = decodeURIComponent(new URL(DATABASE_URL!).pathname.slice(1))
      expect(temp.out).toContain(`\nrole "${f.options.tenantRole}"\n  notice  ROLE_CAN_CREATE_TEMP: can create temporary tables in database "${database}"`)
      expect(temp.out).toContain(`REVOKE TEMPORARY ON DATABASE "${database}" FROM PUBLIC;`)
      const clean = await cli(['check', ...common])
      expect(clean, clean.err).toMatchObject({ code: 0, err: '' })
      // The four tables the schema file leaves out are checked too: the tenant role may use them.
      expect(clean.out).toMatch(new RegExp(`^ok: no findings, 5 tenant tables checked \\(${f.schema}\\.items_text, `))

      await server.superExec(`ALTER TABLE ${T()} DISABLE ROW LEVEL SECURITY; GRANT TRUNCATE ON ${T()} TO "${f.options.tenantRole}"`)
      try {
        const run = await cli(['check', ...common])
        expect(run.code).toBe(1)
        // eslint-disable-next-line no-control-regex -- \x1b[ starts an ANSI colour sequence, which is what it looks for
        expect(run.out).not.toMatch(/\x1b\[/)
        expect(run.out).toContain(`FAIL: 2 errors on 5 tenant tables (${f.schema}.items_text, `)
        expect(run.out).toContain(`\n${f.schema}.items_text\n  error   RLS_DISABLED: row level security is disabled`)
        expect(run.out).toContain(`fix: ALTER TABLE ${T()} ENABLE ROW LEVEL SECURITY;`)
        expect(run.out).toContain(`\nrole "${f.options.tenantRole}"\n  error   DANGEROUS_GRANT: has TRUNCATE`)

        const json = await cli(['check', ...common, '--json'])
        expect(json.code).toBe(1)
        const report = JSON.parse(json.out) as CheckReport
        expect(report.ok).toBe(false)
        expect(report.findings.map((x) => x.code).sort()).toEqual(['DANGEROUS_GRANT', 'RLS_DISABLED'])
        expect(report.tables.length).toBe(5)

        const ignored = await cli(['check', ...common, '--ignore', `rls_disabled, DANGEROUS_GRANT,${TEMP}`])
        expect(ignored.code).toBe(0)

        const discovered = await cli([
          'check',
          ...common.filter((x, i) => x !== 'schema.ts' && common[i + 1] !== 'schema.ts'),
          '--discover-in',
          f.schema,
          '--json',
        ])
        const found = JSON.parse(discovered.out) as CheckReport
        expect(found.tables.length).toBe(5)
        expect(found.findings.map((x) => x.code).sort()).toEqual(['DANGEROUS_GRANT', 'RLS_DISABLED'])
        expectUsageError(await cli(['check', ...common, '--discover-in', f.schema]), /--discover-in is for discovery/)

        const coloured = await cli(['check', ...common], { tty: true })
        expect(coloured.code).toBe(1)
        // eslint-disable-next-line no-control-regex -- \x1b[ starts an ANSI colour sequence, which is what it looks for
        expect(coloured.out).toMatch(/\x1b\[31merror/)
        const plain = await cli(['check', ...common], { tty: true, env: { NO_COLOR: '1' } })
        // eslint-disable-next-line no-control-regex -- \x1b[ starts an ANSI colour sequence, which is what it looks for
        expect(plain.out).not.toMatch(/\x1b\[/)
      } finally {
        await server.superExec(`ALTER TABLE ${T()} ENABLE ROW LEVEL SECURITY; REVOKE TRUNCATE ON ${T()} FROM "${f.options.tenantRole}"`)
      }
    })
  })
})
