/**
 * checkDatabase's blind spots, each shown on a real database (every target, both strategies, as
 * the non-superuser owning login): partitions of a tenant table, CHECK constraints that let the
 * empty tenant through, partial indexes, column-level grants, a login that cannot scope (the
 * migration was run by another login), and the login's own attributes on PGlite.
 */
import { sql } from 'drizzle-orm'
import { describe, expect, it, beforeAll } from 'vitest'
import { checkDatabase, type CheckCode, type CheckOptions, type CheckReport } from '../src/index.js'
import { sqlState } from '../src/core/errors.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import { resolveOptions } from '../src/core/options.js'
import { createPolicySql, dropPolicySql, POLICY_NAMES, tenantPolicies } from '../src/core/policy.js'
import { PostgresManager } from '../src/drizzle/index.js'
import { cleanupSql, makeTables, useFixture, type Fixture, type TypeName } from './support/fixture.js'
import { describeFindings, findingAsserts } from './support/findings.js'
import { describeTargets, rowsOf, uniqueSuffix, type Login } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const TYPES: TypeName[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']
/** PUBLIC's TEMPORARY on the shared database (see check.test.ts). */
const TEMP: CheckCode = 'ROLE_CAN_CREATE_TEMP'
const MIGRATE_WITH_DRIZZLE_KIT = 'npx pg-tenants generate --all --schema <file> --out <drizzle dir> && npx drizzle-kit migrate'

const clientOf = (login: Login) => (login.db as unknown as { $client: unknown }).$client

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      const q = (name: string) => `"${f.schema}"."${name}"`
      const T = () => q('items_text')
      const E = () => q('events')
      /** A list-partitioned tenant table, two levels deep, one partition with its columns in
       * another order (its tenant column at another position than the parent's). */
      const PARTITIONS = ['events_acme', 'events_other', 'events_other_all', 'events_x']
      const events = (): TableSpec => ({ schema: f.schema, name: 'events', column: 'tenant', type: 'text' })
      const specs = (): TableSpec[] => [
        ...TYPES.map((type): TableSpec => ({ schema: f.schema, name: `items_${type}`, column: 'tenant', type, length: type === 'varchar' ? 40 : undefined })),
        events(),
      ]
      const check = async (extra: CheckOptions = {}): Promise<CheckReport> => {
        await f.login.activate()
        // Discovery stays in this schema: the server is shared with other test files.
        return checkDatabase(clientOf(f.login), { ...f.options, tables: specs(), schemas: [f.schema], ...extra, ignore: [TEMP, ...(extra.ignore ?? [])] })
      }
      const codes = (report: CheckReport) => report.findings.map((x) => x.code)

      // Only this world's fixes (its names all carry the schema's suffix).
      const { expectFinding, expectClean } = findingAsserts({
        check: () => check(),
        superExec: (sql) => target().superExec(sql),
        fixes: (x) => x.object.includes(f.schema.slice('pgt_'.length)),
      })

      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))

      beforeAll(async () => {
        await f.ownerLogin.exec(`
          CREATE TABLE ${E()} (id int NOT NULL, tenant text NOT NULL, title text NOT NULL) PARTITION BY LIST (tenant);
          CREATE TABLE ${q('events_acme')} PARTITION OF ${E()} FOR VALUES IN ('acme');
          CREATE TABLE ${q('events_other')} PARTITION OF ${E()} DEFAULT PARTITION BY RANGE (id);
          CREATE TABLE ${q('events_other_all')} PARTITION OF ${q('events_other')} FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
          CREATE TABLE ${q('events_x')} (title text NOT NULL, id int NOT NULL, tenant text NOT NULL);
          ALTER TABLE ${E()} ATTACH PARTITION ${q('events_x')} FOR VALUES IN ('x');
          ${buildMigration([events()], f.options).up}`)
        // What the migration leaves on every partition (whichever version made the tables): the
        // three policies, forced, and no grant to the tenant role (tenants reach them through the parent).
        const policies = tenantPolicies(resolveOptions(f.options), 'tenant', 'text')
        await f.ownerLogin.exec(
          PARTITIONS.map(
            (p) =>
              `ALTER TABLE ${q(p)} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${q(p)} FORCE ROW LEVEL SECURITY;
           ${policies.map((d) => `${dropPolicySql(d, q(p))}\n${createPolicySql(d, q(p))}`).join('\n')}
           REVOKE ALL ON ${q(p)} FROM "${f.options.tenantRole}";`,
          ).join('\n'),
        )
        await target().superExec(`INSERT INTO ${E()} VALUES (1, 'acme', 'a'), (2, 'globex', 'g')`)
        await f.manager().createTenant('acme')
        await f.login.activate()
      })

      it('partitions are no tenant tables of their own: not discovered, and a declared one is checked as a partition', async () => {
        const given = await check()
        expect(given.findings, describeFindings(given)).toEqual([])
        expect(given.tables).toContain(`${f.schema}.events`)
        for (const p of PARTITIONS) expect(given.tables).not.toContain(`${f.schema}.${p}`)
        const discovered = await checkDatabase(clientOf(f.login), { ...f.options, schemas: [f.schema], ignore: [TEMP] })
        expect(discovered.findings, describeFindings(discovered)).toEqual([])
        expect([...discovered.tables].sort()).toEqual(
          specs()
            .map((s) => `${f.schema}.${s.name}`)
            .sort(),
        )
        const declared = await check({ tables: [...specs(), { ...events(), name: 'events_acme' }] })
        expect(declared.findings, describeFindings(declared)).toEqual([])
        expect(declared.tables).not.toContain(`${f.schema}.events_acme`)
      })

      it('PARTITION_UNPROTECTED: an error when the tenant role may use the partition, and a tenant scope does read through it', async () => {
        const P = q('events_other_all')
        const leaf = `${f.schema}.events_other_all`
        const read = () => f.manager().withTenant('acme', (tx) => tx.execute(sql.raw(`SELECT tenant FROM ${P}`)))
        await target().superExec(`ALTER TABLE ${P} DISABLE ROW LEVEL SECURITY; GRANT SELECT ON ${P} TO "${f.options.tenantRole}"`)
        // The blind spot itself: a tenant scope reads another tenant's row through the partition.
        expect(rowsOf(await read())).toEqual([{ tenant: 'globex' }])
        const report = await check()
        const hit = report.findings.find((x) => x.code === 'PARTITION_UNPROTECTED' && x.object === leaf)
        expect(hit?.severity, describeFindings(report)).toBe('error')
        expect(hit?.message).toContain(`partition of the tenant table ${f.schema}.events`)
        expect(hit?.message).toContain('row level security is disabled')
        expect(hit?.message).toContain(`the tenant role "${f.options.tenantRole}" has privileges on it`)
        expect(hit?.fix).toContain(MIGRATE_WITH_DRIZZLE_KIT)
        expect(hit?.fix).toContain('a partition created later gets no grant to the tenant role')
        expect(hit?.fix).toContain(`ALTER TABLE ${P} ENABLE ROW LEVEL SECURITY;`)
        expect(
          report.findings.filter((x) => x.code !== 'PARTITION_UNPROTECTED'),
          describeFindings(report),
        ).toEqual([])
        for (const x of report.findings) await target().superExec(x.fix)
        expect(rowsOf(await read())).toEqual([])
        await target().superExec(`REVOKE ALL ON ${P} FROM "${f.options.tenantRole}"`)
        await expectClean()
      })

      it('PARTITION_UNPROTECTED: a warning while the tenant role has no privilege on it; FORCE, a missing or a drifted policy, at any depth', async () => {
        const [force] = await expectFinding(`ALTER TABLE ${q('events_acme')} NO FORCE ROW LEVEL SECURITY`, 'PARTITION_UNPROTECTED', `${f.schema}.events_acme`)
        expect(force?.severity).toBe('warning')
        expect(force?.message).toContain('row level security is not forced')
        expect(force?.message).toContain('has no privilege on it, so tenants cannot reach it yet')
        const [missing] = await expectFinding(
          `DROP POLICY ${POLICY_NAMES.isolation} ON ${q('events_other_all')}`,
          'PARTITION_UNPROTECTED',
          `${f.schema}.events_other_all`,
        )
        expect(missing?.message).toContain(`policy ${POLICY_NAMES.isolation} is missing`)
        // Its tenant column is the third column, not the second as in the parent: compared all the same.
        const [drift] = await expectFinding(
          `ALTER POLICY ${POLICY_NAMES.access} ON ${q('events_x')} USING (true)`,
          'PARTITION_UNPROTECTED',
          `${f.schema}.events_x`,
        )
        expect(drift?.message).toContain(`policy ${POLICY_NAMES.access} differs: USING (true)`)
        // A grant on one column to a role the tenant role belongs to (not PUBLIC: the server is
        // shared with other test files) reaches it as well.
        const group = `${f.options.tenantRole}_readers`
        await target().superExec(`CREATE ROLE "${group}"; GRANT "${group}" TO "${f.options.tenantRole}"`)
        try {
          const [middle] = await expectFinding(
            `ALTER TABLE ${q('events_other')} DISABLE ROW LEVEL SECURITY; GRANT SELECT (tenant) ON ${q('events_other')} TO "${group}"`,
            'PARTITION_UNPROTECTED',
            `${f.schema}.events_other`,
            `REVOKE ALL ON ${q('events_other')} FROM "${group}"`,
          )
          expect(middle?.severity, 'a column grant to a role it belongs to reaches the tenant role').toBe('error')
        } finally {
          await target().superExec(`REVOKE ALL ON ${q('events_other')} FROM "${group}"; DROP ROLE "${group}"`)
        }
      })

      it('PARTITION_UNPROTECTED: re-running the migration, as its fix says, protects every partition', async () => {
        await target().superExec(`ALTER TABLE ${q('events_other_all')} DISABLE ROW LEVEL SECURITY; DROP POLICY ${POLICY_NAMES.access} ON ${q('events_x')}`)
        const report = await check()
        expect(report.findings.map((x) => [x.code, x.object]).sort(), describeFindings(report)).toEqual([
          ['PARTITION_UNPROTECTED', `${f.schema}.events_other_all`],
          ['PARTITION_UNPROTECTED', `${f.schema}.events_x`],
        ])
        await f.ownerLogin.exec(buildMigration([events()], f.options).up)
        await expectClean()
      })

      it('VIEW_NOT_SECURITY_INVOKER: a view over a partition of a tenant table', async () => {
        const view = q('acme_events')
        const [hit] = await expectFinding(
          `SET ROLE "${f.owner}"; CREATE VIEW ${view} AS SELECT * FROM ${q('events_acme')}; RESET ROLE`,
          'VIEW_NOT_SECURITY_INVOKER',
          `view ${f.schema}.acme_events`,
          `DROP VIEW ${view}`,
        )
        expect(hit?.message).toContain(`over ${f.schema}.events_acme (a partition of ${f.schema}.events)`)
      })

      it("EMPTY_TENANT_ALLOWED: only a CHECK on the tenant column that rejects '' counts", async () => {
        const V = q('items_varchar')
        const drop = `ALTER TABLE ${T()} DROP CONSTRAINT pgt_items_text_tenant_not_empty; ALTER TABLE ${V} DROP CONSTRAINT pgt_items_varchar_tenant_not_empty`
        await target().superExec(drop)
        try {
          const letThrough = [`tenant <> 'x'`, 'length(tenant) < 100', `CASE WHEN tenant = '' THEN NULL ELSE true END`]
          for (const [i, condition] of letThrough.entries()) {
            await target().superExec(`ALTER TABLE ${T()} ADD CONSTRAINT c${i} CHECK (${condition}); ALTER TABLE ${V} ADD CONSTRAINT c${i} CHECK (${condition})`)
          }
          // On the tenant column and another: it does not hold the tenant column alone.
          await target().superExec(`ALTER TABLE ${T()} ADD CONSTRAINT both_columns CHECK (tenant <> '' OR title <> '')`)
          const report = await check()
          expect(
            report.findings.map((x) => [x.code, x.object]),
            describeFindings(report),
          ).toEqual([
            ['EMPTY_TENANT_ALLOWED', `${f.schema}.items_text`],
            ['EMPTY_TENANT_ALLOWED', `${f.schema}.items_varchar`],
          ])
          expect(report.findings[0]?.message).toContain(`the CHECK constraints on the tenant column "tenant" all let an empty tenant ('') through`)
          // Each of these rejects '': false, or a data exception (an insert of '' fails alike).
          for (const [i, condition] of [`tenant ~ '^[a-z]'`, 'length(tenant) > 0', `tenant::int > 0`].entries()) {
            await target().superExec(
              `ALTER TABLE ${T()} ADD CONSTRAINT r${i} CHECK (${condition}) NOT VALID; ALTER TABLE ${V} ADD CONSTRAINT r${i} CHECK (${condition}) NOT VALID`,
            )
            const fixed = await check()
            expect(fixed.findings, `${condition}:\n${describeFindings(fixed)}`).toEqual([])
            await target().superExec(`ALTER TABLE ${T()} DROP CONSTRAINT r${i}; ALTER TABLE ${V} DROP CONSTRAINT r${i}`)
          }
          for (const x of report.findings) await target().superExec(x.fix)
          await expectClean()
        } finally {
          await target().superExec(
            `ALTER TABLE ${T()} DROP CONSTRAINT IF EXISTS both_columns;` +
              [0, 1, 2].map((i) => `ALTER TABLE ${T()} DROP CONSTRAINT IF EXISTS c${i}; ALTER TABLE ${V} DROP CONSTRAINT IF EXISTS c${i};`).join(''),
          )
        }
      })

      it('TENANT_INDEX_MISSING: a partial index, or an expression index, led by the tenant column does not count', async () => {
        const U = q('items_uuid')
        await target().superExec(`DROP INDEX "${f.schema}"."pgt_items_uuid_tenant_idx"; CREATE INDEX partial_idx ON ${U} (tenant) WHERE title <> ''`)
        try {
          const partial = await check()
          expect(
            partial.findings.map((x) => [x.code, x.object]),
            describeFindings(partial),
          ).toEqual([['TENANT_INDEX_MISSING', `${f.schema}.items_uuid`]])
          await target().superExec(`DROP INDEX "${f.schema}".partial_idx; CREATE INDEX expression_idx ON ${U} ((tenant::text))`)
          expect(codes(await check())).toEqual(['TENANT_INDEX_MISSING'])
          // A plain index led by the tenant column, with more keys after it, serves.
          await target().superExec(`CREATE INDEX plain_idx ON ${U} (tenant, title)`)
          await expectClean()
        } finally {
          await target().superExec(
            `DROP INDEX IF EXISTS "${f.schema}".partial_idx; DROP INDEX IF EXISTS "${f.schema}".expression_idx; DROP INDEX IF EXISTS "${f.schema}".plain_idx`,
          )
          await f.ownerLogin.exec(`CREATE INDEX pgt_items_uuid_tenant_idx ON ${U} (tenant)`)
        }
        await expectClean()
      })

      it('TABLE_NOT_DECLARED: a table the tenant role may use through column grants only is found', async () => {
        const U = q('items_uuid')
        const declared = () => specs().filter((s) => s.name !== 'items_uuid')
        await target()
          .superExec(`REVOKE ALL ON ${U} FROM "${f.options.tenantRole}"; GRANT SELECT (id, tenant), UPDATE (title) ON ${U} TO "${f.options.tenantRole}";
          ALTER TABLE ${U} NO FORCE ROW LEVEL SECURITY; ALTER TABLE ${U} DISABLE ROW LEVEL SECURITY`)
        try {
          const report = await check({ tables: declared() })
          expect(report.tables).toContain(`${f.schema}.items_uuid`)
          expect(
            report.findings
              .filter((x) => x.object === `${f.schema}.items_uuid`)
              .map((x) => x.code)
              .sort(),
            describeFindings(report),
          ).toEqual(['FORCE_DISABLED', 'RLS_DISABLED', 'TABLE_NOT_DECLARED'])
        } finally {
          await target()
            .superExec(`REVOKE ALL ON ${U} FROM "${f.options.tenantRole}"; GRANT SELECT, INSERT, UPDATE, DELETE ON ${U} TO "${f.options.tenantRole}";
            ALTER TABLE ${U} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${U} FORCE ROW LEVEL SECURITY`)
          await f.login.activate()
        }
        await expectClean()
      })

      it('ROLE_BYPASSRLS on the login, with the fix for PGlite too', async () => {
        const [hit] = await expectFinding(
          `ALTER ROLE "${f.owner}" BYPASSRLS`,
          'ROLE_BYPASSRLS',
          `role "${f.owner}" (the login)`,
          `ALTER ROLE "${f.owner}" NOBYPASSRLS`,
        )
        expect(hit?.severity).toBe('warning')
        expect(hit?.fix).toContain(`ALTER ROLE "${f.owner}" NOBYPASSRLS;`)
        expect(hit?.fix.includes('await leaveSuperuser(db) once, before migrating')).toBe(target().name === 'pglite')
      })

      it('the fixes that re-apply the migration give the drizzle-kit command too', async () => {
        const report = await check({ tenantRole: 'pgt_no_such_role' })
        const missing = report.findings.find((x) => x.code === 'ROLE_MISSING')
        expect(missing?.fix).toContain('migrationSql(tables, options).up')
        expect(missing?.fix).toContain(MIGRATE_WITH_DRIZZLE_KIT)
        expect(missing?.fix).not.toContain('\n')
      })
    })

    describe(`${strategy} strategy, the migration run by another login (the superuser)`, () => {
      it('LOGIN_CANNOT_SCOPE: every scope fails with 42501 until the login is granted what the migration granted the superuser', async () => {
        const suffix = uniqueSuffix()
        const schema = `pgt_${suffix}`
        const owner = `pgt_owner_${suffix}`
        const options = { schema, strategy, rolePrefix: `pgt_t${suffix}_`, tenantRole: `pgt_rls_${suffix}`, adminRole: `pgt_admin_${suffix}` }
        const spec: TableSpec = { schema, name: 'items_text', column: 'tenant', type: 'text' }
        let app: Login | undefined
        const pglite = target().name === 'pglite'
        const leave = async () => (pglite ? void (await app!.exec(`SET SESSION AUTHORIZATION "${owner}"`)) : app!.activate())
        // RESET SESSION AUTHORIZATION keeps the login on PGlite; naming its superuser goes back.
        const back = async () => (pglite && app ? void (await app.exec('SET SESSION AUTHORIZATION postgres')) : undefined)
        await target().superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}"`)
        try {
          const login = await target().login(owner)
          app = login
          await login.exec(`CREATE TABLE "${schema}"."items_text" (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL)`)
          await target().superExec(buildMigration([spec], options).up)
          const managerOn = (login: Login) => PostgresManager.fromDrizzle(login.db, { ...options, tables: [makeTables(schema).text] })
          if (strategy === 'role') {
            const superLogin = await target().login(null)
            await managerOn(superLogin).createTenant('acme')
          } else {
            await target().superExec(`INSERT INTO "${schema}"."tenant_registry" (id) VALUES ('acme')`)
          }
          // On PGlite the session stays the superuser's under SET ROLE, and SET ROLE is decided by
          // the session user: leave it, as leaveSuperuser does, for the login to be the app's.
          await leave()
          const scope = () => managerOn(login).withTenant('acme', (tx) => tx.execute(sql`SELECT count(*) FROM ${sql.raw(`"${schema}"."items_text"`)}`))
          const refused = await scope().then(
            () => undefined,
            (error: unknown) => error,
          )
          expect(sqlState(refused), String(refused)).toBe('42501')

          const report = await checkDatabase(clientOf(login), { ...options, tables: [spec], ignore: [TEMP] })
          expect(
            report.findings.map((x) => [x.code, x.severity, x.object]),
            describeFindings(report),
          ).toEqual([['LOGIN_CANNOT_SCOPE', 'error', `role "${owner}" (the login)`]])
          const [hit] = report.findings
          expect(hit?.message).toContain(`cannot SET ROLE to "${options.tenantRole}" and "${options.adminRole}"`)
          expect(hit?.message).toContain('permission denied (42501)')
          expect(hit?.fix).toMatch(/^-- run the migration as this login/)
          const [version] = await login.exec(`SELECT current_setting('server_version_num')::int AS v`)
          const modern = Number(version?.['v']) >= 160000
          expect(hit?.fix).toContain(`GRANT "${options.tenantRole}", "${options.adminRole}" TO "${owner}"${modern ? ' WITH INHERIT FALSE, SET TRUE' : ''};`)
          if (strategy === 'setting') {
            expect(hit?.message).toContain(`cannot read the tenant registry ${schema}.tenant_registry`)
            expect(hit?.fix).toContain(`ALTER TABLE "${schema}"."tenant_registry" OWNER TO "${owner}";`)
          } else {
            expect(hit?.message).toContain(`cannot SET ROLE to 1 tenant role ("${options.rolePrefix}acme")`)
          }

          await back()
          for (const x of report.findings) await target().superExec(x.fix)
          await leave()
          const fixed = await checkDatabase(clientOf(login), { ...options, tables: [spec], ignore: [TEMP] })
          expect(fixed.findings, describeFindings(fixed)).toEqual([])
          expect(rowsOf(await scope())).toHaveLength(1)
        } finally {
          await back()
          await target().superExec(cleanupSql(schema, options, owner))
        }
      })
    })
  }

  it('ROLE_SUPERUSER: the login on PGlite is its superuser until leaveSuperuser, a warning there too', async () => {
    const superLogin = await target().login(null)
    const report = await checkDatabase(clientOf(superLogin), { schemas: ['pgt_nothing_here'], ignore: [TEMP, 'NO_TENANT_TABLES'] })
    const hit = report.findings.find((x) => x.code === 'ROLE_SUPERUSER')
    expect(hit?.severity, describeFindings(report)).toBe('warning')
    expect(hit?.object).toMatch(/\(the login\)$/)
    expect(report.ok).toBe(false)
    if (target().name === 'pglite') {
      expect(hit?.fix).toBe('-- await leaveSuperuser(db) once, before migrating (pg-tenants): code outside a scope is then bound by row-level security')
    }
  })
})
