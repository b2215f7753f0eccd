/** The demo's stack on Kysely: `fromKysely(db, client)`, a Kysely `Transaction` in each scope. */
import { Kysely, PostgresDialect, type Generated, type Transaction } from 'kysely'
import { fromKysely, PGliteDialect } from '../../src/kysely/index.js'
import { options, TODOS, type Database, type DemoStack } from './types.js'

interface Schema {
  todos: { id: Generated<number>; title: string; tenant: string }
}

export function open(database: Database): DemoStack {
  const client = database.kind === 'pglite' ? database.client : database.pool
  const dialect = database.kind === 'pglite' ? new PGliteDialect({ pglite: database.client }) : new PostgresDialect({ pool: database.pool })
  const db = new Kysely<Schema>({ dialect })
  const q = (handle: object) => handle as Transaction<Schema>
  return {
    label: 'Kysely',
    manager: fromKysely(db, client, { ...options, tables: [TODOS] }),
    add: async (handle, todo) => void (await q(handle).insertInto('todos').values(todo).execute()),
    list: (handle) => q(handle).selectFrom('todos').select(['title', 'tenant']).orderBy('id').execute(),
    outside: async () => (await db.selectFrom('todos').selectAll().execute()).length,
    close: async () => undefined, // the demo closes the pool or PGlite itself
  }
}
