/** The demo's stack on Drizzle ORM: `fromDrizzle(db)`, a Drizzle transaction in each scope. */
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { fromDrizzle, withRls, type DrizzleQueries, type AnyPgDatabase } from '../../src/drizzle/index.js'
import { options, type Database, type DemoStack } from './types.js'

// The table has no schema of its own: it lives in the manager's `schema`, found via search_path.
export const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))

export function open(database: Database): DemoStack {
  const db: AnyPgDatabase = database.kind === 'pglite' ? drizzlePglite(database.client) : drizzlePg(database.pool)
  const q = (handle: object) => handle as DrizzleQueries<AnyPgDatabase>
  return {
    label: 'Drizzle',
    manager: fromDrizzle(db, { ...options, tables: [todos] }), // tables: to validate ids
    add: async (handle, todo) => void (await q(handle).insert(todos).values(todo)),
    list: (handle) => q(handle).select({ title: todos.title, tenant: todos.tenant }).from(todos).orderBy(todos.id),
    outside: async () => (await db.select().from(todos)).length,
    close: async () => undefined,
  }
}
