/**
 * The example of docs/adapter-api.md: the page shows examples/adapter-engine.ts as it is (with the
 * package's import paths), and that file runs here on PGlite and on the server at DATABASE_URL,
 * as a non-superuser login that owns the table, so the page cannot drift from the code.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addTodo, countAll, importTodos, todoEngine } from '../examples/adapter-engine.js'
import * as adapter from '../src/adapter.js'
import { sqlState } from '../src/core/errors.js'
import { buildMigration } from '../src/core/migration.js'
import type { TenantOptions } from '../src/core/options.js'
import { uniqueSuffix } from './support/targets.js'

const PAGE = readFileSync(new URL('../docs/adapter-api.md', import.meta.url), 'utf8')
const EXAMPLE = readFileSync(new URL('../examples/adapter-engine.ts', import.meta.url), 'utf8')
const TABLE = `CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL CHECK (title <> ''))`

describe('docs/adapter-api.md', () => {
  it('shows examples/adapter-engine.ts from its first import on, with the package import paths', () => {
    const code = EXAMPLE.slice(EXAMPLE.indexOf('\nimport ') + 1)
      .replace("from '../src/index.js'", "from 'pg-tenants'")
      .replace("from '../src/adapter.js'", "from 'pg-tenants/adapter'")
    const blocks = [...PAGE.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
    expect(blocks).toContain(code)
    expect(PAGE).toContain(TABLE)
  })

  it('documents every export of pg-tenants/adapter', () => {
    for (const name of Object.keys(adapter)) expect(PAGE, name).toContain(`\`${name}`)
  })
})

interface World {
  /** A `pg.Pool` or a PGlite instance, logged in as the owner of `todos`. */
  client: unknown
  close(): Promise<void>
}

/** Runs the page's usage block on `world`, whose login owns `todos`, migrated with `options`. */
function exercise(open: (options: TenantOptions) => Promise<World>): void {
  const suffix = uniqueSuffix()
  const options: TenantOptions = { tenantRole: `pgt_rls_${suffix}`, adminRole: `pgt_admin_${suffix}` }
  let world: World

  beforeAll(async () => {
    world = await open(options)
  })
  afterAll(async () => {
    await world?.close()
  })

  it('runs the example: scoped writes and reads, a session of transactions, the admin count', async () => {
    const engine = todoEngine(world.client, options)
    expect(await addTodo(engine, 'acme', 'write docs')).toEqual(['write docs'])
    expect(await addTodo(engine, 'globex', 'hire')).toEqual(['hire']) // not acme's row
    expect(await importTodos(engine, 'acme', ['ship', '', 'test'])).toBe(2) // '' breaks the CHECK, alone
    expect(await addTodo(engine, 'acme', 'done')).toEqual(['write docs', 'ship', 'test', 'done'])
    expect(await countAll(engine)).toBe(5)
    expect([...(await engine.listTenants())].sort()).toEqual(['acme', 'globex'])
    // A write into another tenant is refused by the policy, and nothing of it stays.
    const refused = await engine
      .run({ kind: 'tenant', id: 'acme', createIfMissing: false }, (conn) =>
        conn.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', ['globex', 'sneaky']),
      )
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    expect(sqlState(refused), String(refused)).toBe('42501')
    expect(await countAll(engine)).toBe(5)
    await expect(importTodos(engine, 'initech', ['x'])).rejects.toMatchObject({ code: 'TENANT_NOT_FOUND' })
  })
}

describe('the example on PGlite', () => {
  exercise(async (options) => {
    const lite = await PGlite.create()
    const owner = `pgt_owner_${uniqueSuffix()}`
    // One PGlite instance is one session: a session-level SET ROLE stops being superuser here.
    await lite.exec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; ALTER SCHEMA public OWNER TO "${owner}"; SET ROLE "${owner}"; ${TABLE}`)
    await lite.exec(buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }], options).up)
    return {
      client: lite,
      close: () => lite.close(),
    }
  })
})

// The example's table is `public.todos`: on the server, in a database of its own.
describe.skipIf(!process.env['DATABASE_URL'])('the example on the server', () => {
  exercise(async (options) => {
    const url = new URL(process.env['DATABASE_URL']!)
    const name = `pgt_adapter_${randomBytes(4).toString('hex')}`
    const owner = `pgt_owner_${uniqueSuffix()}`
    const admin = new pg.Pool({ connectionString: url.href, max: 1 })
    await admin.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE`)
    await admin.query(`CREATE DATABASE "${name}" OWNER "${owner}" TEMPLATE template0`)
    url.pathname = `/${name}`
    url.username = owner
    const pool = new pg.Pool({ connectionString: url.href, max: 3 })
    pool.on('error', () => undefined) // DROP DATABASE … WITH (FORCE) ends what is left
    await pool.query(TABLE)
    await pool.query(buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }], options).up)
    return {
      client: pool,
      async close() {
        await pool.end()
        await admin.query(`DROP DATABASE "${name}" WITH (FORCE)`)
        // Their privileges went with the database; memberships go with the roles.
        await admin.query(`DROP ROLE IF EXISTS "${options.tenantRole}", "${options.adminRole}", "${owner}"`)
        await admin.end()
      },
    }
  })
})
