/**
 * The drizzle-kit flow, end to end, in a temp project under test/.tmp that installs the built
 * package (ESM + CommonJS, as published) in its own node_modules: a schema file with withRls
 * tables → `drizzle-kit generate` → `pg-tenants generate` (the real bin) → `drizzle-kit migrate`
 * → isolation holds for a non-superuser login that owns the tables. Then: a second run writes
 * nothing; a new table gets only its own part. On PGlite always, and on the server at
 * DATABASE_URL (a fresh database per run) when it is set.
 *
 * Also, in-process: `pg-tenants generate` on hand-made drizzle folders, for the exact files it
 * writes and for bad input (exit 2, one line, nothing written).
 */
import { PGlite } from '@electric-sql/pglite'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Io } from '../src/cli/io.js'
import { main } from '../src/cli/main.js'
import { sqlState } from '../src/core/errors.js'
import { migrationStatements, type TableSpec } from '../src/core/migration.js'
import { resolveOptions, type TenantOptions } from '../src/core/options.js'
import { POLICY_NAMES, tenantCondition } from '../src/core/policy.js'
import type { AnyPgDatabase } from '../src/drizzle/bind.js'
import { PostgresManager } from '../src/drizzle/index.js'
import { uniqueSuffix, type Row } from './support/targets.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BASE = join(ROOT, 'test', '.tmp', `drizzle-kit-${randomBytes(4).toString('hex')}`)
const DRIZZLE_KIT = join(ROOT, 'node_modules', 'drizzle-kit', 'bin.cjs')
const PG_TENANTS = join(BASE, 'node_modules', 'pg-tenants', 'dist', 'cli.js')
const DATABASE_URL = process.env['DATABASE_URL']
const STEP = 240_000

interface Run {
  code: number
  out: string
  err: string
}

/** Runs a Node script as its own process. */
function node(script: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, maxBuffer: 1 << 26 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, out: stdout, err: stderr })
      },
    )
  })
}

/** Runs and expects exit 0, showing the output when it fails. */
async function ok(script: string, args: readonly string[], cwd: string): Promise<Run> {
  const run = await node(script, args, cwd)
  expect(run.code, `${relative(ROOT, script)} ${args.join(' ')}\n${run.out}\n${run.err}`).toBe(0)
  return run
}

/** Every file under `dir` with its content, to show that a run wrote nothing. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name)
      if (statSync(path).isDirectory()) walk(path)
      else files[relative(dir, path)] = readFileSync(path, 'utf8')
    }
  }
  if (existsSync(dir)) walk(dir)
  return files
}

beforeAll(async () => {
  // The package as published: the build (ESM and CommonJS) with its package.json, in the temp
  // project's own node_modules. drizzle-orm, drizzle-kit and tsx resolve from the repository's.
  const pkg = join(BASE, 'node_modules', 'pg-tenants')
  mkdirSync(pkg, { recursive: true })
  const build = await node(join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), ['--out-dir', join(pkg, 'dist'), '--silent'], ROOT)
  expect(build.code, build.err).toBe(0)
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'))
  writeFileSync(join(BASE, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
}, STEP)

afterAll(() => rmSync(BASE, { recursive: true, force: true }))

// ---------------------------------------------------------------------------------------------
// End to end

const roles = { tenantRole: `pgt_dk_rls_${uniqueSuffix()}`, adminRole: `pgt_dk_admin_${uniqueSuffix()}` }
const options: TenantOptions = roles
// The tenant role comes from the tables' withRls (their drizzle-kit policy names it); the admin
// role from the flag.
const roleFlags = ['--admin-role', roles.adminRole]

const HEAD = `import { index, pgTable, serial, text, varchar } from 'drizzle-orm/pg-core'
import { withRls } from 'pg-tenants/drizzle'
const RLS = { tenantRole: '${roles.tenantRole}' }
`
const TWO_TABLES = `${HEAD}
export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }), RLS)
export const projects = withRls(
  pgTable('projects', { id: serial('id').primaryKey(), name: text('name').notNull(), org: varchar('org', { length: 40 }).notNull() }, (t) => [index('projects_org_idx').on(t.org)]),
  { column: 'org', ...RLS },
)
export const countries = pgTable('countries', { code: text('code').primaryKey() })
`
const THREE_TABLES = `${TWO_TABLES}
export const notes = withRls(pgTable('notes', { id: serial('id').primaryKey(), body: text('body').notNull(), tenant: text('tenant').notNull() }), RLS)
`
const NOTES_WRAPPED = "withRls(pgTable('notes', { id: serial('id').primaryKey(), body: text('body').notNull(), tenant: text('tenant').notNull() }), RLS)"
/** THREE_TABLES with notes taken out of withRls. */
const NOTES_LEFT = THREE_TABLES.replace(NOTES_WRAPPED, NOTES_WRAPPED.slice('withRls('.length, -', RLS)'.length))
const TODOS =
  "export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }), RLS)\n"
/** How to insert one row for a tenant into each table, and its tenant column. */
const TABLES: Record<string, { column: string; insert: (tenant: string) => string }> = {
  todos: { column: 'tenant', insert: (t) => `INSERT INTO todos (title, tenant) VALUES ('x', '${t}')` },
  projects: { column: 'org', insert: (t) => `INSERT INTO projects (name, org) VALUES ('x', '${t}')` },
  notes: { column: 'tenant', insert: (t) => `INSERT INTO notes (body, tenant) VALUES ('x', '${t}')` },
}

/** A connection as the non-superuser login that owns the tables. */
interface OwnerLogin {
  readonly db: AnyPgDatabase
  exec(text: string): Promise<Row[]>
  close(): Promise<void>
}

interface KitTarget {
  readonly name: string
  /** drizzle.config.ts's dbCredentials and driver. */
  readonly credentials: string
  setup(): Promise<void>
  owner(): Promise<OwnerLogin>
  teardown(): Promise<void>
}

function kitTargets(project: (name: string) => string, roles: { tenantRole: string; adminRole: string }): KitTarget[] {
  const list: KitTarget[] = []
  const owner = `pgt_dk_owner_${uniqueSuffix()}`
  const grantRoles = `DO $$ BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${roles.tenantRole}') THEN
        GRANT "${roles.tenantRole}", "${roles.adminRole}" TO "${owner}" WITH INHERIT FALSE, SET TRUE;
      END IF;
    END $$;`
  // PGlite: drizzle-kit migrate runs as its superuser (PGlite has no other login). The owner
  // login is made from it as test/support/targets.ts does: the tables are handed to a
  // non-superuser role, granted the pg-tenants roles as the migration grants them to its own
  // login, and the one session switches to it with SET ROLE.
  list.push({
    name: 'pglite',
    credentials: `driver: 'pglite', dbCredentials: { url: './data' }`,
    async setup() {},
    async owner() {
      const lite = await PGlite.create(join(project('pglite'), 'data'))
      await lite.exec(`
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${owner}') THEN CREATE ROLE "${owner}" LOGIN; END IF;
        END $$;
        DO $$ DECLARE t text; BEGIN
          FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
            EXECUTE format('ALTER TABLE public.%I OWNER TO %I', t, '${owner}');
          END LOOP;
        END $$;
        ${grantRoles}
        SET ROLE "${owner}";`)
      return {
        db: drizzlePglite(lite),
        exec: async (text) => (await lite.exec(text)).flatMap((r) => r.rows as Row[]),
        close: () => lite.close(),
      }
    },
    async teardown() {},
  })
  if (DATABASE_URL) {
    // The server: a fresh database owned by a non-superuser CREATEROLE login, which runs the
    // migrations itself (the production setup).
    const database = `pgt_dk_${uniqueSuffix()}`
    const url = new URL(DATABASE_URL)
    url.username = owner
    url.password = ''
    url.pathname = `/${database}`
    const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
    list.push({
      name: 'node-postgres',
      credentials: `dbCredentials: { url: '${url.toString()}' }`,
      async setup() {
        await admin.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE`)
        await admin.query(`CREATE DATABASE "${database}" OWNER "${owner}"`)
      },
      async owner() {
        const pool = new pg.Pool({ connectionString: url.toString(), max: 3 })
        // pool.end() resolves before its clients' sockets have closed, so the DROP DATABASE … WITH (FORCE)
        // of the teardown can still terminate one of them: its error must not reach a pool with no listener.
        pool.on('error', () => undefined)
        return {
          db: drizzleNodePg(pool),
          exec: async (text) => {
            const result = (await pool.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]
            return (Array.isArray(result) ? result : [result]).flatMap((r) => r.rows as Row[])
          },
          close: () => pool.end(),
        }
      },
      async teardown() {
        await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
        await admin.query(`DROP ROLE IF EXISTS "${roles.tenantRole}", "${roles.adminRole}", "${owner}"`)
        await admin.end()
      },
    })
  }
  return list
}

/** Everything the setup promises, for each table: catalog state, isolation through the manager,
 * and nothing visible to the owner outside a scope. */
async function expectIsolated(login: OwnerLogin, options: TenantOptions, tables: readonly string[]): Promise<void> {
  for (const table of tables) {
    const [flags] = await login.exec(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = 'public.${table}'::regclass`)
    expect(flags, table).toEqual({ rls: true, force: true })
    const policies = await login.exec(
      `SELECT polname AS name, polpermissive AS permissive FROM pg_policy WHERE polrelid = 'public.${table}'::regclass ORDER BY polname`,
    )
    expect(policies, table).toEqual([
      { name: POLICY_NAMES.access, permissive: true },
      { name: POLICY_NAMES.admin, permissive: true },
      { name: POLICY_NAMES.isolation, permissive: false },
    ])
  }
  const manager = PostgresManager.fromDrizzle(login.db, options)
  const tenants = [`acme${uniqueSuffix()}`, `globex${uniqueSuffix()}`] as const
  for (const table of tables) {
    const { column, insert } = TABLES[table]!
    for (const tenant of tenants) await manager.withTenant(tenant, (tx) => tx.execute(sql.raw(insert(tenant))))
    for (const tenant of tenants) {
      const rows = await manager.withTenant(tenant, async (tx) => rowsOf(await tx.execute(sql.raw(`SELECT ${column} AS t FROM ${table}`))))
      expect(rows.length, `${table} as ${tenant}`).toBeGreaterThan(0)
      expect(new Set(rows.map((r) => r['t'])), `${table} as ${tenant}`).toEqual(new Set([tenant]))
    }
    const error = await manager
      .withTenant(tenants[0], (tx) => tx.execute(sql.raw(insert(tenants[1]))))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(sqlState(error), `${table}: ${tenants[0]} writing a ${tenants[1]} row`).toBe('42501')
    const all = await manager.withAdmin(async (tx) => rowsOf(await tx.execute(sql.raw(`SELECT ${column} AS t FROM ${table}`))))
    for (const tenant of tenants)
      expect(
        all.some((r) => r['t'] === tenant),
        `admin sees ${tenant} in ${table}`,
      ).toBe(true)
    // FORCE: the owner itself sees nothing outside a scope.
    const [outside] = await login.exec(`SELECT count(*)::int AS n FROM ${table}`)
    expect(outside, `${table} outside any scope, as the owner`).toEqual({ n: 0 })
  }
}

function rowsOf(result: unknown): Row[] {
  return Array.isArray(result) ? (result as Row[]) : ((result as { rows: Row[] }).rows ?? [])
}

for (const target of kitTargets((name) => join(BASE, name), roles)) {
  describe(`drizzle-kit flow on ${target.name}`, () => {
    const dir = join(BASE, target.name)
    const generate = ['generate', '--schema', './src/db/schema.ts', '--out', './drizzle', ...roleFlags]
    const journal = () =>
      JSON.parse(readFileSync(join(dir, 'drizzle', 'meta', '_journal.json'), 'utf8')) as { entries: { idx: number; tag: string; when: number }[] }
    const migration = (tag: string) => readFileSync(join(dir, 'drizzle', `${tag}.sql`), 'utf8')

    beforeAll(async () => {
      mkdirSync(join(dir, 'src', 'db'), { recursive: true })
      writeFileSync(
        join(dir, 'drizzle.config.ts'),
        `import { defineConfig } from 'drizzle-kit'\n` +
          `export default defineConfig({ dialect: 'postgresql', schema: './src/db/schema.ts', out: './drizzle', ${target.credentials} })\n`,
      )
      await target.setup()
    }, STEP)
    afterAll(() => target.teardown(), STEP)

    it(
      'schema → drizzle-kit generate → pg-tenants generate → drizzle-kit migrate: tenants are isolated',
      async () => {
        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), TWO_TABLES)
        await ok(DRIZZLE_KIT, ['generate'], dir)
        const [first] = journal().entries
        const kitSql = migration(first!.tag)
        // drizzle-kit emits ENABLE and the tenant policy by itself, and nothing else of ours.
        expect(kitSql).toContain('ALTER TABLE "todos" ENABLE ROW LEVEL SECURITY')
        expect(kitSql).toContain('CREATE POLICY "pg_tenants_access" ON "projects" AS PERMISSIVE FOR ALL TO public USING ("org" = (SELECT')
        expect(kitSql).not.toMatch(/FORCE|GRANT|CREATE ROLE|pg_tenants_isolation/)

        const ours = await ok(PG_TENANTS, generate, dir)
        expect(ours.out).toMatch(/^Wrote drizzle\/0001_pg_tenants\.sql/)
        const entries = journal().entries
        expect(entries.map((e) => e.tag)).toEqual([first!.tag, '0001_pg_tenants'])
        const text = migration('0001_pg_tenants')
        expect(text.split('\n')[0]).toMatch(/^-- pg-tenants: \{"v":1,/)
        expect(text).toContain('ALTER TABLE "public"."todos" FORCE ROW LEVEL SECURITY;')
        expect(text).toContain('ALTER TABLE "public"."projects" FORCE ROW LEVEL SECURITY;')
        expect(text).not.toContain('countries')

        // drizzle-kit accepts the folder, and sees nothing new to generate.
        await ok(DRIZZLE_KIT, ['check'], dir)
        const again = await ok(DRIZZLE_KIT, ['generate'], dir)
        expect(again.out).toMatch(/No schema changes/)
        expect(journal().entries).toHaveLength(2)

        await ok(DRIZZLE_KIT, ['migrate'], dir)
        const login = await target.owner()
        try {
          await expectIsolated(login, options, ['todos', 'projects'])
          // A table without withRls stays a plain table.
          const [plain] = await login.exec(`SELECT relrowsecurity AS rls FROM pg_class WHERE oid = 'public.countries'::regclass`)
          expect(plain).toEqual({ rls: false })
        } finally {
          await login.close()
        }
      },
      STEP,
    )

    it(
      'run again with nothing changed: writes nothing',
      async () => {
        const before = tree(join(dir, 'drizzle'))
        const run = await ok(PG_TENANTS, generate, dir)
        expect(run.out).toMatch(/^Nothing to write: .*\(0001_pg_tenants\)/)
        expect(tree(join(dir, 'drizzle'))).toEqual(before)
      },
      STEP,
    )

    it(
      'a new withRls table: drizzle-kit generate, then pg-tenants generate writes only what it needs',
      async () => {
        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), THREE_TABLES)
        // Before drizzle-kit has seen the table, pg-tenants refuses, and writes nothing.
        const before = tree(join(dir, 'drizzle'))
        const early = await node(PG_TENANTS, generate, dir)
        expect(early.code).toBe(2)
        expect(early.err).toMatch(/^pg-tenants: Table public\.notes is not in drizzle-kit's latest snapshot .*run drizzle-kit generate first/)
        expect(tree(join(dir, 'drizzle'))).toEqual(before)

        await ok(DRIZZLE_KIT, ['generate'], dir)
        const kitTag = journal().entries.at(-1)!.tag
        expect(kitTag).toMatch(/^0002_/)

        // Control: drizzle-kit's part alone (ENABLE, no FORCE) does not hold the table's owner.
        await ok(DRIZZLE_KIT, ['migrate'], dir)
        let login = await target.owner()
        try {
          await login.exec(`${TABLES['notes']!.insert('control-a')}; ${TABLES['notes']!.insert('control-b')}`)
          const [seen] = await login.exec(`SELECT count(*)::int AS n FROM notes`)
          expect(seen).toEqual({ n: 2 })
        } finally {
          await login.close()
        }

        const run = await ok(PG_TENANTS, generate, dir)
        expect(run.out).toMatch(/^Wrote drizzle\/0003_pg_tenants\.sql/)
        const text = migration('0003_pg_tenants')
        expect(text).toContain('"public"."notes"')
        expect(text).toContain('ALTER TABLE "public"."notes" FORCE ROW LEVEL SECURITY;')
        expect(text).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."notes" TO "${roles.tenantRole}", "${roles.adminRole}";`)
        const body = text.split('\n').slice(1).join('\n') // below the header, which lists every table
        expect(body).not.toMatch(/"public"\."(todos|projects)"|CREATE ROLE|tenant_registry/)
        const header = JSON.parse(text.split('\n')[0]!.slice('-- pg-tenants: '.length)) as { tables: { name: string }[] }
        expect(header.tables.map((t) => t.name).sort()).toEqual(['notes', 'projects', 'todos'])
        await ok(DRIZZLE_KIT, ['check'], dir)

        await ok(DRIZZLE_KIT, ['migrate'], dir)
        login = await target.owner()
        try {
          await expectIsolated(login, options, ['notes', 'todos'])
          const manager = PostgresManager.fromDrizzle(login.db, options)
          const control = await manager.withTenant('control-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM notes`)))
          expect(control).toEqual([{ tenant: 'control-a' }])
        } finally {
          await login.close()
        }
        const last = await ok(PG_TENANTS, generate, dir)
        expect(last.out).toMatch(/^Nothing to write: .*\(0003_pg_tenants\)/)
      },
      STEP,
    )

    it(
      'a table taken out of withRls stays closed to tenants (drizzle-kit turns its RLS off; pg-tenants on again)',
      async () => {
        expect(NOTES_LEFT).not.toBe(THREE_TABLES)
        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), NOTES_LEFT)
        // Before drizzle-kit has seen the table leave, pg-tenants refuses, and writes nothing: its
        // migration would come first, and drizzle-kit's (turning RLS off) after it.
        const before = tree(join(dir, 'drizzle'))
        const early = await node(PG_TENANTS, generate, dir)
        expect(early.code).toBe(2)
        expect(early.err).toMatch(
          /^pg-tenants: Table public\.notes left withRls, but drizzle-kit's latest snapshot .* still has its pg_tenants_access policy: run drizzle-kit generate first, then this command\.\n$/,
        )
        expect(tree(join(dir, 'drizzle'))).toEqual(before)

        await ok(DRIZZLE_KIT, ['generate'], dir)
        const kitTag = journal().entries.at(-1)!.tag
        expect(migration(kitTag)).toContain('ALTER TABLE "notes" DISABLE ROW LEVEL SECURITY')

        const run = await ok(PG_TENANTS, generate, dir)
        expect(run.out).toMatch(/^Wrote drizzle\/0005_pg_tenants\.sql/)
        expect(run.err).toMatch(/^pg-tenants: warning: table "public\.notes" is no longer wrapped in withRls\./)
        expect(migration('0005_pg_tenants')).toContain('ALTER TABLE "public"."notes" ENABLE ROW LEVEL SECURITY;')
        await ok(DRIZZLE_KIT, ['check'], dir)

        await ok(DRIZZLE_KIT, ['migrate'], dir)
        const login = await target.owner()
        try {
          const [flags] = await login.exec(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = 'public.notes'::regclass`)
          expect(flags).toEqual({ rls: true, force: true })
          const manager = PostgresManager.fromDrizzle(login.db, options)
          const seen = await manager.withTenant('control-a', async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM notes`)))
          expect(seen, 'a tenant reads no row of the table that left withRls').toEqual([])
          const write = await manager
            .withTenant('control-a', (tx) => tx.execute(sql.raw(TABLES['notes']!.insert('control-a'))))
            .then(
              () => undefined,
              (e: unknown) => e,
            )
          expect(sqlState(write)).toBe('42501')
          const all = await manager.withAdmin(async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM notes`)))
          expect(all.length).toBeGreaterThan(0)
        } finally {
          await login.close()
        }
        const again = await ok(PG_TENANTS, generate, dir)
        expect(again.out).toMatch(/^Nothing to write: .*\(0005_pg_tenants\)/)
        expect(again.err).toBe('')
      },
      STEP,
    )

    it(
      'a table dropped, migrated, then added back gets its whole part again',
      async () => {
        expect(NOTES_LEFT).toContain(TODOS)
        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), NOTES_LEFT.replace(TODOS, ''))
        await ok(DRIZZLE_KIT, ['generate'], dir)
        expect(migration(journal().entries.at(-1)!.tag)).toContain('DROP TABLE "todos"')
        const gone = await ok(PG_TENANTS, generate, dir)
        expect(gone.out).toMatch(/^Nothing to write: .*\(0005_pg_tenants\)/)
        await ok(DRIZZLE_KIT, ['migrate'], dir)

        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), NOTES_LEFT)
        await ok(DRIZZLE_KIT, ['generate'], dir)
        expect(migration(journal().entries.at(-1)!.tag)).toContain('CREATE TABLE "todos"')
        const back = await ok(PG_TENANTS, generate, dir)
        expect(back.out).toMatch(/^Wrote drizzle\/0008_pg_tenants\.sql/)
        const text = migration('0008_pg_tenants')
        expect(text).toContain('ALTER TABLE "public"."todos" FORCE ROW LEVEL SECURITY;')
        expect(text).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."todos" TO "${roles.tenantRole}", "${roles.adminRole}";`)
        expect(text).toContain('CREATE POLICY pg_tenants_isolation ON "public"."todos"')
        await ok(DRIZZLE_KIT, ['check'], dir)

        await ok(DRIZZLE_KIT, ['migrate'], dir)
        const login = await target.owner()
        try {
          await expectIsolated(login, options, ['todos'])
        } finally {
          await login.close()
        }
        expect((await ok(PG_TENANTS, generate, dir)).out).toMatch(/^Nothing to write: .*\(0008_pg_tenants\)/)
      },
      STEP,
    )

    it(
      'widening the tenant column (varchar(40) to varchar(80)): the policies make way for the ALTER, and tenants stay isolated',
      async () => {
        const wide = NOTES_LEFT.replace("varchar('org', { length: 40 })", "varchar('org', { length: 80 })")
        expect(wide).not.toBe(NOTES_LEFT)
        writeFileSync(join(dir, 'src', 'db', 'schema.ts'), wide)
        // Before drizzle-kit has seen the change, pg-tenants refuses, and writes nothing.
        const before = tree(join(dir, 'drizzle'))
        const early = await node(PG_TENANTS, generate, dir)
        expect(early.code).toBe(2)
        expect(early.err).toMatch(/^pg-tenants: Table public\.projects changed since drizzle-kit's latest snapshot .*run drizzle-kit generate first/)
        expect(tree(join(dir, 'drizzle'))).toEqual(before)

        await ok(DRIZZLE_KIT, ['generate'], dir)
        const kitTag = journal().entries.at(-1)!.tag
        const alter = 'ALTER TABLE "projects" ALTER COLUMN "org" SET DATA TYPE varchar(80);'
        const kitBefore = migration(kitTag)
        expect(kitBefore).toContain(alter)

        const run = await ok(PG_TENANTS, generate, dir)
        expect(run.out).toMatch(/^Wrote drizzle\/0010_pg_tenants\.sql/)
        expect(run.err).toBe(
          `pg-tenants: edited drizzle/${kitTag}.sql: a tenant column changes type there, so the pg-tenants policies are dropped before that ALTER and put back after it (PostgreSQL cannot change the type of a column a policy uses).\n`,
        )
        const kitAfter = migration(kitTag)
        const [head, tail] = kitAfter.split(alter) as [string, string]
        for (const name of Object.values(POLICY_NAMES)) {
          expect(head).toContain(`DROP POLICY IF EXISTS ${name} ON "public"."projects";--> statement-breakpoint\n`)
          expect(tail).toContain(`CREATE POLICY ${name} ON "public"."projects"`)
        }
        // drizzle-kit's own statements are all still there, in their order.
        expect(kitAfter.split('--> statement-breakpoint\n').filter((c) => kitBefore.split('--> statement-breakpoint\n').includes(c))).toEqual(
          kitBefore.split('--> statement-breakpoint\n'),
        )
        expect(migration('0010_pg_tenants')).toContain('CREATE POLICY pg_tenants_isolation ON "public"."projects"')
        await ok(DRIZZLE_KIT, ['check'], dir)
        expect((await ok(DRIZZLE_KIT, ['generate'], dir)).out).toMatch(/No schema changes/)

        await ok(DRIZZLE_KIT, ['migrate'], dir)
        const login = await target.owner()
        try {
          const [column] = await login.exec(
            `SELECT character_maximum_length AS n FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'projects' AND column_name = 'org'`,
          )
          expect(column).toEqual({ n: 80 })
          await expectIsolated(login, options, ['projects'])
          // The wider column takes an id longer than 40 characters, within its tenant.
          const long = `tenant-${'x'.repeat(50)}`
          const manager = PostgresManager.fromDrizzle(login.db, options)
          await manager.withTenant(long, (tx) => tx.execute(sql.raw(TABLES['projects']!.insert(long))))
          const rows = await manager.withTenant(long, async (tx) => rowsOf(await tx.execute(sql`SELECT org FROM projects`)))
          expect(rows).toEqual([{ org: long }])
        } finally {
          await login.close()
        }
        expect((await ok(PG_TENANTS, generate, dir)).out).toMatch(/^Nothing to write: .*\(0010_pg_tenants\)/)
      },
      STEP,
    )

    it(
      'a shared table: --shared countries=read lets tenants read it; the same flag again writes nothing; dropping it revokes',
      async () => {
        const readCountries = async () => {
          const login = await target.owner()
          try {
            await login.exec(`INSERT INTO countries (code) VALUES ('fr') ON CONFLICT DO NOTHING`)
            const manager = PostgresManager.fromDrizzle(login.db, options)
            const read = await manager.withTenant('acme', async (tx) => rowsOf(await tx.execute(sql`SELECT code FROM countries`))).catch((e: unknown) => e)
            const write = await manager
              .withTenant('acme', (tx) => tx.execute(sql`INSERT INTO countries (code) VALUES ('de')`))
              .then(
                () => undefined,
                (e: unknown) => e,
              )
            return { read: Array.isArray(read) ? read : sqlState(read), write: sqlState(write) }
          } finally {
            await login.close()
          }
        }
        expect(await readCountries()).toEqual({ read: '42501', write: '42501' }) // not declared: closed

        const shared = await ok(PG_TENANTS, [...generate, '--shared', 'countries=read'], dir)
        expect(shared.out).toMatch(/^Wrote drizzle\/0011_pg_tenants\.sql/)
        expect(migration('0011_pg_tenants')).toContain('GRANT SELECT ON "public"."countries" TO')
        expect((await ok(PG_TENANTS, [...generate, '--shared', 'countries=read'], dir)).out).toMatch(/^Nothing to write: .*\(0011_pg_tenants\)/)
        await ok(DRIZZLE_KIT, ['check'], dir)
        await ok(DRIZZLE_KIT, ['migrate'], dir)
        expect(await readCountries()).toEqual({ read: [{ code: 'fr' }], write: '42501' })

        const undeclared = await ok(PG_TENANTS, generate, dir)
        expect(undeclared.out).toMatch(/^Wrote drizzle\/0012_pg_tenants\.sql/)
        await ok(DRIZZLE_KIT, ['migrate'], dir)
        expect(await readCountries()).toEqual({ read: '42501', write: '42501' })
      },
      STEP,
    )
  })
}

// ---------------------------------------------------------------------------------------------
// In-process: the files written, and bad input

describe('pg-tenants generate, in-process', () => {
  const dir = join(BASE, 'inproc')
  let n = 0
  /** A fresh project: a schema importing pg-tenants from the sources, and a drizzle folder whose
   * latest snapshot holds `tables` as drizzle-kit would have them, each with the using clause of
   * its pg_tenants_access policy ('' for a table without one), or no folder at all. */
  function project(opts: { schema?: string; snapshotTables?: Record<string, string>; tag?: string; migrations?: Record<string, string> } = {}): string {
    const cwd = join(dir, String(++n))
    mkdirSync(join(cwd, 'drizzle', 'meta'), { recursive: true })
    writeFileSync(
      join(cwd, 'schema.ts'),
      `import { pgTable, serial, text } from 'drizzle-orm/pg-core'\n` +
        `import { withRls } from '../../../../../src/drizzle/index.js'\n` +
        (opts.schema ?? `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))\n`),
    )
    writeFileSync(join(cwd, 'throws.ts'), `throw new Error('no config here')\n`)
    if (opts.snapshotTables) {
      const tables = Object.fromEntries(
        Object.entries(opts.snapshotTables).map(([key, using]) => [
          key,
          { name: key.split('.')[1], policies: using === '' ? {} : { [POLICY_NAMES.access]: { name: POLICY_NAMES.access, using } } },
        ]),
      )
      const tag = opts.tag ?? '0000_first'
      const prefix = tag.split('_')[0]
      const entries = [{ idx: 0, version: '7', when: 1_700_000_000_000, tag, breakpoints: true }]
      for (const [i, extra] of Object.keys(opts.migrations ?? {}).entries()) {
        entries.push({ idx: i + 1, version: '7', when: 1_700_000_000_001 + i, tag: extra, breakpoints: true })
        writeFileSync(join(cwd, 'drizzle', `${extra}.sql`), opts.migrations![extra]!)
      }
      writeFileSync(join(cwd, 'drizzle', `${tag}.sql`), 'CREATE TABLE "todos" ();')
      writeFileSync(join(cwd, 'drizzle', 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'postgresql', entries }, null, 2))
      writeFileSync(
        join(cwd, 'drizzle', 'meta', `${prefix}_snapshot.json`),
        JSON.stringify(
          {
            id: 'snap-0',
            prevId: '00000000-0000-0000-0000-000000000000',
            version: '7',
            dialect: 'postgresql',
            tables,
            _meta: { columns: { x: 1 }, schemas: {}, tables: {} },
          },
          null,
          2,
        ),
      )
    }
    return cwd
  }
  const todosUsing = tenantCondition(resolveOptions(), 'tenant', 'text')

  async function cli(cwd: string, argv: string[]): Promise<Run> {
    let out = ''
    let err = ''
    const io: Io = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (err += text) },
      env: {},
      cwd,
    }
    const code = await main(['generate', '--schema', 'schema.ts', '--out', 'drizzle', ...argv], io)
    return { code, out, err }
  }

  /** Exit 2, one line on stderr, nothing on stdout, and not one file changed. */
  async function expectRefused(cwd: string, argv: string[], pattern: RegExp): Promise<void> {
    const before = tree(cwd)
    const run = await cli(cwd, argv)
    expect(run.err).toMatch(pattern)
    expect(run.code).toBe(2)
    expect(run.out).toBe('')
    expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
    expect(run.err).toMatch(/^pg-tenants: /)
    expect(tree(cwd)).toEqual(before)
  }

  it('writes a custom migration as drizzle-kit generate --custom does: SQL, snapshot copy, journal entry', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
    const start = Date.now()
    const run = await cli(cwd, ['--name', 'rls'])
    expect(run.err).toBe('')
    expect(run.out).toMatch(/^Wrote drizzle\/0001_rls\.sql \(the setup and 1 tables\)/)
    const journal = JSON.parse(readFileSync(join(cwd, 'drizzle', 'meta', '_journal.json'), 'utf8')) as { entries: Record<string, unknown>[] }
    expect(journal.entries).toHaveLength(2)
    const entry = journal.entries[1]!
    expect(entry).toEqual({ idx: 1, version: '7', when: expect.any(Number) as unknown, tag: '0001_rls', breakpoints: true })
    expect(entry['when']).toBeGreaterThanOrEqual(start)
    const old = JSON.parse(readFileSync(join(cwd, 'drizzle', 'meta', '0000_snapshot.json'), 'utf8')) as Record<string, unknown>
    const copy = JSON.parse(readFileSync(join(cwd, 'drizzle', 'meta', '0001_snapshot.json'), 'utf8')) as Record<string, unknown>
    expect(copy['prevId']).toBe('snap-0')
    expect(copy['id']).toMatch(/^[0-9a-f-]{36}$/)
    expect({ ...copy, id: 0, prevId: 0 }).toEqual({ ...old, id: 0, prevId: 0, _meta: { columns: {}, schemas: {}, tables: {} } })
    // One statement per breakpoint, DO blocks whole.
    const text = readFileSync(join(cwd, 'drizzle', '0001_rls.sql'), 'utf8')
    for (const chunk of text.split('--> statement-breakpoint')) {
      const body = chunk
        .split('\n')
        .filter((l) => !l.startsWith('--'))
        .join('\n')
        .trim()
      expect(body.endsWith(';'), chunk).toBe(true)
      if (body.startsWith('DO ')) expect(body).toMatch(/^DO \$pg_tenants\$[\s\S]*\$pg_tenants\$;$/)
      else expect(body.replace(/'[^']*'/g, '').split(';').length, chunk).toBe(2)
    }
    expect(readdirSync(join(cwd, 'drizzle', 'meta')).sort()).toEqual(['0000_snapshot.json', '0001_snapshot.json', '_journal.json'])
  })

  it("follows the journal's prefix mode (timestamp)", async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing }, tag: '20240101120000_first' })
    const run = await cli(cwd, [])
    expect(run.out).toMatch(/^Wrote drizzle\/\d{14}_pg_tenants\.sql/)
    expect(readdirSync(join(cwd, 'drizzle', 'meta')).filter((f) => /^\d{14}_snapshot\.json$/.test(f))).toHaveLength(2)
  })

  it('leaves nothing behind when writing fails', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
    // The journal's temporary file cannot be created: the SQL and snapshot were already written.
    mkdirSync(join(cwd, 'drizzle', 'meta', `_pg-tenants-${process.pid}-_journal.json.tmp`))
    const before = tree(cwd)
    const run = await cli(cwd, [])
    expect(run.code).toBe(1)
    expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
    expect(tree(cwd)).toEqual(before)
    expect(readdirSync(join(cwd, 'drizzle')).sort()).toEqual(['0000_first.sql', 'meta'])
  })

  it('Ctrl-C before writing: exit 130, nothing written', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
    const before = tree(cwd)
    const controller = new AbortController()
    controller.abort()
    let err = ''
    const io: Io = { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) }, env: {}, cwd, signal: controller.signal }
    expect(await main(['generate', '--schema', 'schema.ts', '--out', 'drizzle'], io)).toBe(130)
    expect(err).toBe('pg-tenants: Interrupted: nothing was written.\n')
    expect(tree(cwd)).toEqual(before)
  })

  /** Runs the built bin with the rename of the SQL file into place slowed down (as the reviewer
   * did), sends SIGINT `times` times once that file is placed, and returns the exit code. */
  function interruptedRun(cwd: string, times: number, slowMs: number): Promise<{ code: number | null; err: string }> {
    const preload = join(cwd, 'slow-rename.cjs')
    writeFileSync(
      preload,
      `const fsp = require('node:fs/promises'), m = require('node:module'); const rename = fsp.rename
fsp.rename = async (a, b) => { await rename(a, b); if (b.endsWith('.sql')) { process.stderr.write('[placed]\\n'); await new Promise((r) => setTimeout(r, ${slowMs})) } }
m.syncBuiltinESMExports()`,
    )
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['-r', preload, PG_TENANTS, 'generate', '--schema', 'schema.ts', '--out', 'drizzle'], {
        cwd,
        env: { ...process.env, NO_COLOR: '1' },
      })
      let err = ''
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString()
        if (chunk.toString().includes('[placed]')) {
          for (let i = 0; i < times; i++) setTimeout(() => child.kill('SIGINT'), 50 + 150 * i)
        }
      })
      child.on('exit', (code) => resolve({ code, err }))
    })
  }

  it(
    'first Ctrl-C while writing: the write is finished, then exit 130',
    async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      const run = await interruptedRun(cwd, 1, 600)
      expect(run.err).toMatch(/pg-tenants: Interrupted after drizzle\/0001_pg_tenants\.sql was written completely/)
      expect(run.code).toBe(130)
      const journal = JSON.parse(readFileSync(join(cwd, 'drizzle', 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] }
      expect(journal.entries.map((e) => e.tag)).toEqual(['0000_first', '0001_pg_tenants'])
      expect(readdirSync(join(cwd, 'drizzle', 'meta')).sort()).toEqual(['0000_snapshot.json', '0001_snapshot.json', '_journal.json'])
    },
    STEP,
  )

  it(
    'second Ctrl-C while writing: exit 130 at once, and what was written is removed',
    async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      const before = tree(cwd)
      const run = await interruptedRun(cwd, 2, 20_000)
      expect(run.code).toBe(130)
      const after = tree(cwd)
      delete after['slow-rename.cjs']
      expect(after).toEqual(before)
    },
    STEP,
  )

  describe('bad input: exit 2, one line on stderr, nothing written', () => {
    it('no --schema or --out, a bad --name', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      const before = tree(cwd)
      const io: Io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd }
      expect(await main(['generate', '--out', 'drizzle'], io)).toBe(2)
      expect(await main(['generate', '--schema', 'schema.ts'], io)).toBe(2)
      expect(tree(cwd)).toEqual(before)
      await expectRefused(cwd, ['--name', '../x'], /--name "\.\.\/x": use letters, digits/)
    })
    // The later --schema wins over the one cli() passes.
    it('a schema file that does not exist', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      await expectRefused(cwd, ['--schema', 'nope.ts'], /^pg-tenants: Schema file .*nope\.ts does not exist: check --schema\.\n$/)
    })
    it('a schema that throws when loaded', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      await expectRefused(cwd, ['--schema', 'throws.ts'], /^pg-tenants: Cannot load schema .*throws\.ts: no config here\n$/)
    })
    it('an unknown strategy, or one the withRls tables do not say', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      await expectRefused(cwd, ['--strategy', 'roles'], /Unknown strategy "roles": use --strategy setting or --strategy role/)
      await expectRefused(cwd, ['--strategy', 'role'], /--strategy role does not match the schema's withRls tables/)
    })
    it('no drizzle-kit journal yet', async () => {
      await expectRefused(project(), [], /No drizzle-kit migrations in drizzle \(meta\/_journal\.json is missing\): run drizzle-kit generate first/)
    })
    it('a withRls table that drizzle-kit has not seen yet, or that changed since', async () => {
      await expectRefused(
        project({ snapshotTables: {} }),
        [],
        /Table public\.todos is not in drizzle-kit's latest snapshot \(drizzle\/meta\/0000_snapshot\.json\): run drizzle-kit generate first/,
      )
      const role = tenantCondition(resolveOptions({ strategy: 'role' }), 'tenant', 'text')
      await expectRefused(
        project({ snapshotTables: { 'public.todos': role } }),
        [],
        /Table public\.todos changed since drizzle-kit's latest snapshot .*run drizzle-kit generate first/,
      )
    })
    it('options that differ from the last pg-tenants migration', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing } })
      expect((await cli(cwd, [])).code).toBe(0)
      await expectRefused(
        cwd,
        ['--admin-role', 'other_admin'],
        /The last pg-tenants migration \(0001_pg_tenants\) used adminRole "tenants_admin"; this run asks for adminRole "other_admin"/,
      )
      // The tenant role is in the withRls tables' policy: a flag that differs is refused before.
      await expectRefused(
        cwd,
        ['--tenant-role', 'other_rls'],
        /--tenant-role other_rls does not match the schema's withRls tables \(todos: \{ strategy: 'setting' \}\)/,
      )
    })
    it('a table that left withRls before drizzle-kit generate saw it leave', async () => {
      const cwd = project({
        schema: `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant') }))\nexport const tags = pgTable('tags', { tenant: text('tenant') })\n`,
        snapshotTables: { 'public.todos': todosUsing, 'public.tags': todosUsing },
        migrations: { '0001_pg_tenants': lastRun([spec('todos'), spec('tags')]) },
      })
      await expectRefused(
        cwd,
        [],
        /^pg-tenants: Table public\.tags left withRls, but drizzle-kit's latest snapshot \(drizzle\/meta\/0000_snapshot\.json\) still has its pg_tenants_access policy: run drizzle-kit generate first, then this command\.\n$/,
      )
    })
    it('a bad --shared, or a shared table drizzle-kit has not seen', async () => {
      const cwd = project({ snapshotTables: { 'public.todos': todosUsing, 'public.plans': '' } })
      await expectRefused(cwd, ['--shared', 'plans'], /--shared "plans": write <table>=<read\|write\|none>, e\.g\. --shared plans=read\./)
      await expectRefused(cwd, ['--shared', 'plans=all'], /--shared "plans=all": the access is read, write or none, not "all"\./)
      await expectRefused(cwd, ['--shared', 'plans=read', '--shared', 'plans=write'], /--shared names plans twice/)
      await expectRefused(cwd, ['--shared', 'plans=read,public.plans=none'], /sharedTables names public\.plans twice/)
      await expectRefused(cwd, ['--shared', 'todos=read'], /public\.todos is both a tenant table and in sharedTables/)
      await expectRefused(
        cwd,
        ['--shared', 'plans=read,rates=read'],
        /^pg-tenants: Shared table public\.rates is not in drizzle-kit's latest snapshot \(drizzle\/meta\/0000_snapshot\.json\): run drizzle-kit generate first, then this command; or check --shared\.\n$/,
      )
    })
    it('a tenant column changing type while withRls moves to another column, or in a file without breakpoints', async () => {
      const alter = 'ALTER TABLE "todos" ALTER COLUMN "tenant" SET DATA TYPE varchar(80);'
      const moved = project({
        schema: `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant'), owner: text('owner') }), { column: 'owner' })\n`,
        snapshotTables: { 'public.todos': tenantCondition(resolveOptions(), 'owner', 'text') },
        migrations: { '0001_pg_tenants': lastRun([spec('todos')]), '0002_kit': alter },
      })
      await expectRefused(
        moved,
        [],
        /A pending drizzle-kit migration changes the type of "public"\."todos"\."tenant", which its pg-tenants policies use, while withRls moves the tenant column to "owner": do one at a time/,
      )
      const unsplit = project({
        snapshotTables: { 'public.todos': todosUsing },
        migrations: { '0001_pg_tenants': lastRun([spec('todos')]), '0002_kit': `SELECT 1;\n${alter}` },
      })
      const journalPath = join(unsplit, 'drizzle', 'meta', '_journal.json')
      const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { breakpoints: boolean }[] }
      journal.entries[2]!.breakpoints = false
      writeFileSync(journalPath, JSON.stringify(journal))
      await expectRefused(
        unsplit,
        [],
        /0002_kit\.sql changes the type of "public"\."todos"\."tenant", which its pg-tenants policies use, and has no statement breakpoints: add `DROP POLICY IF EXISTS …` of pg_tenants_isolation, pg_tenants_access, pg_tenants_admin ON "public"\."todos" before the ALTER yourself/,
      )
    })
    it('an unqualified table with --db-schema other than public', async () => {
      await expectRefused(
        project({ snapshotTables: { 'public.todos': todosUsing } }),
        ['--db-schema', 'app'],
        /Table todos has no schema, so drizzle-kit creates it in public/,
      )
    })
  })

  const lastRun = (tables: object[], left?: object[]) =>
    `-- pg-tenants: ${JSON.stringify({
      v: 1,
      options: {
        schema: 'public',
        strategy: 'setting',
        rolePrefix: 'tenant_',
        tenantRole: 'tenants_rls',
        adminRole: 'tenants_admin',
        registryTable: 'tenant_registry',
      },
      tables,
      ...(left ? { left } : {}),
    })}\nSELECT 1;`
  const spec = (name: string, column = 'tenant') => ({ schema: 'public', name, column, type: 'text' })
  const headerOf = (text: string) =>
    JSON.parse(text.split('\n')[0]!.slice('-- pg-tenants: '.length)) as { tables: { name: string }[]; left?: { name: string }[] }

  it('after a change of tenant column: drops the old part and adds the new one', async () => {
    const cwd = project({
      schema: `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant'), owner: text('owner') }), { column: 'owner' })\n`,
      snapshotTables: { 'public.todos': tenantCondition(resolveOptions(), 'owner', 'text') },
      migrations: { '0001_pg_tenants': lastRun([spec('todos'), spec('gone')]) },
    })
    const run = await cli(cwd, [])
    expect(run.err).toBe('')
    const text = readFileSync(join(cwd, 'drizzle', '0002_pg_tenants.sql'), 'utf8')
    expect(text).toContain('DROP INDEX IF EXISTS "public"."pgt_todos_tenant_idx";')
    expect(text).toContain('ALTER TABLE "public"."todos" ADD CONSTRAINT "pgt_todos_owner_not_empty"')
    expect(text).not.toContain('"gone"') // dropped by drizzle-kit: nothing to undo
    expect(text).not.toContain('CREATE ROLE')
  })

  // drizzle-kit's own migration turns RLS off for a table that left withRls, and the tenant role
  // keeps its grants: writing the table's down part as well would open every row to every tenant.
  it('a table taken out of withRls is never opened: RLS on again, a warning, recorded as left', async () => {
    const cwd = project({
      schema: `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant') }))\nexport const tags = pgTable('tags', { tenant: text('tenant') })\n`,
      snapshotTables: { 'public.todos': todosUsing, 'public.tags': '' },
      migrations: { '0001_pg_tenants': lastRun([spec('todos'), spec('tags')]) },
    })
    const run = await cli(cwd, [])
    expect(run.code).toBe(0)
    expect(run.out).toMatch(/^Wrote drizzle\/0002_pg_tenants\.sql/)
    expect(run.err).toMatch(
      /^pg-tenants: warning: table "public\.tags" is no longer wrapped in withRls\. drizzle-kit's migration turns its row level security off/,
    )
    expect(run.err).toMatch(/stays closed to tenants: its restrictive and admin policies, FORCE, index, check and grants stay in place/)
    expect(run.err).toMatch(
      /To make it shared on purpose, write a migration of your own .*pg-tenants sql --down.*REVOKE SELECT, INSERT, UPDATE, DELETE ON "public"\."tags" FROM "tenants_rls", "tenants_admin"/,
    )
    expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
    const text = readFileSync(join(cwd, 'drizzle', '0002_pg_tenants.sql'), 'utf8')
    const body = text.split('\n').slice(2).join('\n')
    expect(body).toBe(
      '-- "public"."tags" left withRls: row level security on again, so that it stays closed to tenants\nALTER TABLE "public"."tags" ENABLE ROW LEVEL SECURITY;\n',
    )
    expect(headerOf(text).tables.map((t) => t.name)).toEqual(['todos'])
    expect(headerOf(text).left?.map((t) => t.name)).toEqual(['tags'])

    // The next run: nothing to write, no second warning, the table still recorded.
    const again = await cli(cwd, [])
    expect(again).toEqual({ code: 0, out: expect.stringMatching(/^Nothing to write: .*\(0002_pg_tenants\)/) as unknown, err: '' })

    // Another table changes: the new header still lists tags as left, and tags gets nothing.
    writeFileSync(
      join(cwd, 'schema.ts'),
      readFileSync(join(cwd, 'schema.ts'), 'utf8').replace(
        "withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant') }))",
        "withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant'), owner: text('owner') }), { column: 'owner' })",
      ),
    )
    const snapshotPath = join(cwd, 'drizzle', 'meta', '0002_snapshot.json')
    const snapshot = JSON.parse(readFileSync(snapshotPath, 'utf8')) as { tables: Record<string, { policies: Record<string, { using: string }> }> }
    snapshot.tables['public.todos']!.policies[POLICY_NAMES.access]!.using = tenantCondition(resolveOptions(), 'owner', 'text')
    writeFileSync(snapshotPath, JSON.stringify(snapshot))
    const third = await cli(cwd, [])
    expect(third.err).toBe('')
    const thirdText = readFileSync(join(cwd, 'drizzle', '0003_pg_tenants.sql'), 'utf8')
    expect(thirdText.split('\n').slice(1).join('\n')).not.toContain('"tags"')
    expect(headerOf(thirdText).left?.map((t) => t.name)).toEqual(['tags'])
  })

  it('reads a header written before sharedTables and adoptRoles existed as none and false: nothing to write', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing }, migrations: { '0001_pg_tenants': lastRun([spec('todos')]) } })
    expect(await cli(cwd, [])).toEqual({ code: 0, out: expect.stringMatching(/^Nothing to write: .*\(0001_pg_tenants\)/) as unknown, err: '' })
    // --adopt-roles only matters to the first run's roles: not a change of options either.
    expect((await cli(cwd, ['--adopt-roles'])).out).toMatch(/^Nothing to write: /)
  })

  it("a table that left withRls and whose old tenant column changes type: its two policies make way in drizzle-kit's file, nothing else to write", async () => {
    const alter = 'ALTER TABLE "tags" ALTER COLUMN "tenant" SET DATA TYPE varchar(80);'
    const cwd = project({
      schema: `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant') }))\nexport const tags = pgTable('tags', { tenant: text('tenant') })\n`,
      snapshotTables: { 'public.todos': todosUsing, 'public.tags': '' },
      migrations: {
        '0001_pg_tenants': lastRun([spec('todos')], [spec('tags')]),
        '0002_kit': `ALTER TABLE "tags" ADD COLUMN "x" text;--> statement-breakpoint\n${alter}`,
      },
    })
    const run = await cli(cwd, [])
    expect(run).toEqual({
      code: 0,
      out: 'Nothing else to write: the withRls and shared tables are as the last pg-tenants migration (0001_pg_tenants) left them.\n',
      err: expect.stringMatching(/^pg-tenants: edited drizzle\/0002_kit\.sql: a tenant column changes type there/) as unknown,
    })
    const text = readFileSync(join(cwd, 'drizzle', '0002_kit.sql'), 'utf8')
    const chunks = text.split('--> statement-breakpoint\n')
    expect(chunks[0]).toBe('ALTER TABLE "tags" ADD COLUMN "x" text;')
    const at = chunks.indexOf(alter)
    expect(chunks.slice(1, at).join('')).toMatch(
      /^-- pg-tenants generate: .*\nDROP POLICY IF EXISTS pg_tenants_isolation ON "public"\."tags";DROP POLICY IF EXISTS pg_tenants_access ON "public"\."tags";DROP POLICY IF EXISTS pg_tenants_admin ON "public"\."tags";DO \$pg_tenants\$/,
    )
    const after = chunks.slice(at + 1).join('')
    expect(after).toContain('CREATE POLICY pg_tenants_isolation ON "public"."tags" AS RESTRICTIVE')
    expect(after).toContain('CREATE POLICY pg_tenants_admin ON "public"."tags" AS PERMISSIVE FOR ALL TO "tenants_admin"')
    expect(after).not.toContain('pg_tenants_access')
    // The next run finds the edit made, and does not make it twice.
    const again = await cli(cwd, [])
    expect(again.code).toBe(0)
    expect(readFileSync(join(cwd, 'drizzle', '0002_kit.sql'), 'utf8')).toBe(text)
  })

  it('--all: the whole setup again, for a database that drifted (nothing changed in the schema)', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing }, migrations: { '0001_pg_tenants': lastRun([spec('todos')]) } })
    const run = await cli(cwd, ['--all'])
    expect(run.err).toBe('')
    expect(run.out).toMatch(/^Wrote drizzle\/0002_pg_tenants\.sql \(the whole setup again, 1 tables\)/)
    const text = readFileSync(join(cwd, 'drizzle', '0002_pg_tenants.sql'), 'utf8')
    const { up } = migrationStatements([spec('todos') as TableSpec])
    expect(text.split('\n').slice(2).join('\n')).toBe(`${up.join('\n--> statement-breakpoint\n')}\n`)
  })

  it('--shared: writes the grants of the shared tables whenever the declared set changes, and records it', async () => {
    const cwd = project({ snapshotTables: { 'public.todos': todosUsing, 'public.plans': '', 'public.rates': '' } })
    const body = (tag: string) =>
      readFileSync(join(cwd, 'drizzle', `${tag}.sql`), 'utf8')
        .split('\n')
        .slice(1)
        .join('\n')
    const sharedOf = (tag: string) =>
      (
        JSON.parse(
          readFileSync(join(cwd, 'drizzle', `${tag}.sql`), 'utf8')
            .split('\n')[0]!
            .slice('-- pg-tenants: '.length),
        ) as { options: { sharedTables: unknown } }
      ).options.sharedTables

    expect((await cli(cwd, ['--shared', 'plans=read'])).err).toBe('')
    expect(body('0001_pg_tenants')).toContain('GRANT SELECT ON "public"."plans" TO "tenants_rls";')
    expect(sharedOf('0001_pg_tenants')).toEqual([{ schema: 'public', name: 'plans', access: 'read' }])

    expect((await cli(cwd, ['--shared', 'plans=read'])).out).toMatch(/^Nothing to write: .*\(0001_pg_tenants\)/)

    const changed = await cli(cwd, ['--shared', 'plans=write', '--shared', 'rates=read'])
    expect(changed.err).toBe('')
    expect(changed.out).toMatch(/^Wrote drizzle\/0002_pg_tenants\.sql/)
    const second = body('0002_pg_tenants')
    expect(second).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."plans" TO "tenants_rls";')
    expect(second).toContain('GRANT SELECT ON "public"."rates" TO "tenants_rls";')
    expect(second).not.toMatch(/"public"\."todos"|CREATE ROLE/)
    expect(sharedOf('0002_pg_tenants')).toEqual([
      { schema: 'public', name: 'plans', access: 'write' },
      { schema: 'public', name: 'rates', access: 'read' },
    ])

    // No longer declared: its grants are revoked; the one still declared as before gets nothing.
    expect((await cli(cwd, ['--shared', 'rates=read'])).err).toBe('')
    const third = body('0003_pg_tenants')
    expect(third).toContain('REVOKE ALL ON "public"."plans" FROM "tenants_rls"')
    expect(third).not.toMatch(/GRANT [A-Z, ]+ ON "public"\."plans"|"public"\."rates"/)
    expect((await cli(cwd, ['--shared', 'rates=read'])).out).toMatch(/^Nothing to write: .*\(0003_pg_tenants\)/)
  })

  it('a table wrapped in withRls again after it left gets its whole part again', async () => {
    const cwd = project({
      snapshotTables: { 'public.todos': todosUsing },
      migrations: { '0001_pg_tenants': lastRun([], [spec('todos')]) },
    })
    const run = await cli(cwd, [])
    expect(run.err).toBe('')
    const text = readFileSync(join(cwd, 'drizzle', '0002_pg_tenants.sql'), 'utf8')
    expect(text).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."todos" TO "tenants_rls", "tenants_admin";')
    expect(text).toContain('ALTER TABLE "public"."todos" FORCE ROW LEVEL SECURITY;')
    expect(text).not.toContain('DISABLE ROW LEVEL SECURITY')
    expect(headerOf(text).left).toBeUndefined()
    expect(headerOf(text).tables.map((t) => t.name)).toEqual(['todos'])
  })
})
