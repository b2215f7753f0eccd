/**
 * The CLI on a PGlite data directory (`--url ./pgdata`, `--url file:…`), as the role the app
 * works as (`--as app`, the role `leaveSuperuser` made): tenants created from the shell are there
 * when the app opens the directory again, and `check` passes. Also what it refuses, and the built
 * bin where @electric-sql/pglite cannot be found.
 */
import { PGlite } from '@electric-sql/pglite'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrationStatements } from '../src/core/migration.js'
import { leaveSuperuser, PostgresManager } from '../src/drizzle/index.js'
import { bundleBin, expectUsageError, makeTempDir, runCli, type Run } from './support/cli.js'

const ROOT = new URL('..', import.meta.url).pathname
const TABLE = { schema: 'public', name: 'todos', column: 'tenant', type: 'text' } as const

type Manager = ReturnType<typeof PostgresManager.fromDrizzle<ReturnType<typeof drizzle>>>

describe('the CLI on a PGlite data directory', () => {
  const dir = makeTempDir('cli-pglite-')
  const data = join(dir, 'pgdata')
  const cli = (argv: string[]): Promise<Run> => runCli(argv, { cwd: dir })

  /** The app: opens the directory, leaves the superuser, and works through the manager. */
  async function app<T>(body: (manager: Manager, lite: PGlite) => Promise<T>): Promise<T> {
    const lite = await PGlite.create(data)
    try {
      await leaveSuperuser(lite)
      return await body(PostgresManager.fromDrizzle(drizzle(lite)), lite)
    } finally {
      await lite.close()
    }
  }

  beforeAll(async () => {
    writeFileSync(
      join(dir, 'schema.ts'),
      `import { pgTable, serial, text } from 'drizzle-orm/pg-core'\nimport { withRls } from ${JSON.stringify(join(ROOT, 'src', 'drizzle', 'index.js'))}\n` +
        `export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))\n`,
    )
    await app(async (_, lite) => {
      await lite.exec('CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL)')
      for (const statement of migrationStatements([TABLE]).up) await lite.exec(statement)
    })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('creates tenants from the shell that the app sees when it opens the directory again', async () => {
    expect(await cli(['tenants', 'create', 'acme', 'globex', '--url', './pgdata', '--as', 'app'])).toEqual({
      code: 0,
      out: 'created acme\ncreated globex\n',
      err: '',
    })
    expect(await cli(['tenants', 'list', '--url', pathToFileURL(data).href, '--as', 'app'])).toEqual({ code: 0, out: 'acme\nglobex\n', err: '' })
    expect(await cli(['tenants', 'list', '--json', '--url', 'file:./pgdata', '--as', 'app'])).toEqual({ code: 0, out: '["acme","globex"]\n', err: '' })
    const seen = await app(async (manager) => {
      await manager.withTenant('acme', (tx) => tx.execute(sql`INSERT INTO todos (tenant) VALUES ('acme')`))
      const rows = await manager.withTenant('globex', (tx) => tx.execute(sql`SELECT * FROM todos`))
      return { tenants: [...(await manager.listTenants())].sort(), globexRows: rows.rows.length }
    })
    expect(seen).toEqual({ tenants: ['acme', 'globex'], globexRows: 0 })
    expect(await cli(['tenants', 'delete', 'globex', '--url', data, '--as', 'app'])).toEqual({ code: 0, out: 'deleted globex\n', err: '' })
    expect(await app(async (manager) => [...(await manager.listTenants())])).toEqual(['acme'])
  })

  it('runs SQL once per tenant, each in its own scope (tenants run): one tenant failing does not stop the others', async () => {
    expect((await cli(['tenants', 'create', 'beta', 'gamma', '--url', './pgdata', '--as', 'app'])).code).toBe(0)
    // Each run sees its own tenant: the row it writes carries the scope's tenant setting.
    expect(
      await cli(['tenants', 'run', '--sql', "INSERT INTO todos (tenant) VALUES (current_setting('pg_tenants.tenant'))", '--url', './pgdata', '--as', 'app']),
    ).toEqual({
      code: 0,
      out: 'ok acme INSERT 1\nok beta INSERT 1\nok gamma INSERT 1\n',
      err: '',
    })
    // A write for another tenant is refused by row-level security, for that tenant only.
    const planted = await cli([
      'tenants',
      'run',
      '--sql',
      "INSERT INTO todos (tenant) VALUES ('acme')",
      '--concurrency',
      '2',
      '--url',
      './pgdata',
      '--as',
      'app',
    ])
    expect(planted.code).toBe(1)
    expect(planted.out).toMatch(/^ok acme INSERT 1\nfailed beta: .*row-level security.*\nfailed gamma: .*row-level security.*\n$/)
    const counts = await app(async (manager) => {
      const n = (t: string) => manager.withTenant(t, (tx) => tx.execute(sql`SELECT count(*)::int AS n, bool_and(tenant = ${t}) AS own FROM todos`))
      return Object.fromEntries(await Promise.all(['acme', 'beta', 'gamma'].map(async (t) => [t, (await n(t)).rows[0]] as const)))
    })
    expect(counts).toEqual({ acme: { n: 3, own: true }, beta: { n: 1, own: true }, gamma: { n: 1, own: true } })
    expectUsageError(await cli(['tenants', 'run', '--url', './pgdata', '--as', 'app']), /needs the SQL/)
    expectUsageError(await cli(['tenants', 'run', '--sql', 'SELECT 1', '--concurrency', '0', '--url', './pgdata', '--as', 'app']), /--concurrency/)
  })

  it("checks the directory as the app role: ok (notices only); as PGlite's superuser it fails", async () => {
    const run = await cli(['check', '--url', './pgdata', '--as', 'app', '--schema', 'schema.ts'])
    expect(run.err).toBe('')
    expect(run.out).toMatch(/^ok: 2 notices on 1 tenant table \(public\.todos\)/)
    expect(run.out).toContain('GRANT TEMPORARY ON DATABASE "postgres" TO "app";') // the login is app
    expect(run.code).toBe(0)
    const superuser = await cli(['check', '--url', './pgdata', '--schema', 'schema.ts', '--json'])
    expect(superuser.code).toBe(1)
    expect((JSON.parse(superuser.out) as { findings: { code: string }[] }).findings.map((f) => f.code)).toContain('ROLE_SUPERUSER')
  })

  it('refuses a directory that is not a PGlite one, an unknown --as role, and --as with a server URL', async () => {
    mkdirSync(join(dir, 'empty'), { recursive: true })
    expectUsageError(
      await cli(['tenants', 'list', '--url', './empty']),
      /empty is not a PGlite data directory \(no PG_VERSION in it\): pass the directory the app opens with new PGlite\(dir\)/,
    )
    expectUsageError(await cli(['tenants', 'list', '--url', './nowhere']), /nowhere is not a PGlite data directory/)
    expectUsageError(
      await cli(['tenants', 'list', '--url', './pgdata', '--as', 'nobody']),
      /No role "nobody" in the PGlite database .*pgdata: pass the app's role to --as/,
    )
    expectUsageError(
      await cli(['tenants', 'list', '--url', 'postgres://x@127.0.0.1:1/db', '--as', 'app']),
      /--as is for a PGlite data directory: on a server, connect as "app" \(the user in --url\)\./,
    )
    expectUsageError(await cli(['check', '--url', 'mysql://x@y/z']), /is not a postgres:\/\/ URL, nor a PGlite data directory/)
    // Nothing was created by any of these.
    expect(spawnSync('ls', [join(dir, 'nowhere')]).status).not.toBe(0)
  })

  it('says how to install PGlite when it is missing (the built bin, outside any project)', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pgt-cli-nopglite-'))
    try {
      const bin = await bundleBin(outside)
      const run = spawnSync(process.execPath, [bin, 'tenants', 'list', '--url', data], {
        cwd: outside,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      })
      expect(run.stderr).toBe('pg-tenants: Opening a PGlite data directory needs PGlite: npm install @electric-sql/pglite.\n')
      expect(run.status).toBe(2)
    } finally {
      rmSync(outside, { recursive: true, force: true })
    }
  })
})
