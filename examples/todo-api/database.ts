/**
 * The todo API's database: embedded PGlite (no server), or the PostgreSQL of `DATABASE_URL`.
 * Either way the app works as an ordinary login that owns the table, which has FORCE ROW LEVEL
 * SECURITY: code that forgets its tenant scope sees no rows at all, instead of every tenant's.
 *
 * On a server, `DATABASE_URL` may be that login already (neither superuser nor BYPASSRLS; it needs
 * CREATEROLE for the tenant roles and CREATE on the database). If it is a superuser, it is used
 * for setup only: it creates the login `<schema>_app` and its schema, and the app connects as that.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import pg from 'pg'
import { buildMigration, type TenantOptions } from '../../src/index.js'
import { fromDrizzle, leaveSuperuser, type PostgresManager } from '../../src/drizzle/index.js'
import { CREATE_TODOS, schema as tables } from './schema.js'

/** The Drizzle database of the app, on either driver. */
export type TodoDb = PgDatabase<PgQueryResultHKT, typeof tables>

export interface DatabaseConfig {
  /** A PostgreSQL URL; none: an in-memory PGlite. */
  readonly url?: string | undefined
  /** The schema of the app's tables and registry on a server (default `todo_api`); the login and
   * the tenant roles are named after it. PGlite uses `public`. */
  readonly schema?: string
  /** Connections in the app's pool (server only; default 10). */
  readonly poolSize?: number
}

export interface TodoDatabase {
  /** `PGlite (embedded)` or `PostgreSQL 15.x as todo_api_app`. */
  readonly label: string
  /** The app's database, as its login: bound by row-level security, it sees no rows unscoped. */
  readonly db: TodoDb
  readonly manager: PostgresManager<TodoDb>
  /** The app's pool, on a server. */
  readonly pool?: pg.Pool
  /** The login, the schema and the tenant roles, for whoever wants to drop them. */
  readonly names: { readonly login: string; readonly schema: string; readonly options: TenantOptions }
  close(): Promise<void>
}

/** Opens (and migrates, idempotently) the app's database. */
export async function openDatabase({ url, schema = 'todo_api', poolSize = 10 }: DatabaseConfig = {}): Promise<TodoDatabase> {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`schema must be a plain lower-case SQL name, got ${JSON.stringify(schema)}`)
  const options: TenantOptions = { schema: url ? schema : 'public', tenantRole: `${schema}_rls`, adminRole: `${schema}_admin` }
  const names = { login: `${schema}_app`, schema: options.schema!, options }
  const migration = `${CREATE_TODOS};\n${buildMigration([{ schema: names.schema, name: 'todos', column: 'tenant', type: 'text' }], options).up}`
  if (!url) {
    const client = new PGlite()
    // PGlite's one session is a superuser, whom row-level security never binds: become the app's login first.
    await leaveSuperuser(client, { role: names.login })
    await client.exec(migration)
    const db = drizzlePglite(client, { schema: tables }) as unknown as TodoDb
    return { label: 'PGlite (embedded)', db, manager: fromDrizzle(db, options), names, close: () => client.close() }
  }
  const appUrl = await prepareLogin(url, names.login, schema)
  const pool = new pg.Pool({ connectionString: appUrl, max: poolSize, options: `-c search_path=${schema}` })
  try {
    await pool.query(migration) // as the login, so that it owns the table
    const v = (await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v
    const db = drizzlePg(pool, { schema: tables }) as unknown as TodoDb
    return { label: `PostgreSQL ${v} as ${new URL(appUrl).username}`, db, manager: fromDrizzle(db, options), pool, names, close: () => pool.end() }
  } catch (error) {
    await pool.end()
    throw error
  }
}

/** The URL the app logs in with: `url` itself if its login is an ordinary role, else `login`'s,
 * created (with its schema) by `url`'s superuser. */
async function prepareLogin(url: string, login: string, schema: string): Promise<string> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ privileged: boolean }>('SELECT rolsuper OR rolbypassrls AS privileged FROM pg_roles WHERE rolname = current_user')
    if (rows[0]?.privileged !== true) {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`)
      return url
    }
    const l = pg.escapeIdentifier(login)
    const exists = (await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [login])).rowCount === 1
    if (!exists) await admin.query(`CREATE ROLE ${l} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS`)
    // A fresh password each start, known to this process only (a second instance would reset it).
    const password = randomUUID()
    await admin.query(`ALTER ROLE ${l} PASSWORD ${pg.escapeLiteral(password)}; CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)} AUTHORIZATION ${l}`)
    const appUrl = new URL(url)
    appUrl.username = login
    appUrl.password = password
    return appUrl.href
  } finally {
    await admin.end()
  }
}
