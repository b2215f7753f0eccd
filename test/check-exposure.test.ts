/**
 * checkDatabase's exposure findings: tables the tenant role reaches besides the tenant tables
 * (declared in sharedTables or not), other roles granted the tenant tables or the registry, the
 * tenant role on the registry, SECURITY DEFINER functions of a superuser it may run, and default
 * values of pg_tenants.tenant. Each situation is made by hand (not left to the migration's
 * grants), is reported, and its printed fix, run as the superuser, makes the check clean again.
 * On every target and both strategies, checked as the non-superuser owning login.
 *
 * On the server the database is shared with other test files running at the same time, so what
 * is database-wide (a function PUBLIC may run, a database default) is set up so that no other
 * fixture's check sees it: functions are revoked from PUBLIC in the statement that creates them,
 * and database defaults go to a database of their own.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { checkDatabase, type CheckCode, type CheckOptions, type CheckReport } from '../src/index.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import { resolveOptions } from '../src/core/options.js'
import { POLICY_NAMES } from '../src/core/policy.js'
import { useFixture, type Fixture, type TypeName } from './support/fixture.js'
import { describeTargets } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const TYPES: TypeName[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']
/** PUBLIC's TEMPORARY on the database, which the migration cannot revoke (check.test.ts). */
const TEMP: CheckCode = 'ROLE_CAN_CREATE_TEMP'

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      useFixture(target, strategy, 'owner', (fixture) => (f = fixture))

      const S = (name: string) => `"${f.schema}"."${name}"`
      const tenant = () => `"${f.options.tenantRole}"`
      const specs = (): TableSpec[] =>
        TYPES.map((type) => ({ schema: f.schema, name: `items_${type}`, column: 'tenant', type, length: type === 'varchar' ? 40 : undefined }))
      const client = () => (f.login.db as unknown as { $client: unknown }).$client
      const check = async (extra: CheckOptions = {}): Promise<CheckReport> => {
        await f.login.activate()
        return checkDatabase(client(), { ...f.options, tables: specs(), ...extra, ignore: [TEMP, ...(extra.ignore ?? [])] })
      }
      const show = (report: CheckReport) => report.findings.map((x) => `${x.code} ${x.object}: ${x.message}\n    fix: ${x.fix}`).join('\n')

      async function expectClean(extra: CheckOptions = {}) {
        const report = await check(extra)
        expect(report.findings, show(report)).toEqual([])
      }

      /** Sets up `breakSql` (as the superuser), expects exactly the findings `codes` (in any
       * order), runs every fix as the superuser and expects a clean check; returns the findings. */
      async function expectFindings(breakSql: string, codes: CheckCode[], extra: CheckOptions = {}) {
        await target().superExec(breakSql)
        const report = await check(extra)
        expect(report.findings.map((x) => x.code).sort(), show(report)).toEqual([...codes].sort())
        expect(report.ok).toBe(false)
        for (const x of report.findings) {
          expect(x.message).not.toContain('\n')
          await target().superExec(x.fix)
        }
        await expectClean(extra)
        return report.findings
      }

      /** A table that is not tenant-scoped, owned by the login, which the tenant role has no
       * privilege on (whatever the migration's default privileges gave it). */
      async function withPlans(body: () => Promise<void>) {
        await f.ownerLogin.exec(`CREATE TABLE ${S('plans')} (id serial PRIMARY KEY, name text NOT NULL); REVOKE ALL ON ${S('plans')} FROM ${tenant()}`)
        try {
          await body()
        } finally {
          await target().superExec(`DROP TABLE IF EXISTS ${S('plans')} CASCADE`)
          await f.login.activate()
        }
      }

      it('a freshly migrated schema has none of these findings', async () => {
        await expectClean()
      })

      it('SHARED_TABLE_UNDECLARED: a table the tenant role reaches directly, through PUBLIC, through a group or on a column', async () => {
        await withPlans(async () => {
          await expectClean() // no privilege: nothing to report
          const [direct] = await expectFindings(`GRANT SELECT ON ${S('plans')} TO ${tenant()}`, ['SHARED_TABLE_UNDECLARED'])
          expect(direct?.severity).toBe('error')
          expect(direct?.object).toBe(`${f.schema}.plans`)
          expect(direct?.message).toContain(
            `the tenant role "${f.options.tenantRole}" has SELECT on it, but it is neither a tenant table nor declared in sharedTables`,
          )
          expect(direct?.fix).toContain(`sharedTables: { "plans": 'read' } (or 'write')`)
          expect(direct?.fix).toContain(`REVOKE ALL ON ${S('plans')} FROM ${tenant()};`)

          const [open] = await expectFindings(`GRANT SELECT, INSERT ON ${S('plans')} TO PUBLIC`, ['SHARED_TABLE_UNDECLARED'])
          expect(open?.message).toContain('has SELECT, INSERT on it, through PUBLIC')
          expect(open?.fix).toContain(`REVOKE ALL ON ${S('plans')} FROM ${tenant()}, PUBLIC;`)

          const group = `${f.options.tenantRole}_readers`
          await target().superExec(`CREATE ROLE "${group}"; GRANT "${group}" TO ${tenant()}`)
          try {
            const [through] = await expectFindings(`GRANT UPDATE ON ${S('plans')} TO "${group}"`, ['SHARED_TABLE_UNDECLARED'])
            expect(through?.message).toContain(`has UPDATE on it, through role "${group}"`)
          } finally {
            await target().superExec(`DROP ROLE "${group}"`)
          }

          const [column] = await expectFindings(`GRANT SELECT (name) ON ${S('plans')} TO ${tenant()}`, ['SHARED_TABLE_UNDECLARED'])
          expect(column?.message).toContain('has SELECT (some columns) on it')
          await expectFindings(`GRANT TRUNCATE ON ${S('plans')} TO ${tenant()}`, ['SHARED_TABLE_UNDECLARED'])
        })
      })

      it('SHARED_TABLE_UNDECLARED: a view, but not a view over tenant tables (views.ts checks those)', async () => {
        await withPlans(async () => {
          await f.ownerLogin.exec(`CREATE VIEW ${S('plan_names')} AS SELECT name FROM ${S('plans')}`)
          const [view] = await expectFindings(`GRANT SELECT ON ${S('plan_names')} TO ${tenant()}`, ['SHARED_TABLE_UNDECLARED'])
          expect(view?.object).toBe(`view ${f.schema}.plan_names`)
          // A security_invoker view over a tenant table applies the table's policies: not shared.
          await f.ownerLogin.exec(`CREATE VIEW ${S('text_list')} WITH (security_invoker = true) AS SELECT * FROM ${S('items_text')};
            GRANT SELECT ON ${S('text_list')} TO ${tenant()}`)
          try {
            await expectClean()
            // Also when the check is not given the table under it (discovery in another schema).
            await f.login.activate()
            const elsewhere = await checkDatabase(client(), { ...f.options, schemas: [`${f.schema}_none`], ignore: [TEMP] })
            expect(
              elsewhere.findings.map((x) => x.code),
              show(elsewhere),
            ).toEqual(['NO_TENANT_TABLES'])
          } finally {
            await target().superExec(`DROP VIEW ${S('text_list')}`)
          }
        })
      })

      it('sharedTables: a declared table with exactly its privileges is clean, by "table" or "schema.table"', async () => {
        await withPlans(async () => {
          await target().superExec(`GRANT SELECT ON ${S('plans')} TO ${tenant()}`)
          await expectClean({ sharedTables: { plans: 'read' } })
          await target().superExec(`GRANT INSERT, UPDATE, DELETE ON ${S('plans')} TO ${tenant()}`)
          await expectClean({ sharedTables: { [`${f.schema}.plans`]: 'write' } })
          await target().superExec(`REVOKE ALL ON ${S('plans')} FROM ${tenant()}`)
          await expectClean({ sharedTables: { plans: 'none', nope: 'none' } })
        })
      })

      it('SHARED_TABLE_MISMATCH: more than declared is an error, less (or no table) a warning', async () => {
        await withPlans(async () => {
          const read = { sharedTables: { plans: 'read' } } as const
          const [none] = await expectFindings('SELECT 1', ['SHARED_TABLE_MISMATCH'], read)
          expect(none?.severity).toBe('warning')
          expect(none?.message).toContain(
            `is declared 'read' in sharedTables (SELECT), but the tenant role "${f.options.tenantRole}" has no privilege on it: less than declared (SELECT)`,
          )
          expect(none?.fix).toContain(`GRANT SELECT ON ${S('plans')} TO ${tenant()};`)

          const [more] = await expectFindings(`GRANT INSERT ON ${S('plans')} TO ${tenant()}`, ['SHARED_TABLE_MISMATCH'], read)
          expect(more?.severity).toBe('error')
          expect(more?.message).toContain(`has SELECT, INSERT on it: more than declared (INSERT)`)
          expect(more?.fix).toContain(`REVOKE INSERT ON ${S('plans')} FROM ${tenant()}`)

          const write = { sharedTables: { plans: 'write' } } as const
          const [less] = await expectFindings('SELECT 1', ['SHARED_TABLE_MISMATCH'], write)
          expect(less?.severity).toBe('warning')
          expect(less?.message).toContain('less than declared (INSERT, UPDATE, DELETE)')

          const [closed] = await expectFindings('SELECT 1', ['SHARED_TABLE_MISMATCH'], { sharedTables: { plans: 'none' } })
          expect(closed?.severity).toBe('error')
          expect(closed?.message).toContain('more than declared (SELECT, INSERT, UPDATE, DELETE)')

          // On some columns only: less than declared.
          await target().superExec(`GRANT SELECT (name) ON ${S('plans')} TO ${tenant()}`)
          const partial = await check(read)
          expect(
            partial.findings.map((x) => [x.code, x.severity]),
            show(partial),
          ).toEqual([['SHARED_TABLE_MISMATCH', 'warning']])
          expect(partial.findings[0]?.message).toContain('has SELECT (some columns)')
        })
        const missing = await check({ sharedTables: { nope: 'read' } })
        expect(
          missing.findings.map((x) => [x.code, x.severity, x.object]),
          show(missing),
        ).toEqual([['SHARED_TABLE_MISMATCH', 'warning', `${f.schema}.nope`]])
        expect(missing.findings[0]?.message).toContain('there is no such table')
      })

      it('SHARED_TABLE_MISMATCH: a declared table in a schema the tenant role has no USAGE on', async () => {
        const other = `${f.schema}_shared`
        await target()
          .superExec(`CREATE SCHEMA "${other}" AUTHORIZATION "${f.owner}"; CREATE TABLE "${other}".rates (x int); ALTER TABLE "${other}".rates OWNER TO "${f.owner}";
          GRANT SELECT ON "${other}".rates TO ${tenant()}`)
        try {
          const shared = { sharedTables: { [`${other}.rates`]: 'read' } } as const
          const [hit] = await expectFindings('SELECT 1', ['SHARED_TABLE_MISMATCH'], shared)
          expect(hit?.severity).toBe('warning')
          expect(hit?.message).toContain(`and no USAGE on schema "${other}"`)
          expect(hit?.fix).toContain(`GRANT USAGE ON SCHEMA "${other}" TO ${tenant()};`)
          // Not declared, now that it is reachable: reported as such.
          const report = await check()
          expect(
            report.findings.map((x) => [x.code, x.object]),
            show(report),
          ).toEqual([['SHARED_TABLE_UNDECLARED', `${other}.rates`]])
        } finally {
          await target().superExec(`DROP SCHEMA "${other}" CASCADE`)
          await f.login.activate()
        }
      })

      it('SHARED_TABLE_UNDECLARED leaves out the partitions of a tenant table', async () => {
        // A partition without policies of its own (partitions.ts reports it), reachable on a column.
        const events: TableSpec = { schema: f.schema, name: 'events', column: 'tenant', type: 'text' }
        await f.ownerLogin.exec(`CREATE TABLE ${S('events')} (id int, tenant text NOT NULL) PARTITION BY LIST (tenant);
          CREATE TABLE ${S('events_acme')} PARTITION OF ${S('events')} FOR VALUES IN ('acme');
          ${buildMigration([events], f.options).up}
          REVOKE ALL ON ${S('events_acme')} FROM ${tenant()}; GRANT SELECT (id) ON ${S('events_acme')} TO ${tenant()};
          ${Object.values(POLICY_NAMES)
            .map((n) => `DROP POLICY IF EXISTS ${n} ON ${S('events_acme')};`)
            .join(' ')}`)
        try {
          const report = await check({ tables: [...specs(), events] })
          expect(
            report.findings.filter((x) => x.code === 'SHARED_TABLE_UNDECLARED'),
            show(report),
          ).toEqual([])
        } finally {
          await target().superExec(`DROP TABLE ${S('events')}`)
          await f.login.activate()
        }
      })

      it('SHARED_TABLE_UNDECLARED leaves out tenant tables that discovery in other schemas did not check', async () => {
        await f.login.activate()
        const report = await checkDatabase(client(), { ...f.options, schemas: [`${f.schema}_none`], ignore: [TEMP] })
        expect(
          report.findings.map((x) => x.code),
          show(report),
        ).toEqual(['NO_TENANT_TABLES'])
      })

      it('OTHER_ROLE_GRANTED: another role or PUBLIC on a tenant table (a warning), on a column too', async () => {
        const reader = `${f.options.tenantRole}_reader`
        await target().superExec(`CREATE ROLE "${reader}"`)
        try {
          const [hit] = await expectFindings(`GRANT SELECT ON ${S('items_text')} TO "${reader}"`, ['OTHER_ROLE_GRANTED'])
          expect(hit?.severity).toBe('warning')
          expect(hit?.object).toBe(`role "${reader}"`)
          expect(hit?.message).toContain(`has privileges on tenant tables: ${f.schema}.items_text (SELECT)`)
          expect(hit?.message).toContain('any policy added later TO public')
          expect(hit?.fix).toBe(`REVOKE ALL ON ${S('items_text')} FROM "${reader}";`)
          const [column] = await expectFindings(`GRANT UPDATE (title) ON ${S('items_uuid')} TO "${reader}"`, ['OTHER_ROLE_GRANTED'])
          expect(column?.message).toContain(`${f.schema}.items_uuid (UPDATE (title))`)
          const [everyone] = await expectFindings(`GRANT SELECT ON ${S('items_text')} TO PUBLIC`, ['OTHER_ROLE_GRANTED'])
          expect(everyone?.object).toBe('PUBLIC (every role)')
          expect(everyone?.fix).toBe(`REVOKE ALL ON ${S('items_text')} FROM PUBLIC;`)
        } finally {
          await target().superExec(`REVOKE ALL ON ${S('items_text')}, ${S('items_uuid')} FROM "${reader}"; DROP ROLE "${reader}"`)
        }
        // A superuser holds every row anyway: not reported.
        await target().superExec(`GRANT SELECT ON ${S('items_text')} TO CURRENT_USER`)
        try {
          await expectClean()
        } finally {
          await target().superExec(`REVOKE SELECT ON ${S('items_text')} FROM CURRENT_USER`)
        }
      })

      it.runIf(strategy === 'setting')('OTHER_ROLE_GRANTED: another role on the registry is an error', async () => {
        const registry = S(resolveOptions(f.options).registryTable)
        const reader = `${f.options.tenantRole}_lister`
        await target().superExec(`CREATE ROLE "${reader}"`)
        try {
          const [hit] = await expectFindings(`GRANT SELECT ON ${registry} TO "${reader}"`, ['OTHER_ROLE_GRANTED'])
          expect(hit?.severity).toBe('error')
          expect(hit?.message).toContain(`has privileges on the tenant registry ${f.schema}.tenant_registry (SELECT)`)
          expect(hit?.message).toContain('can list every tenant')
        } finally {
          await target().superExec(`DROP ROLE "${reader}"`)
        }
      })

      it.runIf(strategy === 'role')("OTHER_ROLE_GRANTED: not for a tenant role's own grant", async () => {
        const manager = f.manager()
        await manager.createTenant('acme')
        const role = `"${f.options.rolePrefix}acme"`
        try {
          await target().superExec(`GRANT SELECT ON ${S('items_text')} TO ${role}`)
          await expectClean()
        } finally {
          await target().superExec(`REVOKE ALL ON ${S('items_text')} FROM ${role}`)
          await manager.deleteTenant('acme')
        }
      })

      it.runIf(strategy === 'setting')('REGISTRY_EXPOSED: the tenant role on the registry, directly or through PUBLIC', async () => {
        const registry = S(resolveOptions(f.options).registryTable)
        const [hit] = await expectFindings(`GRANT SELECT ON ${registry} TO ${tenant()}`, ['REGISTRY_EXPOSED'])
        expect(hit?.severity).toBe('error')
        expect(hit?.object).toBe(`${f.schema}.tenant_registry`)
        expect(hit?.message).toContain('a tenant scope can list every tenant')
        expect(hit?.fix).toBe(`REVOKE ALL ON ${registry} FROM ${tenant()};`)
        const found = await expectFindings(`GRANT SELECT, INSERT ON ${registry} TO PUBLIC`, ['REGISTRY_EXPOSED', 'OTHER_ROLE_GRANTED'])
        const exposed = found.find((x) => x.code === 'REGISTRY_EXPOSED')
        expect(exposed?.message).toContain('has SELECT, INSERT on the tenant registry, through PUBLIC')
        expect(exposed?.fix).toContain(`FROM ${tenant()}, PUBLIC;`)
        expect(found.find((x) => x.code === 'OTHER_ROLE_GRANTED')?.severity).toBe('error')
      })

      it("SECURITY_DEFINER_BYPASS: a superuser's SECURITY DEFINER function or procedure the tenant role may run", async () => {
        const fn = `${S('peek')}()`
        const [hit] = await expectFindings(
          `CREATE FUNCTION ${fn} RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM ${S('items_text').replaceAll("'", "''")}';
           REVOKE EXECUTE ON FUNCTION ${fn} FROM PUBLIC; GRANT EXECUTE ON FUNCTION ${fn} TO ${tenant()}`,
          ['SECURITY_DEFINER_BYPASS'],
        )
        expect(hit?.severity).toBe('warning')
        expect(hit?.object).toBe(`function ${f.schema}.peek()`)
        expect(hit?.message).toContain('a superuser')
        expect(hit?.message).toContain(
          "it runs with its owner's rights, so row-level security does not apply to what it reads or writes, and the check cannot see what that is",
        )
        expect(hit?.fix).toMatch(
          new RegExp(`^-- as its owner "[^"]+" \\(or a superuser\\):\\nREVOKE EXECUTE ON FUNCTION "${f.schema}"\\."peek"\\(\\) FROM ${tenant()};\\n-- or`),
        )
        await target().superExec(`DROP FUNCTION ${fn}`)

        const proc = `${S('poke')}(integer)`
        const [procedure] = await expectFindings(
          `CREATE PROCEDURE ${proc} LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
           REVOKE EXECUTE ON PROCEDURE ${proc} FROM PUBLIC; GRANT EXECUTE ON PROCEDURE ${proc} TO ${tenant()}`,
          ['SECURITY_DEFINER_BYPASS'],
        )
        // PostgreSQL names a procedure's arguments with their mode: poke(IN integer).
        expect(procedure?.object).toBe(`procedure ${f.schema}.poke(IN integer)`)
        expect(procedure?.fix).toContain(`REVOKE EXECUTE ON PROCEDURE "${f.schema}"."poke"(IN integer) FROM ${tenant()};`)
        await target().superExec(`DROP PROCEDURE ${proc}`)

        // Owned by a BYPASSRLS role, or by a member of a superuser role: as good.
        const bypass = `${f.options.tenantRole}_bypass`
        const root = `${f.options.tenantRole}_root`
        const member = `${f.options.tenantRole}_member`
        await target().superExec(`CREATE ROLE "${bypass}" BYPASSRLS; CREATE ROLE "${root}" SUPERUSER; CREATE ROLE "${member}"; GRANT "${root}" TO "${member}"`)
        try {
          const make = (owner: string) =>
            `CREATE FUNCTION ${fn} RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
             REVOKE EXECUTE ON FUNCTION ${fn} FROM PUBLIC; GRANT EXECUTE ON FUNCTION ${fn} TO ${tenant()}; ALTER FUNCTION ${fn} OWNER TO "${owner}"`
          const [byBypass] = await expectFindings(make(bypass), ['SECURITY_DEFINER_BYPASS'])
          expect(byBypass?.message).toContain(`owned by "${bypass}", a BYPASSRLS role`)
          await target().superExec(`DROP FUNCTION ${fn}`)
          const [byMember] = await expectFindings(make(member), ['SECURITY_DEFINER_BYPASS'])
          expect(byMember?.message).toContain(`owned by "${member}", a member of "${root}" (superuser or BYPASSRLS)`)
          await target().superExec(`DROP FUNCTION ${fn}`)
        } finally {
          await target().superExec(`DROP FUNCTION IF EXISTS ${fn}; DROP ROLE "${bypass}"; DROP ROLE "${member}"; DROP ROLE "${root}"`)
        }

        // Not SECURITY DEFINER, or owned by the login (no superuser): row-level security applies.
        await target().superExec(
          `CREATE FUNCTION ${S('plain')}() RETURNS int LANGUAGE sql AS 'SELECT 1'; REVOKE EXECUTE ON FUNCTION ${S('plain')}() FROM PUBLIC; GRANT EXECUTE ON FUNCTION ${S('plain')}() TO ${tenant()}`,
        )
        await f.ownerLogin.exec(`CREATE FUNCTION ${S('own')}() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`)
        try {
          await expectClean()
        } finally {
          await target().superExec(`DROP FUNCTION ${S('plain')}(); DROP FUNCTION ${S('own')}()`)
          await f.login.activate()
        }
      })

      it('SECURITY_DEFINER_BYPASS: through PUBLIC, as every function is by default (PGlite: the server is shared)', async ({ skip }) => {
        if (target().name !== 'pglite') skip()
        const fn = `${S('peek')}()`
        const [hit] = await expectFindings(`CREATE FUNCTION ${fn} RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`, ['SECURITY_DEFINER_BYPASS'])
        expect(hit?.message).toContain('(through PUBLIC, as every role may execute a function by default)')
        expect(hit?.fix).toContain(`FROM ${tenant()}, PUBLIC;`)
        await target().superExec(`DROP FUNCTION ${fn}`)
      })

      it.runIf(strategy === 'setting')('DEFAULT_TENANT_SETTING: database and role defaults (PGlite: the server is shared)', async ({ skip }) => {
        if (target().name !== 'pglite') skip()
        const [db] = await target().superExec('SELECT current_database() AS name')
        const database = `"${String(db?.['name'])}"`
        const [onDb] = await expectFindings(`ALTER DATABASE ${database} SET pg_tenants.tenant = 'acme'`, ['DEFAULT_TENANT_SETTING'])
        expect(onDb?.severity).toBe('error')
        expect(onDb?.object).toBe(`database ${database}`)
        expect(onDb?.message).toContain(`sets pg_tenants.tenant = "acme" for every session`)
        expect(onDb?.message).toContain(`is tenant "acme" instead of no tenant`)
        expect(onDb?.fix).toContain(`ALTER DATABASE ${database} RESET pg_tenants.tenant;`)
        const [onRole] = await expectFindings(`ALTER ROLE "${f.owner}" SET pg_tenants.tenant = 'acme'`, ['DEFAULT_TENANT_SETTING'])
        expect(onRole?.object).toBe(`role "${f.owner}" in every database`)
        expect(onRole?.fix).toBe(`ALTER ROLE "${f.owner}" RESET pg_tenants.tenant;`) // the login's own: it may run it
        const [inDb] = await expectFindings(`ALTER ROLE "${f.options.tenantRole}" IN DATABASE ${database} SET pg_tenants.tenant = 'globex'`, [
          'DEFAULT_TENANT_SETTING',
        ])
        expect(inDb?.object).toBe(`role "${f.options.tenantRole}" in database ${database}`)
        expect(inDb?.fix).toContain(`ALTER ROLE ${tenant()} IN DATABASE ${database} RESET pg_tenants.tenant;`)
        const [all] = await expectFindings(`ALTER ROLE ALL SET pg_tenants.tenant = 'acme'`, ['DEFAULT_TENANT_SETTING'])
        expect(all?.object).toBe('every role in every database')
        // An empty default is no tenant: nothing to report.
        await target().superExec(`ALTER ROLE "${f.owner}" SET pg_tenants.tenant = ''`)
        try {
          await expectClean()
        } finally {
          await target().superExec(`ALTER ROLE "${f.owner}" RESET pg_tenants.tenant`)
        }
      })

      it.runIf(strategy === 'role')('DEFAULT_TENANT_SETTING: not in the role strategy, which never reads the setting (PGlite)', async ({ skip }) => {
        if (target().name !== 'pglite') skip()
        await target().superExec(`ALTER ROLE "${f.owner}" SET pg_tenants.tenant = 'acme'`)
        try {
          await expectClean()
        } finally {
          await target().superExec(`ALTER ROLE "${f.owner}" RESET pg_tenants.tenant`)
        }
      })

      it.runIf(strategy === 'setting')("DEFAULT_TENANT_SETTING: the check's own connection has a tenant outside any scope", async ({ skip }) => {
        if (target().name === 'pgbouncer') skip() // a session SET does not stay with a client there
        const hitOf = (report: CheckReport) => {
          expect(
            report.findings.map((x) => x.code),
            show(report),
          ).toEqual(['DEFAULT_TENANT_SETTING'])
          const [hit] = report.findings
          expect(hit?.object).toBe(`setting pg_tenants.tenant (the check's connection)`)
          expect(hit?.message).toContain(`has pg_tenants.tenant = "acme" outside any scope`)
          expect(hit?.fix).toMatch(/^RESET pg_tenants\.tenant;/)
          return hit!
        }
        if (target().name === 'pglite') {
          await f.login.exec(`SET pg_tenants.tenant = 'acme'`)
          try {
            const hit = hitOf(await check())
            await f.login.exec(hit.fix)
            await expectClean()
          } finally {
            await f.login.exec('RESET pg_tenants.tenant')
          }
          return
        }
        const u = new URL(process.env['DATABASE_URL']!)
        u.username = f.owner
        const one = new pg.Client({ connectionString: u.toString() })
        await one.connect()
        try {
          await one.query(`SET pg_tenants.tenant = 'acme'`)
          const options = { ...f.options, tables: specs(), ignore: [TEMP] }
          const hit = hitOf(await checkDatabase(one, options))
          await one.query(hit.fix)
          const fixed = await checkDatabase(one, options)
          expect(fixed.findings, show(fixed)).toEqual([])
        } finally {
          await one.end()
        }
      })

      it.runIf(strategy === 'setting')('DEFAULT_TENANT_SETTING: defaults of a database of its own on the server, and its fixes', async ({ skip }) => {
        if (target().name !== 'node-postgres') skip()
        const name = `pgt_default_${randomBytes(4).toString('hex')}`
        await target().superExec(`CREATE DATABASE "${name}" TEMPLATE template0`)
        const pool = () => {
          const u = new URL(process.env['DATABASE_URL']!)
          u.username = f.owner
          u.pathname = `/${name}`
          const p = new pg.Pool({ connectionString: u.toString(), max: 1 })
          // DROP DATABASE … WITH (FORCE) below may still reach a connection that is closing.
          p.on('error', () => {})
          return p
        }
        const defaults = async () => {
          // A new pool each time: a connection keeps the defaults it started with.
          const p = pool()
          try {
            return (await checkDatabase(p, f.options)).findings.filter((x) => x.code === 'DEFAULT_TENANT_SETTING')
          } finally {
            await p.end()
          }
        }
        try {
          await target().superExec(`ALTER DATABASE "${name}" SET pg_tenants.tenant = 'acme';
            ALTER ROLE "${f.owner}" IN DATABASE "${name}" SET pg_tenants.tenant = 'globex'`)
          const found = await defaults()
          // The connection's own value comes from them: reported once, as the defaults.
          expect(found.map((x) => x.object)).toEqual([`database "${name}"`, `role "${f.owner}" in database "${name}"`])
          expect(found[0]?.fix).toMatch(/^-- as the database owner "[^"]+" \(or a superuser\):\nALTER DATABASE/)
          for (const x of found) await target().superExec(x.fix)
          expect(await defaults()).toEqual([])
        } finally {
          await target().superExec(`ALTER ROLE "${f.owner}" IN DATABASE "${name}" RESET ALL`)
          await target().superExec(`DROP DATABASE "${name}" WITH (FORCE)`)
        }
      })
    })
  }
})
