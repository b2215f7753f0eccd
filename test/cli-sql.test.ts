/**
 * `pg-tenants sql`, in-process through `main(argv, io)`: it prints exactly `buildMigration`'s up
 * or down for the schema file's withRls tables, takes the strategy from their withRls, and refuses
 * bad input with exit code 2, one line on stderr and nothing on stdout. The printed SQL is then run
 * on PGlite to show that it protects the tables.
 */
import { PGlite } from '@electric-sql/pglite'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import { expectUsageError, runCli, type Run } from './support/cli.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIR = join(ROOT, 'test', '.tmp', `sql-${randomBytes(4).toString('hex')}`)

const cli = (argv: string[]): Promise<Run> => runCli(argv, { cwd: DIR })

/** Writes a schema module into the temp directory; it imports pg-tenants from the sources. */
function schemaFile(name: string, body: string): string {
  writeFileSync(
    join(DIR, name),
    `import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'\n` +
      `import { withRls } from '../../../src/drizzle/index.js'\n${body}\n`,
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
  schemaFile('role.ts', `const OPTIONS = { strategy: 'role', rolePrefix: 'crm_t_' } as const\n${TABLES}`)
  schemaFile('mixed.ts', `const OPTIONS = {}\n${TABLES}\nexport const other = withRls(pgTable('other', { tenant: text('tenant') }), { strategy: 'role' })`)
  schemaFile('throws.ts', `throw new Error('the database config is missing')`)
  schemaFile('none.ts', `export const plain = pgTable('plain', { id: serial('id').primaryKey() })`)
})

afterAll(() => rmSync(DIR, { recursive: true, force: true }))

describe('pg-tenants sql', () => {
  it("prints buildMigration's up for the schema's withRls tables, and down with --down", async () => {
    const up = await cli(['sql', '--schema', 'setting.ts'])
    expect(up.err).toBe('')
    expect(up.code).toBe(0)
    expect(up.out).toBe(buildMigration(SPECS).up)
    const down = await cli(['sql', '--schema', 'setting.ts', '--down'])
    expect(down.code).toBe(0)
    expect(down.out).toBe(buildMigration(SPECS).down)
  })

  it("takes the strategy and role prefix from the tables' withRls", async () => {
    const run = await cli(['sql', '--schema', 'role.ts', '--tenant-role', 'crm_rls', '--admin-role', 'crm_admin'])
    expect(run.err).toBe('')
    const options = { strategy: 'role', rolePrefix: 'crm_t_', tenantRole: 'crm_rls', adminRole: 'crm_admin' } as const
    expect(run.out).toBe(buildMigration(SPECS, options).up)
    expect(run.out).toContain(`starts_with(current_user::text, 'crm_t_')`)
    // The same, stated as flags: they agree with the tables.
    const flags = await cli(['sql', '--schema', 'role.ts', '--strategy', 'role', '--role-prefix', 'crm_t_', '--tenant-role', 'crm_rls', '--admin-role', 'crm_admin'])
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
      expectUsageError(await cli(['sql', '--schema', 'setting.ts', '--strategy', 'tenant']), /Unknown strategy "tenant": use --strategy setting or --strategy role/)
    })
    it("a strategy that the tables' withRls does not say", async () => {
      expectUsageError(
        await cli(['sql', '--schema', 'setting.ts', '--strategy', 'role']),
        /--strategy role does not match the schema's withRls tables \(projects: \{ strategy: 'setting' \}\)/,
      )
      expectUsageError(await cli(['sql', '--schema', 'role.ts', '--role-prefix', 'x_']), /--role-prefix x_ does not match/)
    })
    it('withRls tables that disagree with each other', async () => {
      expectUsageError(await cli(['sql', '--schema', 'mixed.ts']), /withRls tables disagree: other uses \{ strategy: 'role', rolePrefix: "tenant_" \}, projects \{ strategy: 'setting' \}/)
    })
    it("a newline in a table name (the reviewer's reproduction): refused, no SQL printed", async () => {
      schemaFile('evil.ts', "export const evil = withRls(pgTable('evil\\nSELECT pg_sleep(0); CREATE TABLE pwned(); --', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))")
      expectUsageError(await cli(['sql', '--schema', 'evil.ts']), /withRls\("evil\\nSELECT pg_sleep\(0\); CREATE TABLE pwned\(\); --"\): the table name .* holds a control character/)
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
    writeFileSync(join(project, 'schema.ts'), `${head}export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))\n`)
    writeFileSync(join(project, 'syntax.ts'), `${head}export const x = ;\n`)
    writeFileSync(join(project, 'throws.ts'), `${head}throw new Error('no config')\n`)
  })
  afterAll(() => rmSync(project, { recursive: true, force: true }))

  it('loads the schema, and leaves no bundle behind: none of its own, none of a killed run', async () => {
    writeFileSync(join(cache, 'schema-999999999-1.mjs'), 'export {}') // a run killed long ago
    const ok = await run('schema.ts')
    expect(ok.err).toBe('')
    expect(ok.out).toBe(buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }]).up)
    expect(readdirSync(cache)).toEqual([])
  })

  it('gives the location of a syntax error, and removes the bundle when the import throws', async () => {
    expectUsageError(await run('syntax.ts'), /^pg-tenants: Cannot load schema \S*syntax\.ts: syntax\.ts:3:18: Unexpected ";"\n$/)
    expectUsageError(await run('throws.ts'), /^pg-tenants: Cannot load schema \S*throws\.ts: no config\n$/)
    expect(readdirSync(cache)).toEqual([])
  })
})
