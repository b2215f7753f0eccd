/**
 * `pg-tenants demo`: the built bin runs the repository's demo (examples/demo.ts) on in-memory
 * PGlite, whatever DATABASE_URL says; on the server only with --url; and outside a project that
 * has its optional peers, it says what to install.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleBin, makeTempDir } from './support/cli.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DATABASE_URL = process.env['DATABASE_URL']

function run(bin: string, args: string[], env: Record<string, string | undefined> = {}) {
  const { DATABASE_URL: _, ...inherited } = process.env
  return spawnSync(process.execPath, [bin, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...inherited, NO_COLOR: '1', ...env }, timeout: 120_000 })
}

describe('pg-tenants demo', () => {
  // Inside the repository, so that drizzle-orm, PGlite and pg resolve from its node_modules.
  const dir = makeTempDir('cli-demo-')
  let bin = ''
  beforeAll(async () => {
    bin = await bundleBin(dir)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('runs the demo on in-memory PGlite, even with DATABASE_URL set', () => {
    const demo = run(bin, ['demo'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nowhere' })
    expect(demo.stderr).toBe('')
    expect(demo.status).toBe(0)
    expect(demo.stdout).toMatch(/^pg-tenants demo on PGlite \(embedded\), as login role tenants_demo_app/)
    expect(demo.stdout).toContain('  acme   sees 2 rows: ship v1, write docs')
    expect(demo.stdout).toContain('  globex sees 1 rows: hire')
    expect(demo.stdout).toMatch(/acme inserting a globex row: rejected, SQLSTATE 42501/)
    expect(demo.stdout).toContain('  stack: Drizzle\n')
    expect(demo.stdout).toMatch(/outside any scope, the app's client sees 0 rows \(fail closed\)/)
  }, 120_000)

  it.skipIf(!DATABASE_URL)(
    'runs on the server given with --url',
    () => {
      const demo = run(bin, ['demo', '--url', DATABASE_URL!])
      expect(demo.stderr).toBe('')
      expect(demo.status).toBe(0)
      expect(demo.stdout).toMatch(/^pg-tenants demo on PostgreSQL \d+/)
      expect(demo.stdout).toMatch(/\(fail closed\)/)
    },
    120_000,
  )

  it('runs on another stack with --stack: PGlite with no ORM in memory, pg on the server', () => {
    const kysely = run(bin, ['demo', '--stack', 'kysely'])
    expect(kysely.stderr).toBe('')
    expect(kysely.stdout).toContain('  stack: Kysely\n')
    expect(kysely.stdout).toContain('  acme   sees 2 rows: ship v1, write docs')
    const lite = run(bin, ['demo', '--stack', 'pglite'])
    expect(lite.stderr).toBe('')
    expect(lite.stdout).toContain('  stack: PGlite (no ORM)\n')
    expect(lite.stdout).toContain('  acme   sees 2 rows: ship v1, write docs')
    expect(lite.stdout).toMatch(/\(fail closed\)/)
    if (DATABASE_URL) {
      const server = run(bin, ['demo', '--stack', 'pg', '--url', DATABASE_URL])
      expect(server.stderr).toBe('')
      expect(server.stdout).toContain('  stack: pg (no ORM)\n')
      expect(server.stdout).toContain('  globex sees 1 rows: hire')
      const pjs = run(bin, ['demo', '--stack', 'postgres-js', '--url', DATABASE_URL])
      expect(pjs.stderr).toBe('')
      expect(pjs.stdout).toContain('  stack: postgres.js\n')
      expect(pjs.stdout).toMatch(/outside any scope, the app's client sees 0 rows \(fail closed\)/)
    }
    const unknown = run(bin, ['demo', '--stack', 'prisma'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/^pg-tenants: Unknown --stack "prisma": use one of drizzle, pg, pglite, postgres-js, kysely/)
    expect(run(bin, ['demo', '--stack', 'pg']).stderr).toMatch(/--stack pg needs a server/)
  }, 120_000)

  it('refuses a --url that is not postgres://, and an unknown flag', () => {
    const url = run(bin, ['demo', '--url', './pgdata'])
    expect(url.status).toBe(2)
    expect(url.stderr).toBe('pg-tenants: --url must be a postgres:// URL: pass --url postgres://user@host:5432/db, or leave it out for in-memory PGlite.\n')
    const flag = run(bin, ['demo', '--fast'])
    expect(flag.status).toBe(2)
    expect(flag.stderr).toMatch(/^pg-tenants: Unknown option '--fast'.*pg-tenants demo --help/)
  })

  it('says what to install where drizzle-orm, PGlite and pg are missing', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pgt-cli-demo-'))
    try {
      const lone = await bundleBin(outside)
      const demo = run(lone, ['demo'])
      expect(demo.stderr).toBe(
        'pg-tenants: The demo needs drizzle-orm, @electric-sql/pglite, pg next to pg-tenants: npm install drizzle-orm @electric-sql/pglite pg.\n',
      )
      expect(demo.status).toBe(2)
      expect(demo.stdout).toBe('')
    } finally {
      rmSync(outside, { recursive: true, force: true })
    }
  })
})
