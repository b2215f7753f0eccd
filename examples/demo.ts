/**
 * `npm run demo`: pg-tenants end to end, in one file. Runs on in-memory PGlite (no server
 * needed), or on a real PostgreSQL when DATABASE_URL is set (e.g.
 * postgres://postgres@127.0.0.1:5432/test), on any stack: `npm run demo -- --stack pg`
 * (drizzle, the default; pg; pglite; postgres-js; kysely). The narrative is here; what differs
 * per stack (the manager and two queries in its own API) is in examples/demo/<stack>.ts.
 *
 * Row-level security does not apply to superusers, and PGlite (like the `postgres` user of a
 * fresh server) connects as one. So the demo first creates an ordinary LOGIN role that owns the
 * schema and the table, and does everything else as that role — which is what an application
 * login looks like on a managed service.
 *
 * DATABASE_URL's user must be able to create roles and schemas (e.g. `postgres`). There the
 * demo works in its own schema with its own role names, and drops them at the end (and at the
 * start, should an earlier run have been interrupted), so it can be run again.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { buildMigration, isRlsViolation, sqlState, TenantError } from '../src/index.js'
import { options, TODOS, type Database, type DemoStack } from './demo/types.js'

const SCHEMA = options.schema // pg_ prefixes are reserved for schemas and roles
const APP_ROLE = 'tenants_demo_app' // the application's login: not superuser, owns the table

/** The stacks, each loaded only when chosen (its packages are optional peers). */
const STACKS: Record<string, (database: Database) => Promise<DemoStack>> = {
  drizzle: async (d) => (await import('./demo/drizzle.js')).open(d),
  pg: async (d) => (await import('./demo/pg.js')).open(d),
  pglite: async (d) => (await import('./demo/pglite.js')).open(d),
  'postgres-js': async (d) => (await import('./demo/postgres-js.js')).open(d),
  kysely: async (d) => (await import('./demo/kysely.js')).open(d),
}

const CREATE_TABLE = 'CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, tenant text NOT NULL)'

/** Everything the demo needs from its database: the database (as APP_ROLE), raw
 * multi-statement SQL (as APP_ROLE), and a way to clean up. */
interface Setup {
  readonly label: string
  readonly database: Database
  exec(sql: string): Promise<unknown>
  close(): Promise<void>
}

async function onPglite(): Promise<Setup> {
  const client = new PGlite()
  // One PGlite instance is one session, owned by this demo: a session-level SET ROLE is the way
  // to stop being superuser here. (With a pool, connect as the login role instead.)
  await client.exec(`CREATE ROLE ${APP_ROLE} LOGIN CREATEROLE;
    CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${APP_ROLE};
    SET ROLE ${APP_ROLE}; SET search_path TO ${SCHEMA};`)
  return {
    label: 'PGlite (embedded)',
    database: { kind: 'pglite', client },
    exec: (sql) => client.exec(sql),
    close: () => client.close(),
  }
}

async function onServer(url: string): Promise<Setup> {
  const owner = new pg.Pool({ connectionString: url, max: 1 }) // a superuser, for setup only
  const dropAll = async () => {
    await owner.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
    const roles = [APP_ROLE, options.tenantRole, options.adminRole]
    const found = await owner.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [roles])
    for (const { rolname } of found.rows) await owner.query(`DROP OWNED BY ${rolname} CASCADE; DROP ROLE ${rolname}`)
  }
  const password = randomUUID()
  await dropAll()
  await owner.query(`CREATE ROLE ${APP_ROLE} LOGIN CREATEROLE PASSWORD '${password}';
    CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${APP_ROLE}`)
  // The application's pool logs in as APP_ROLE (in a URL, user and password win over options).
  const appUrl = new URL(url)
  appUrl.username = APP_ROLE
  appUrl.password = password
  const pool = new pg.Pool({ connectionString: appUrl.href, options: `-c search_path=${SCHEMA}` })
  const version = (await pool.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version
  return {
    label: `PostgreSQL ${version} (DATABASE_URL)`,
    database: { kind: 'server', pool, url: appUrl.href },
    exec: (sql) => pool.query(sql),
    close: async () => {
      await pool.end()
      await dropAll()
      await owner.end()
    },
  }
}

/** The stack named by `--stack` (or PG_TENANTS_DEMO_STACK, which `pg-tenants demo --stack` sets). */
function chosenStack(): string {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { stack: { type: 'string' } }, strict: false })
  const name = typeof values.stack === 'string' ? values.stack : (process.env['PG_TENANTS_DEMO_STACK'] ?? 'drizzle')
  if (!(name in STACKS)) throw new Error(`Unknown stack ${JSON.stringify(name)}: use --stack ${Object.keys(STACKS).join(', --stack ')}.`)
  return name
}

async function main(): Promise<void> {
  const stackName = chosenStack()
  const url = process.env['DATABASE_URL']
  const setup = url ? await onServer(url) : await onPglite()
  let stack: DemoStack | undefined
  try {
    await setup.exec(CREATE_TABLE)
    await setup.exec(buildMigration([TODOS], options).up)
    stack = await STACKS[stackName]!(setup.database)
    await demo(setup.label, stack)
  } finally {
    await stack?.close()
    await setup.close()
  }
}

async function demo(label: string, { label: stackLabel, manager, add, list, outside }: DemoStack): Promise<void> {
  const titles = (rows: { title: string }[]) => rows.map((r) => r.title).join(', ')
  console.log(`pg-tenants demo on ${label}, as login role ${APP_ROLE} (not superuser, owns the table)`)
  console.log(`  stack: ${stackLabel}`)

  await manager.createTenant('acme')
  await manager.createTenant('globex')
  await manager.withTenant('acme', async (tx) => {
    await add(tx, { title: 'ship v1', tenant: tx.tenant })
    await add(tx, { title: 'write docs', tenant: tx.tenant })
  })
  await manager.withTenant('globex', (tx) => add(tx, { title: 'hire', tenant: tx.tenant }))

  // No WHERE tenant = … anywhere: row-level security adds it.
  for (const tenant of ['acme', 'globex']) {
    const rows = await manager.withTenant(tenant, (tx) => list(tx))
    console.log(`  ${tenant.padEnd(6)} sees ${rows.length} rows: ${titles(rows)}`)
  }

  try {
    await manager.withTenant('acme', (tx) => add(tx, { title: 'sneaky', tenant: 'globex' }))
    console.log('  acme inserting a globex row: accepted (this should not happen)')
  } catch (error) {
    console.log(`  acme inserting a globex row: rejected, SQLSTATE ${sqlState(error)} (isRlsViolation: ${isRlsViolation(error)})`)
  }

  {
    await using session = await manager.newTenantSession('globex')
    await add(session, { title: 'kept (committed)', tenant: session.tenant })
    await session.commit() // still scoped to globex after commit
    await add(session, { title: 'lost (never committed)', tenant: session.tenant })
  } // disposal = close(): rolls back the uncommitted insert and releases the connection
  const globex = await manager.withTenant('globex', (tx) => list(tx))
  console.log(`  globex session, commit then close: globex now has ${globex.length} rows: ${titles(globex)}`)

  try {
    await manager.withTenant('initech', (tx) => list(tx), { createIfMissing: false })
  } catch (error) {
    console.log(`  unknown tenant with createIfMissing: false -> ${error instanceof TenantError ? error.code : String(error)}`)
  }

  const all = await manager.withAdmin((tx) => list(tx))
  const count = (tenant: string) => all.filter((r) => r.tenant === tenant).length
  console.log(`  withAdmin sees ${all.length} rows (acme ${count('acme')}, globex ${count('globex')})`)

  const unscoped = await outside()
  console.log(`  outside any scope, the app's client sees ${unscoped} rows${unscoped === 0 ? ' (fail closed)' : ''}`)

  console.log(`  listTenants(): ${[...(await manager.listTenants())].sort().join(', ')}`)
}

await main()
