/**
 * The embedded default fails closed with one call (issue "Hardening, part 2", item 15): PGlite's
 * session is a superuser, so without `leaveSuperuser` code outside any scope sees every tenant's
 * rows; after it, the session is an ordinary role that owns the tables it migrates, FORCE binds
 * it, and outside a scope it sees nothing. Both strategies, in memory and on a data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { afterAll, describe, expect, it } from 'vitest'
import { checkDatabase, leaveSuperuser, TenantError } from '../src/index.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'

const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() }))
const DDL = 'CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL)'

/** Migrates, adds a row for each of two tenants, and counts what a query outside any scope sees. */
async function outsideCount(client: PGlite, strategy: 'setting' | 'role'): Promise<number> {
  const options = { strategy }
  await client.exec(DDL)
  await client.exec(migrationSql([todos], options).up)
  const manager = PostgresManager.fromDrizzle(drizzle(client), options)
  for (const tenant of ['acme', 'globex']) {
    await manager.withTenant(tenant, (tx) => tx.insert(todos).values({ tenant, title: 't' }))
  }
  const [row] = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM todos')).rows
  return row!.n
}

describe('leaveSuperuser (PGlite)', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  for (const strategy of ['setting', 'role'] as const) {
    it(`${strategy}: without it, code outside a scope sees every row and check says so; with it, nothing`, async () => {
      const open = await PGlite.create()
      expect(await outsideCount(open, strategy)).toBe(2)
      const before = await checkDatabase(open, { strategy, tables: [{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }] })
      expect(before.findings.map((f) => f.code)).toContain('ROLE_SUPERUSER')
      await open.close()

      const closed = await PGlite.create()
      expect(await leaveSuperuser(closed)).toEqual({ role: 'app' })
      expect((await closed.query('SELECT current_user::text AS u, session_user::text AS s')).rows).toEqual([{ u: 'app', s: 'app' }])
      expect(await outsideCount(closed, strategy)).toBe(0)
      // Scopes still work and still end where they began: as `app`.
      const manager = PostgresManager.fromDrizzle(drizzle(closed), { strategy })
      expect(await manager.withTenant('acme', async (tx) => (await tx.execute(sql`SELECT count(*)::int AS n FROM todos`)).rows)).toEqual([{ n: 1 }])
      expect((await closed.query('SELECT current_user::text AS u')).rows).toEqual([{ u: 'app' }])
      const after = await checkDatabase(closed, { strategy, tables: [{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }] })
      expect(after.findings.filter((f) => f.code === 'ROLE_SUPERUSER' || f.code === 'ROLE_BYPASSRLS')).toEqual([])
      await closed.close()
    })
  }

  it('on a data directory: the role is kept, the call is needed again after each open, and is harmless twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgt-leave-'))
    dirs.push(dir)
    const first = await PGlite.create(dir)
    await leaveSuperuser(first)
    await leaveSuperuser(first)
    expect(await outsideCount(first, 'setting')).toBe(0)
    await first.close()
    const again = await PGlite.create(dir)
    expect((await again.query('SELECT count(*)::int AS n FROM todos')).rows).toEqual([{ n: 2 }]) // a superuser again
    await leaveSuperuser(again)
    expect((await again.query('SELECT count(*)::int AS n FROM todos')).rows).toEqual([{ n: 0 }])
    await again.close()
  })

  it('refuses when a superuser already owns tables, and refuses a client that is not PGlite', async () => {
    const client = await PGlite.create()
    await client.exec(DDL)
    const error = await leaveSuperuser(client).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TenantError)
    expect((error as TenantError).message).toMatch(/public\.todos already belong to a superuser.*call leaveSuperuser before migrating/)
    await client.close()
    const notPglite = await leaveSuperuser({ query: async () => ({ rows: [] }) }).catch((e: unknown) => e)
    expect((notPglite as TenantError).code).toBe('UNSUPPORTED_CLIENT')
  })
})
