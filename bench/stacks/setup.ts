/**
 * The server's side of the benchmark, as the superuser of DATABASE_URL: the owner login, its
 * schema and tables (bench/lib/setup.ts), then per strategy the migration and the tenants, and
 * the teardown.
 *
 * @module
 */
import pg from 'pg'
import { buildMigration } from '../../src/core/migration.js'
import type { Strategy } from '../../src/core/options.js'
import { fromPg } from '../../src/pg/index.js'
import { createOwner, DATABASE_URL, loginUrl, serverInfo, teardown, withClient } from '../lib/setup.js'
import * as c from './config.js'

/** The owner's login: every stack connects with it. */
export const OWNER_URL = loginUrl(DATABASE_URL, c.OWNER)
const CREATED = { schema: c.SCHEMA, owner: c.OWNER, roles: [c.TENANT_ROLE, c.ADMIN_ROLE], rolePrefix: c.ROLE_PREFIX }

/** Creates the owner login, its schema and the tables (drops leftovers first); the server's version. */
export async function setUpServer(): Promise<string> {
  const { superuser, version } = await serverInfo(DATABASE_URL)
  if (!superuser) throw new Error(`DATABASE_URL must log in as a superuser (to create ${c.OWNER}).`)
  await tearDownServer()
  await createOwner(DATABASE_URL, c.OWNER, c.SCHEMA)
  await withClient(OWNER_URL, (owner) => owner.query(c.TABLES_SQL))
  return version
}

/** The strategy's migration, as the owner (switching strategy replaces the policies), and the tenants. */
export async function migrateServer(strategy: Strategy): Promise<void> {
  const { up } = buildMigration([{ schema: c.SCHEMA, name: 'items', column: 'tenant', type: 'text' }], c.optionsFor(strategy))
  await withClient(OWNER_URL, async (owner) => {
    await owner.query(up)
    await owner.query(`ANALYZE ${c.SCHEMA}.items; ANALYZE ${c.SCHEMA}.items_plain`)
  })
  const pool = new pg.Pool({ connectionString: OWNER_URL, max: 1 })
  try {
    const manager = fromPg(pool, { ...c.optionsFor(strategy), tables: c.TENANT_TABLES })
    const existing = await manager.listTenants()
    for (let t = 0; t < c.TENANTS; t++) if (!existing.has(`t${t}`)) await manager.createTenant(`t${t}`)
  } finally {
    await pool.end()
  }
}

/** Removes the schema and every role the benchmark created (also leftovers of a crashed run). */
export const tearDownServer = (): Promise<void> => teardown(DATABASE_URL, CREATED)
