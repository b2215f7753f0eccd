/**
 * `pg-tenants sql`, in-process through `main(argv, io)`: it prints exactly `migrationStatements`'
 * up or down for the schema file's withRls tables, one statement at a time between
 * `--> statement-breakpoint` lines, takes the strategy and tenant role from their withRls, and
 * refuses bad input with exit code 2, one line on stderr and nothing on stdout. The printed SQL is
 * then run on PGlite, saved as a drizzle custom migration and applied by drizzle-orm's migrator
 * (PGlite and the server), and run by psql -f, to show that it protects the tables.
 */
import { PGlite } from '@electric-sql/pglite'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrationStatements, type TableSpec } from '../src/core/migration.js'
import { resolveOptions, type TenantOptions } from '../src/core/options.js'
import { tenantCondition } from '../src/core/policy.js'
import { sqlState } from '../src/core/errors.js'
import type { AnyPgDatabase } from '../src/drizzle/bind.js'
import { leaveSuperuser, PostgresManager } from '../src/drizzle/index.js'
import { expectUsageError, runCli, type Run } from './support/cli.js'
import { uniqueSuffix } from './support/targets.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIR = join(ROOT, 'test', '.tmp', `sql-${randomBytes(4).toString('hex')}`)
const DATABASE_URL = process.env['DATABASE_URL']

function rowsOf(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : ((result as { rows: Record<string, unknown>[] }).rows ?? [])
}

const cli = (argv: string[]): Promise<Run> => runCli(argv, { cwd: DIR })

/** What `pg-tenants sql` prints: the statements, a breakpoint line between two. */
function printed(tables: readonly TableSpec[], options?: TenantOptions, direction: 'up' | 'down' = 'up'): string {
  return `${migrationStatements(tables, options)[direction].join('\n--> statement-breakpoint\n')}\n`
}

/** Writes a schema module into the temp directory; it imports pg-tenants from the sources. */
function schemaFile(name: string, body: string): string {
  writeFileSync(
    join(DIR, name),
    `import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'\n` + `import { withRls } from '../../../src/drizzle/index.js'\n${body}\n`,
  )
  return name
}

const TABLES = `
export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }), OPTIONS)
export const projects = withRls(pgTable('projects', { id: serial('id').primaryKey(), org: integer('org').notNull() }), { column: 'org', ...OPTIONS })
export const plain = pgTable('plain', { id: serial('id').primaryKey() })`
/** In the order the CLI finds them: a module namespace lists its exports by name. */
const SPECS: TableSpec[] = [
  { schema: 'public', name: 'projects', column: 'org', type: 'integer' },
  { schema: 'public', name: 'todos', column: 'tenant', type: 'text' },
]

beforeAll(() => {
  mkdirSync(DIR, { recursive: true })
  schemaFile('setting.ts', `const OPTIONS = {}\n${TABLES}`)
  schemaFile('role.ts', `const OPTIONS = { strategy: 'role', rolePrefix: 'crm_t_', tenantRole: 'crm_rls' } as const\n${TABLES}`)
  schemaFile('mixed.ts', `const OPTIONS = {}\n${TABLES}\nexport const other = withRls(pgTable('other', { tenant: text('tenant') }), { strategy: 'role' })`)
  schemaFile('throws.ts', `throw new Error('the database config is missing')`)
  schemaFile('none.ts', `export const plain = pgTable('plain', { id: serial('id').primaryKey() })`)
})

afterAll(() => rmSync(DIR, { recursive: true, force: true }))

describe('pg-tenants sql', () => {
  it("prints migrationStatements' up for the schema's withRls tables, and down with --down, a breakpoint line between two statements", async () => {
    const up = await cli(['sql', '--schema', 'setting.ts'])
    expect(up.err).toBe('')
    expect(up.code).toBe(0)
    expect(up.out).toBe(printed(SPECS))
    expect(up.out.split('\n--> statement-breakpoint\n')).toHaveLength(migrationStatements(SPECS).up.length)
    const down = await cli(['sql', '--schema', 'setting.ts', '--down'])
    expect(down.code).toBe(0)
    expect(down.out).toBe(printed(SPECS, {}, 'down'))
  })

  it("takes the strategy, role prefix and tenant role from the tables' withRls", async () => {
    const run = await cli(['sql', '--schema', 'role.ts', '--admin-role', 'crm_admin'])
    expect(run.err).toBe('')
    const options = { strategy: 'role', rolePrefix: 'crm_t_', tenantRole: 'crm_rls', adminRole: 'crm_admin' } as const
    expect(run.out).toBe(printed(SPECS, options))
    // The policy names the prefix and the tenant role that withRls gave.
    expect(run.out).toContain(tenantCondition(resolveOptions(options), 'tenant', 'text'))
    expect(tenantCondition(resolveOptions(options), 'tenant', 'text')).toMatch(/'crm_t_'.*'crm_rls'/)
    // The same, stated as flags: they agree with the tables.
    const flags = await cli([
      'sql',
      '--schema',
      'role.ts',
      '--strategy',
      'role',
      '--role-prefix',
      'crm_t_',
      '--tenant-role',
      'crm_rls',
      '--admin-role',
      'crm_admin',
    ])
    expect(flags.out).toBe(run.out)
  })

  it('prints SQL that protects the tables (run on PGlite)', async () => {
    const { out } = await cli(['sql', '--schema', 'setting.ts'])
    const db = await PGlite.create()
    try {
      await db.exec(`CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL);
        CREATE TABLE projects (id serial PRIMARY KEY, org integer NOT NULL);
        CREATE TABLE plain (id serial PRIMARY KEY);`)
      await db.exec(out)
      const { rows } = await db.query<{ relname: string; rls: boolean; force: boolean; policies: number }>(
        `SELECT relname, relrowsecurity AS rls, relforcerowsecurity AS force,
           (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies
         FROM pg_class c WHERE relname IN ('todos', 'projects', 'plain') ORDER BY relname`,
      )
      expect(rows).toEqual([
        { relname: 'plain', rls: false, force: false, policies: 0 },
        { relname: 'projects', rls: true, force: true, policies: 3 },
        { relname: 'todos', rls: true, force: true, policies: 3 },
      ])
    } finally {
      await db.close()
    }
  })

  describe('bad input: exit 2, one line on stderr, nothing on stdout', () => {
    it('no --schema', async () => {
      expectUsageError(await cli(['sql']), /Missing --schema/)
    })
    it('a schema file that does not exist', async () => {
      expectUsageError(await cli(['sql', '--schema', 'missing.ts']), /missing\.ts does not exist: check --schema/)
    })
    it('a schema file that throws when loaded', async () => {
      expectUsageError(await cli(['sql', '--schema', 'throws.ts']), /Cannot load schema .*throws\.ts: the database config is missing/)
    })
    it('a schema without withRls tables', async () => {
      expectUsageError(await cli(['sql', '--schema', 'none.ts']), /exports no table wrapped in withRls/)
    })
    it('an unknown strategy', async () => {
      expectUsageError(
        await cli(['sql', '--schema', 'setting.ts', '--strategy', 'tenant']),
        /Unknown strategy "tenant": use --strategy setting or --strategy role/,
      )
    })
    it("a strategy that the tables' withRls does not say", async () => {
      expectUsageError(
        await cli(['sql', '--schema', 'setting.ts', '--strategy', 'role']),
        /--strategy role does not match the schema's withRls tables \(projects: \{ strategy: 'setting' \}\)/,
      )
      expectUsageError(await cli(['sql', '--schema', 'role.ts', '--role-prefix', 'x_']), /--role-prefix x_ does not match/)
      expectUsageError(
        await cli(['sql', '--schema', 'role.ts', '--tenant-role', 'other_rls']),
        /--tenant-role other_rls does not match the schema's withRls tables \(projects: \{ strategy: 'role', rolePrefix: "crm_t_", tenantRole: "crm_rls" \}\): pass the same to withRls, or drop --tenant-role\./,
      )
    })
    it('withRls tables that disagree with each other', async () => {
      expectUsageError(
        await cli(['sql', '--schema', 'mixed.ts']),
        /withRls tables disagree: other uses \{ strategy: 'role', rolePrefix: "tenant_" \}, projects \{ strategy: 'setting' \}/,
      )
    })
    it("a newline in a table name (the reviewer's reproduction): refused, no SQL printed", async () => {
      schemaFile(
        'evil.ts',
        "export const evil = withRls(pgTable('evil\\nSELECT pg_sleep(0); CREATE TABLE pwned(); --', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))",
      )
      expectUsageError(
        await cli(['sql', '--schema', 'evil.ts']),
        /withRls\("evil\\nSELECT pg_sleep\(0\); CREATE TABLE pwned\(\); --"\): the table name .* holds a control character/,
      )
      // A mark not made by withRls (another copy, or by hand) is checked again before any SQL.
      schemaFile(
        'forged.ts',
        "export const forged = { [Symbol.for('pg-tenants.withRls')]: { schema: '', name: 'x\\r\\nCREATE TABLE pwned();', column: 'tenant', type: 'text', strategy: 'setting', rolePrefix: 'tenant_', explicit: false } }",
      )
      expectUsageError(await cli(['sql', '--schema', 'forged.ts']), /the table name "x\\r\\nCREATE TABLE pwned\(\);" holds a control character/)
      expectUsageError(await cli(['sql', '--schema', 'forged.ts', '--down']), /holds a control character/)
    })
    it('a syntax error: where it is and what it is, on one line', async () => {
      schemaFile('syntax.ts', 'export const x = ;')
      expectUsageError(await cli(['sql', '--schema', 'syntax.ts']), /^pg-tenants: Cannot load schema \S*syntax\.ts: syntax\.ts:3:18: Unexpected ";"\n$/)
    })
    it('a directory, or an empty --schema: named as given', async () => {
      mkdirSync(join(DIR, 'db'), { recursive: true })
      const run = await cli(['sql', '--schema', 'db'])
      expectUsageError(run, /^pg-tenants: --schema db is a directory \(.*\): pass the schema file itself, e\.g\. --schema db\/schema\.ts\.\n$/)
      expect(run.err).not.toMatch(/dist|cli\.js|Directory import/)
      expectUsageError(await cli(['sql', '--schema=']), /--schema is empty: pass the module that exports your withRls tables/)
    })
    it('an unknown flag', async () => {
      expectUsageError(await cli(['sql', '--schema', 'setting.ts', '--sideways']), /sideways.*pg-tenants sql --help/)
    })
  })
})

// A project without tsx: the schema is bundled with esbuild into node_modules/.cache/pg-tenants
// (packages must resolve from the project) and imported from there.
describe('pg-tenants sql with the esbuild fallback', () => {
  const project = mkdtempSync(join(tmpdir(), 'pgt-esbuild-'))
  const cache = join(project, 'node_modules', '.cache', 'pg-tenants')
  const run = (schema: string): Promise<Run> => runCli(['sql', '--schema', schema], { cwd: project })
  beforeAll(() => {
    mkdirSync(cache, { recursive: true })
    for (const pkg of ['esbuild', 'drizzle-orm']) symlinkSync(join(ROOT, 'node_modules', pkg), join(project, 'node_modules', pkg), 'dir')
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
    const head = `import { pgTable, serial, text } from 'drizzle-orm/pg-core'\nimport { withRls } from ${JSON.stringify(join(ROOT, 'src', 'drizzle', 'index.js'))}\n`
    writeFileSync(
      join(project, 'schema.ts'),
      `${head}export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))\n`,
    )
    writeFileSync(join(project, 'syntax.ts'), `${head}export const x = ;\n`)
    writeFileSync(join(project, 'throws.ts'), `${head}throw new Error('no config')\n`)
  })
  afterAll(() => rmSync(project, { recursive: true, force: true }))

  it('loads the schema, and leaves no bundle behind: none of its own, none of a killed run', async () => {
    writeFileSync(join(cache, 'schema-999999999-1.mjs'), 'export {}') // a run killed long ago
    const ok = await run('schema.ts')
    expect(ok.err).toBe('')
    expect(ok.out).toBe(printed([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }]))
    expect(readdirSync(cache)).toEqual([])
  })

  it('gives the location of a syntax error, and removes the bundle when the import throws', async () => {
    expectUsageError(await run('syntax.ts'), /^pg-tenants: Cannot load schema \S*syntax\.ts: syntax\.ts:3:18: Unexpected ";"\n$/)
    expectUsageError(await run('throws.ts'), /^pg-tenants: Cannot load schema \S*throws\.ts: no config\n$/)
    expect(readdirSync(cache)).toEqual([])
  })
})

// The printed SQL, saved as a drizzle custom migration (`npx drizzle-kit generate --custom`, then
// pasted in), applied by drizzle-orm's migrator: it sends each part between two breakpoints as one
// statement, and PGlite refuses a part that holds several ("cannot insert multiple commands into a
// prepared statement"). On the server the same file also runs through psql -f, whose breakpoint
// lines are comments.
describe('pg-tenants sql as a drizzle custom migration, and through psql', () => {
  const suffix = uniqueSuffix()
  const options = { tenantRole: `pgt_sqlm_rls_${suffix}`, adminRole: `pgt_sqlm_admin_${suffix}` }
  const folder = join(DIR, `migrations-${suffix}`)
  const CREATE = [
    'CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL);',
    'CREATE TABLE projects (id serial PRIMARY KEY, org integer NOT NULL);',
    'CREATE TABLE plain (id serial PRIMARY KEY);',
  ]
  let up = ''

  beforeAll(async () => {
    schemaFile(`custom-${suffix}.ts`, `const OPTIONS = { tenantRole: '${options.tenantRole}' }\n${TABLES}`)
    const run = await cli(['sql', '--schema', `custom-${suffix}.ts`, '--admin-role', options.adminRole])
    expect(run.err).toBe('')
    up = run.out
    // As drizzle-kit lays out a folder: the tables, then the custom migration holding the output.
    mkdirSync(join(folder, 'meta'), { recursive: true })
    writeFileSync(join(folder, '0000_tables.sql'), CREATE.join('--> statement-breakpoint\n'))
    writeFileSync(join(folder, '0001_rls.sql'), up)
    const entry = (idx: number, tag: string) => ({ idx, version: '7', when: 1_700_000_000_000 + idx, tag, breakpoints: true })
    writeFileSync(
      join(folder, 'meta', '_journal.json'),
      JSON.stringify({ version: '7', dialect: 'postgresql', entries: [entry(0, '0000_tables'), entry(1, '0001_rls')] }),
    )
  })

  /** Tenants see their own rows only, and the owner (neither superuser nor BYPASSRLS) none outside a scope. */
  async function expectIsolated(db: AnyPgDatabase, exec: (text: string) => Promise<Record<string, unknown>[]>): Promise<void> {
    const [flags] = await exec(
      `SELECT relrowsecurity AS rls, relforcerowsecurity AS force, (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies FROM pg_class c WHERE oid = 'public.todos'::regclass`,
    )
    expect(flags).toEqual({ rls: true, force: true, policies: 3 })
    const manager = PostgresManager.fromDrizzle(db, options)
    for (const tenant of ['acme', 'globex']) {
      await manager.withTenant(tenant, (tx) => tx.execute(sql.raw(`INSERT INTO todos (tenant) VALUES ('${tenant}')`)))
    }
    for (const tenant of ['acme', 'globex']) {
      const rows = await manager.withTenant(tenant, async (tx) => rowsOf(await tx.execute(sql`SELECT tenant FROM todos`)))
      expect(rows).toEqual([{ tenant }])
    }
    const error = await manager
      .withTenant('acme', (tx) => tx.execute(sql`INSERT INTO todos (tenant) VALUES ('globex')`))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(sqlState(error)).toBe('42501')
    expect(await exec('SELECT count(*)::int AS n FROM todos')).toEqual([{ n: 0 }])
  }

  it("applies through drizzle-orm's migrator on PGlite, and the database is isolated", async () => {
    const lite = await PGlite.create()
    try {
      await leaveSuperuser(lite)
      const db = drizzlePglite(lite)
      await migratePglite(db, { migrationsFolder: folder })
      await expectIsolated(db, async (text) => (await lite.query<Record<string, unknown>>(text)).rows)
    } finally {
      await lite.close()
    }
  })

  describe.skipIf(!DATABASE_URL)('on the server', () => {
    const owner = `pgt_sqlm_owner_${suffix}`
    const databases = [`pgt_sqlm_${suffix}`, `pgt_sqlp_${suffix}`]
    let admin: pg.Pool
    const urlOf = (database: string) => {
      const url = new URL(DATABASE_URL!)
      url.username = owner
      url.password = ''
      url.pathname = `/${database}`
      return url.toString()
    }
    beforeAll(async () => {
      admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
      await admin.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE`)
      for (const database of databases) await admin.query(`CREATE DATABASE "${database}" OWNER "${owner}"`)
    })
    afterAll(async () => {
      for (const database of databases) await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
      await admin.query(`DROP ROLE IF EXISTS "${options.tenantRole}", "${options.adminRole}", "${owner}"`)
      await admin.end()
    })
    const onPool = async (database: string, body: (db: AnyPgDatabase, exec: (text: string) => Promise<Record<string, unknown>[]>) => Promise<void>) => {
      const pool = new pg.Pool({ connectionString: urlOf(database), max: 3 })
      // pool.end() resolves before its clients' sockets have closed, so the DROP DATABASE … WITH (FORCE)
      // of the teardown can still terminate one of them: its error must not reach a pool with no listener.
      pool.on('error', () => undefined)
      try {
        await body(drizzleNodePg(pool), async (text) => (await pool.query(text)).rows as Record<string, unknown>[])
      } finally {
        await pool.end()
      }
    }

    it("applies through drizzle-orm's migrator (node-postgres), and the database is isolated", async () => {
      await onPool(databases[0]!, async (db, exec) => {
        await migrateNodePg(db as Parameters<typeof migrateNodePg>[0], { migrationsFolder: folder })
        await expectIsolated(db, exec)
      })
    })

    it.skipIf(spawnSync('psql', ['--version']).status !== 0)('runs as it is through psql -f: the breakpoint lines are comments', async () => {
      // The roles are the first database's already: taking them over is said with --adopt-roles.
      const adopting = await cli(['sql', '--schema', `custom-${suffix}.ts`, '--admin-role', options.adminRole, '--adopt-roles'])
      expect(adopting.out).not.toBe(up)
      expect(up).toContain('already exists and database(s) % use it')
      expect(adopting.out).not.toContain('already exists and database(s) % use it')
      const file = join(folder, 'psql.sql')
      writeFileSync(file, `${CREATE.join('\n')}\n${adopting.out}`)
      const env = { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } // not the "does not exist, skipping" notices
      const run = spawnSync('psql', [urlOf(databases[1]!), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], { encoding: 'utf8', env })
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      await onPool(databases[1]!, expectIsolated)
    })
  })
})
