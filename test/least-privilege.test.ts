/**
 * Least privilege by default (issue "Hardening, part 2", §1 and §2): the tenant role reaches the
 * tenant tables and the declared shared tables only; a role that is not ours gets no row from a
 * tenant policy even with a grant and a tenant setting of its own; an existing role used by
 * another database is not taken over; every partition of a tenant table is protected; a partial
 * index does not stand in for the tenant index; two migrations at once both succeed.
 *
 * Every test runs as a non-superuser owner login, with FORCE on, on every target and both
 * strategies (the server-only ones say so).
 */
import { sql } from 'drizzle-orm'
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { sqlState, TenantError } from '../src/core/errors.js'
import { buildMigration } from '../src/core/migration.js'
import type { TenantOptions } from '../src/core/options.js'
import { PostgresManager, withRls } from '../src/drizzle/index.js'
import { describeTargets, rowsOf, uniqueSuffix, type Login, type Row, type Target } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const

interface World {
  readonly schema: string
  readonly owner: string
  readonly options: TenantOptions
  readonly login: Login
  readonly manager: PostgresManager<Login['db']>
  /** `up` for the todos table (and `events` when partitioned), with `extra` options. */
  up(extra?: TenantOptions): Promise<void>
  /** Runs SQL in acme's scope; the rows of its last statement, or the error. */
  asTenant(tenant: string, statement: string): Promise<Row[]>
  cleanup(): Promise<void>
}

async function createWorld(target: Target, strategy: (typeof STRATEGIES)[number]): Promise<World> {
  const suffix = uniqueSuffix()
  const schema = `pgt_lp_${suffix}`
  const owner = `pgt_lp_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy,
    rolePrefix: `pgt_lp${suffix}_`,
    tenantRole: `pgt_lp_rls_${suffix}`,
    adminRole: `pgt_lp_admin_${suffix}`,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const login = await target.login(owner)
  await login.exec(`
    CREATE TABLE "${schema}".todos (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);
    CREATE TABLE "${schema}".plans (id serial PRIMARY KEY, name text NOT NULL);
    INSERT INTO "${schema}".plans (name) VALUES ('free'), ('pro');`)
  const todos = withRls(pgSchema(schema).table('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }))
  const specs = [{ schema, name: 'todos', column: 'tenant', type: 'text' as const }]
  const manager = PostgresManager.fromDrizzle(login.db, { ...options, tables: [todos] })
  return {
    schema,
    owner,
    options,
    login,
    manager,
    async up(extra = {}) {
      const partitioned = await login.exec(`SELECT to_regclass('"${schema}".events') IS NOT NULL AS yes`)
      const tables = partitioned[0]?.['yes'] === true ? [...specs, { ...specs[0]!, name: 'events' }] : specs
      await login.exec(buildMigration(tables, { ...options, ...extra }).up)
    },
    async asTenant(tenant, statement) {
      return manager.withTenant(tenant, async (tx) => rowsOf(await tx.execute(sql.raw(statement))))
    },
    async cleanup() {
      const roles = [options.tenantRole!, options.adminRole!]
      await target.superExec(`
        DROP SCHEMA IF EXISTS "${schema}" CASCADE;
        DO $$ DECLARE r text; BEGIN
          FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '${options.rolePrefix}') OR rolname IN ('${roles.join("', '")}') OR starts_with(rolname, 'pgt_lp_other_${suffix}') LOOP
            EXECUTE format('DROP OWNED BY %I CASCADE', r); EXECUTE format('DROP ROLE %I', r);
          END LOOP; END $$;
        DROP OWNED BY "${owner}" CASCADE; DROP ROLE "${owner}";`)
    },
  }
}

async function failure(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => {
      throw new Error('expected a failure')
    },
    (error: unknown) => error,
  )
}

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let w: World
      beforeAll(async () => {
        w = await createWorld(target(), strategy)
        await w.up()
        await w.manager.createTenant('acme')
        await w.manager.createTenant('globex')
        await w.manager.withTenant('acme', (tx) => tx.execute(sql.raw(`INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('acme', 'a')`)))
        await w.manager.withTenant('globex', (tx) => tx.execute(sql.raw(`INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('globex', 'g')`)))
      })
      afterAll(async () => {
        await w?.cleanup()
      })
      beforeEach(async () => {
        await w.login.activate()
      })

      describe('shared tables', () => {
        it('a table that is not declared is closed to tenants, and re-running up keeps it closed', async () => {
          await w.up()
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".plans`)))).toBe('42501')
          // A table created after the setup gets no grant either (no default privileges).
          await w.login.exec(`CREATE TABLE "${w.schema}".api_keys (id serial PRIMARY KEY, secret text)`)
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".api_keys`)))).toBe('42501')
          await w.up()
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".api_keys`)))).toBe('42501')
          await w.login.exec(`DROP TABLE "${w.schema}".api_keys`)
        })

        it("'read', 'write' and 'none' set exactly those privileges", async () => {
          await w.up({ sharedTables: { plans: 'read' } })
          expect(await w.asTenant('acme', `SELECT name FROM "${w.schema}".plans ORDER BY id`)).toEqual([{ name: 'free' }, { name: 'pro' }])
          expect(sqlState(await failure(w.asTenant('acme', `INSERT INTO "${w.schema}".plans (name) VALUES ('x')`)))).toBe('42501')
          await w.up({ sharedTables: { [`${w.schema}.plans`]: 'write' } })
          await w.asTenant('acme', `INSERT INTO "${w.schema}".plans (name) VALUES ('team')`) // needs the sequence too
          await w.up({ sharedTables: { plans: 'none' } })
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".plans`)))).toBe('42501')
          // 'none' also closes what an older setup (or a hand-made grant) opened.
          await w.login.exec(`GRANT SELECT ON "${w.schema}".plans TO "${w.options.tenantRole}"`)
          await w.up({ sharedTables: { plans: 'none' } })
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".plans`)))).toBe('42501')
        })

        it("a sequence a default uses without owning it is granted; 'none' on a table that is gone is harmless; a dotted name in the list form", async () => {
          await w.login.exec(`CREATE SEQUENCE "${w.schema}".shared_ids START 100000;
            CREATE TABLE "${w.schema}".counters (id int DEFAULT nextval('"${w.schema}".shared_ids'), n int);
            CREATE TABLE "${w.schema}"."a.b" (x int);
            ALTER TABLE "${w.schema}".todos ALTER COLUMN id SET DEFAULT nextval('"${w.schema}".shared_ids');`)
          try {
            await w.up({
              sharedTables: [
                { schema: w.schema, name: 'counters', access: 'write' },
                { schema: w.schema, name: 'a.b', access: 'read' },
                { schema: w.schema, name: 'dropped_long_ago', access: 'none' },
                { schema: `${w.schema}_gone`, name: 'x', access: 'none' },
              ],
            })
            await w.asTenant('acme', `INSERT INTO "${w.schema}".counters (n) VALUES (1)`)
            await w.asTenant('acme', `INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('acme', 'seq')`)
            expect(await w.asTenant('acme', `SELECT count(*)::int AS n FROM "${w.schema}"."a.b"`)).toEqual([{ n: 0 }])
          } finally {
            await w.login.exec(`ALTER TABLE "${w.schema}".todos ALTER COLUMN id SET DEFAULT nextval('"${w.schema}".todos_id_seq');
              DELETE FROM "${w.schema}".todos WHERE title = 'seq'; DROP TABLE "${w.schema}".counters, "${w.schema}"."a.b"; DROP SEQUENCE "${w.schema}".shared_ids;`)
            await w.up()
          }
        })

        it('refuses a table declared both tenant and shared', () => {
          const error = (() => {
            try {
              buildMigration([{ schema: w.schema, name: 'todos', column: 'tenant', type: 'text' }], { ...w.options, sharedTables: { todos: 'read' } })
            } catch (e) {
              return e
            }
          })()
          expect(error).toBeInstanceOf(TenantError)
          expect((error as TenantError).code).toBe('INVALID_OPTIONS')
        })
      })

      describe('roles that are not ours', () => {
        it('a role with a grant and a tenant setting of its own sees no row and writes none', async () => {
          const other = `pgt_lp_other_${w.options.rolePrefix!.slice(6, -1)}_r`
          const prefixed = `${w.options.rolePrefix}evil` // looks like a tenant role, is not a member
          await target().superExec(`CREATE ROLE "${other}" NOLOGIN; CREATE ROLE "${prefixed}" NOLOGIN; GRANT "${other}", "${prefixed}" TO "${w.owner}";`)
          await w.login.exec(`GRANT USAGE ON SCHEMA "${w.schema}" TO "${other}", "${prefixed}";
            GRANT SELECT, INSERT ON "${w.schema}".todos TO "${other}", "${prefixed}";
            GRANT USAGE ON SEQUENCE "${w.schema}".todos_id_seq TO "${other}", "${prefixed}";`)
          // A row such a role would see if the condition let it pick a tenant by its name.
          await w.manager.withAdmin((tx) => tx.execute(sql.raw(`INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('evil', 'x')`)))
          for (const role of [other, prefixed]) {
            const rows = await w.login.exec(`BEGIN; SET LOCAL ROLE "${role}"; SELECT set_config('pg_tenants.tenant', 'acme', true);
              SELECT count(*)::int AS n FROM "${w.schema}".todos; COMMIT;`)
            expect(rows.at(-1), role).toEqual({ n: 0 })
            // In a DO block, so that the failure leaves no transaction open.
            const insert = await failure(
              w.login.exec(`DO $$ BEGIN SET LOCAL ROLE "${role}"; PERFORM set_config('pg_tenants.tenant', 'evil', true);
              INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('evil', 'x'); END $$`),
            )
            expect(sqlState(insert), role).toBe('42501')
            expect(String((insert as Error).message), role).toMatch(/row-level security/)
          }
          await w.login.exec(`REVOKE ALL ON "${w.schema}".todos FROM "${other}", "${prefixed}";
            REVOKE ALL ON SEQUENCE "${w.schema}".todos_id_seq FROM "${other}", "${prefixed}"`)
          await w.manager.withAdmin((tx) => tx.execute(sql.raw(`DELETE FROM "${w.schema}".todos WHERE tenant = 'evil'`)))
        })

        it('up takes the registry away from PUBLIC', async () => {
          if (strategy !== 'setting') return
          await w.login.exec(`GRANT SELECT ON "${w.schema}".tenant_registry TO PUBLIC`)
          await w.up()
          const [row] = await w.login.exec(`SELECT has_table_privilege('public', '"${w.schema}".tenant_registry', 'SELECT') AS public_reads`)
          expect(row).toEqual({ public_reads: false })
        })
      })

      describe('roles that exist already', () => {
        // Some tests migrate with other role names: put the world's own back after each.
        afterEach(async () => {
          await w.login.activate()
          await w.up()
        })

        it('refuses a role with members other than the login that this database does not use yet, unless adoptRoles', async () => {
          const name = `pgt_lp_other_${w.options.rolePrefix!.slice(6, -1)}_m`
          const member = `${name}_login`
          await target().superExec(
            `CREATE ROLE "${name}" NOLOGIN; CREATE ROLE "${member}" LOGIN; GRANT "${name}" TO "${member}"; GRANT "${name}" TO "${w.owner}" WITH ADMIN OPTION;`,
          )
          const error = await failure(w.up({ tenantRole: name, adminRole: `${name}_admin` }))
          expect(String((error as Error).message)).toMatch(/already exists and has members other than you \("?pgt_lp_other_\w+_m_login"?\)/)
          expect(sqlState(error)).toBe('55006')
          await w.up({ tenantRole: name, adminRole: `${name}_admin`, adoptRoles: true })
          // Once this database uses it, running up again is not a take-over.
          await w.up({ tenantRole: name, adminRole: `${name}_admin` })
        })

        it('never takes over a role that is SUPERUSER, BYPASSRLS or LOGIN, adoptRoles or not', async () => {
          const name = `pgt_lp_other_${w.options.rolePrefix!.slice(6, -1)}_p`
          await target().superExec(`CREATE ROLE "${name}" LOGIN BYPASSRLS; GRANT "${name}" TO "${w.owner}" WITH ADMIN OPTION;`)
          for (const adoptRoles of [false, true]) {
            const error = await failure(w.up({ tenantRole: name, adminRole: `${name}_admin`, adoptRoles }))
            expect(String((error as Error).message)).toContain(`role "${name}" already exists and is SUPERUSER, BYPASSRLS or LOGIN`)
          }
        })

        it('role strategy: refuses a login named with the tenant prefix, which would be taken for a tenant', async () => {
          if (strategy !== 'role') return
          const error = await failure(w.up({ rolePrefix: 'pgt_lp_owner_' }))
          expect(String((error as Error).message)).toMatch(/the login "pgt_lp_owner_\w+" starts with the tenant role prefix/)
        })

        it('role strategy: a login named with the prefix and granted the tenant role is no tenant', async () => {
          if (strategy !== 'role') return
          const svc = `${w.options.rolePrefix}svc`
          await target().superExec(`CREATE ROLE "${svc}" LOGIN; GRANT "${w.options.tenantRole}" TO "${svc}"; GRANT USAGE ON SCHEMA "${w.schema}" TO "${svc}"`)
          await w.manager.withAdmin((tx) => tx.execute(sql.raw(`INSERT INTO "${w.schema}".todos (tenant, title) VALUES ('svc', 'secret')`)))
          try {
            // Not a tenant role: a scope for it is refused rather than run as the login itself (not
            // found; on a server SET ROLE to it may fail first, as the app's login is no member).
            const refused = await failure(w.manager.withTenant('svc', (tx) => tx.execute(sql`SELECT 1`), { createIfMissing: false }))
            expect(['TENANT_NOT_FOUND', 'SETUP_MISSING']).toContain((refused as TenantError).code)
            // Connected as itself (a real login: not on PGlite, whose session user is the superuser).
            if (target().name !== 'pglite') {
              const login = await target().login(svc)
              expect(await login.exec(`SELECT count(*)::int AS n FROM "${w.schema}".todos`)).toEqual([{ n: 0 }])
              await login.end()
            }
          } finally {
            await w.login.activate()
            await w.manager.withAdmin((tx) => tx.execute(sql.raw(`DELETE FROM "${w.schema}".todos WHERE tenant = 'svc'`)))
            await target().superExec(`REVOKE USAGE ON SCHEMA "${w.schema}" FROM "${svc}"; DROP ROLE "${svc}"`)
          }
        })

        it('refuses a role that another database uses (server only)', async () => {
          const url = process.env['DATABASE_URL']
          if (target().name === 'pglite' || !url) return
          const name = `pgt_lp_other_${w.options.rolePrefix!.slice(6, -1)}_d`
          const db = name.slice(0, 60)
          await target().superExec(`CREATE ROLE "${name}" NOLOGIN; GRANT "${name}" TO "${w.owner}" WITH ADMIN OPTION;`)
          await target().superExec(`CREATE DATABASE "${db}"`)
          try {
            const other = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, `/${db}`) })
            await other.connect()
            await other.query(`CREATE TABLE t (a int); GRANT SELECT ON t TO "${name}"`)
            await other.end()
            const error = await failure(w.up({ tenantRole: name, adminRole: `${name}_admin` }))
            expect(String((error as Error).message)).toContain(`database(s) ${db} use it`)
            expect(String((error as { hint?: string }).hint)).toMatch(/tenantRole and adminRole.*adoptRoles: true/)
            await w.up({ tenantRole: name, adminRole: `${name}_admin`, adoptRoles: true })
          } finally {
            await target().superExec(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
          }
        })
      })

      describe('partitions', () => {
        beforeAll(async () => {
          await w.login.activate()
          await w.login.exec(`
            CREATE TABLE "${w.schema}".events (id int, tenant text NOT NULL, what text) PARTITION BY LIST (tenant);
            CREATE TABLE "${w.schema}".events_acme PARTITION OF "${w.schema}".events FOR VALUES IN ('acme');
            CREATE TABLE "${w.schema}".events_rest PARTITION OF "${w.schema}".events DEFAULT PARTITION BY HASH (id);
            CREATE TABLE "${w.schema}".events_rest_0 PARTITION OF "${w.schema}".events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 0);
            CREATE TABLE "${w.schema}".events_rest_1 PARTITION OF "${w.schema}".events_rest FOR VALUES WITH (MODULUS 2, REMAINDER 1);`)
          await w.up()
          for (const tenant of ['acme', 'globex']) {
            await w.asTenant(tenant, `INSERT INTO "${w.schema}".events (id, tenant, what) SELECT g, '${tenant}', 'e' FROM generate_series(1, 4) g`)
          }
        })

        it('puts row level security, FORCE and the three policies on every partition, at any depth', async () => {
          const rows = await w.login.exec(`SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
              (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid AND starts_with(p.polname, 'pg_tenants_')) AS policies
            FROM pg_partition_tree('"${w.schema}".events') t JOIN pg_class c ON c.oid = t.relid ORDER BY 1`)
          expect(rows).toEqual(
            ['events', 'events_acme', 'events_rest', 'events_rest_0', 'events_rest_1'].map((name) => ({ name, rls: true, force: true, policies: 3 })),
          )
        })

        it('a tenant reading a partition directly gets no grant, and with one still sees only its rows', async () => {
          expect(await w.asTenant('acme', `SELECT count(*)::int AS n FROM "${w.schema}".events`)).toEqual([{ n: 4 }])
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".events_rest_0`)))).toBe('42501')
          await w.login.exec(`GRANT SELECT, UPDATE, DELETE ON "${w.schema}".events_rest_0, "${w.schema}".events_rest_1 TO "${w.options.tenantRole}"`)
          expect(await w.asTenant('acme', `SELECT count(*)::int AS n FROM "${w.schema}".events_rest_0`)).toEqual([{ n: 0 }])
          expect(await w.asTenant('acme', `WITH d AS (DELETE FROM "${w.schema}".events_rest_1 RETURNING 1) SELECT count(*)::int AS n FROM d`)).toEqual([
            { n: 0 },
          ])
          await w.login.exec(`REVOKE ALL ON "${w.schema}".events_rest_0, "${w.schema}".events_rest_1 FROM "${w.options.tenantRole}"`)
        })

        it('a table attached as a partition loses a tenant grant it had, at the next up', async () => {
          await w.login
            .exec(`CREATE TABLE "${w.schema}".events_hooli (id int, tenant text NOT NULL CONSTRAINT pgt_events_tenant_not_empty CHECK (tenant <> ''), what text);
            GRANT SELECT ON "${w.schema}".events_hooli TO "${w.options.tenantRole}";
            ALTER TABLE "${w.schema}".events ATTACH PARTITION "${w.schema}".events_hooli FOR VALUES IN ('hooli');`)
          await w.up()
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".events_hooli`)))).toBe('42501')
        })

        it('a partition created after the migration is closed to tenants until up runs again', async () => {
          await w.login.exec(`CREATE TABLE "${w.schema}".events_initech PARTITION OF "${w.schema}".events FOR VALUES IN ('initech')`)
          expect(sqlState(await failure(w.asTenant('acme', `SELECT * FROM "${w.schema}".events_initech`)))).toBe('42501')
          expect(await w.asTenant('acme', `SELECT count(*)::int AS n FROM "${w.schema}".events`)).toEqual([{ n: 4 }])
          await w.up()
          const [row] = await w.login.exec(`SELECT relforcerowsecurity AS force FROM pg_class WHERE oid = '"${w.schema}".events_initech'::regclass`)
          expect(row).toEqual({ force: true })
        })
      })

      it('an invalid index on the tenant column does not stand in for the tenant index', async () => {
        await w.login.exec(`CREATE TABLE "${w.schema}".marks (id serial, tenant text NOT NULL); INSERT INTO "${w.schema}".marks (tenant) VALUES ('a'), ('a');`)
        // A unique index that failed to build stays behind, invalid (the catalog flag stands for it).
        await target().superExec(
          `CREATE INDEX marks_tenant ON "${w.schema}".marks (tenant); UPDATE pg_index SET indisvalid = false WHERE indexrelid = '"${w.schema}".marks_tenant'::regclass`,
        )
        await w.login.exec(buildMigration([{ schema: w.schema, name: 'marks', column: 'tenant', type: 'text' }], w.options).up)
        const rows = await w.login.exec(`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = '"${w.schema}".marks'::regclass AND indisvalid`)
        expect(rows).toEqual([{ n: 1 }])
        await w.login.exec(`DROP TABLE "${w.schema}".marks`)
      })

      it('a partial index on the tenant column does not stand in for the tenant index', async () => {
        await w.login.exec(`CREATE TABLE "${w.schema}".notes (id serial, tenant text NOT NULL);
          CREATE INDEX notes_partial ON "${w.schema}".notes (tenant) WHERE tenant <> 'x';`)
        await w.login.exec(buildMigration([{ schema: w.schema, name: 'notes', column: 'tenant', type: 'text' }], w.options).up)
        const rows = await w.login.exec(
          `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = '"${w.schema}".notes'::regclass AND indpred IS NULL`,
        )
        expect(rows.map((r) => String(r['name']))).toEqual([expect.stringContaining('pgt_notes_tenant_idx')])
        await w.login.exec(`DROP TABLE "${w.schema}".notes`)
      })
    })
  }
})

describe('two migrations at once (server)', () => {
  const url = process.env['DATABASE_URL']
  it.skipIf(!url)('both succeed, every time', async () => {
    const suffix = uniqueSuffix()
    const schema = `pgt_lp2_${suffix}`
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const options: TenantOptions = { schema, tenantRole: `pgt_lp2_rls_${suffix}`, adminRole: `pgt_lp2_admin_${suffix}` }
    try {
      await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".todos (id serial, tenant text NOT NULL)`)
      const up = buildMigration([{ schema, name: 'todos', column: 'tenant', type: 'text' }], options).up
      await admin.query(up)
      const clients = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })]
      await Promise.all(clients.map((c) => c.connect()))
      try {
        for (let round = 0; round < 5; round++) {
          const results = await Promise.allSettled(clients.map((c) => c.query(up)))
          expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok'])
        }
      } finally {
        await Promise.all(clients.map((c) => c.end()))
      }
    } finally {
      await admin.query(
        `DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP OWNED BY "${options.tenantRole}", "${options.adminRole}"; DROP ROLE IF EXISTS "${options.tenantRole}"; DROP ROLE IF EXISTS "${options.adminRole}"`,
      )
      await admin.end()
    }
  })
})
