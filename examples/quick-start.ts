/**
 * The README's quick start, as a program: `npx tsx examples/quick-start.ts`. Runs on in-memory
 * PGlite, as an ordinary role that owns the table (row-level security never binds a superuser,
 * and PGlite's own session is one). The README shows this file from its first import on, with
 * the package's import paths; test/docs.test.ts checks that it does, and runs it.
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
import { sqlState } from '../src/index.js'
import { leaveSuperuser, migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'

// The schema: withRls marks the tenant table and its tenant column.
const todos = withRls(
  pgTable('todos', {
    id: serial('id').primaryKey(),
    title: text('title').notNull(),
    tenant: text('tenant').notNull(), // text, varchar, integer, bigint or uuid
  }),
)

// The migration, as an ordinary role: RLS never binds a superuser, and PGlite's session is one.
const client = new PGlite() // in memory; new PGlite('./pgdata') keeps a data directory
await leaveSuperuser(client)
await client.exec('CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, tenant text NOT NULL)')
await client.exec(migrationSql([todos]).up) // roles, grants, RLS, policies; drizzle-kit: docs/migrations.md

const db = drizzle(client, { schema: { todos } })
const manager = PostgresManager.fromDrizzle(db)
// One transaction scoped to acme: committed when the callback resolves, rolled back if it throws.
await manager.withTenant('acme', (tx) => tx.insert(todos).values({ title: 'ship v1', tenant: tx.tenant }))
// A long-lived session keeps what it commits; `await using` closes it, rolling back the rest.
{
  await using session = await manager.newTenantSession('globex')
  await session.insert(todos).values({ title: 'hire', tenant: session.tenant })
  await session.commit()
}

const rows = await manager.withTenant('acme', (tx) => tx.select().from(todos)) // no WHERE tenant = …
console.log('acme sees:', rows.map((row) => row.title).join(', ')) // ship v1
const write = manager.withTenant('acme', (tx) => tx.insert(todos).values({ title: 'x', tenant: 'globex' }))
const refused = await write.then(() => undefined).catch((error: unknown) => sqlState(error)) // the SQLSTATE
console.log('acme writing a globex row:', refused ? `rejected, ${refused}` : 'accepted') // rejected, 42501
console.log('outside any scope:', (await db.select().from(todos)).length, 'rows') // 0: fail closed
await client.close()
