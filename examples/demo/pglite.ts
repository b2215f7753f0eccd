/** The demo's stack on PGlite with no ORM: `fromPglite(db)`, `tx.query` in each scope. */
import { fromPglite, type PgliteQueries } from '../../src/pglite/index.js'
import { options, TODOS, type Database, type DemoStack, type Todo } from './types.js'

export function open(database: Database): DemoStack {
  if (database.kind !== 'pglite') throw new Error('the pglite stack runs on embedded PGlite: unset DATABASE_URL (or use --stack pg)')
  const { client } = database
  const q = (handle: object) => handle as PgliteQueries
  return {
    label: 'PGlite (no ORM)',
    manager: fromPglite(client, { ...options, tables: [TODOS] }),
    add: async (handle, todo) => void (await q(handle).query('INSERT INTO todos (title, tenant) VALUES ($1, $2)', [todo.title, todo.tenant])),
    list: async (handle) => (await q(handle).query<Todo>('SELECT title, tenant FROM todos ORDER BY id')).rows,
    outside: async () => (await client.query('SELECT * FROM todos')).rows.length,
    close: async () => undefined,
  }
}
