/** The demo's stack on node-postgres with no ORM: `fromPg(pool)`, `tx.query` in each scope. */
import { fromPg, type PgQueries } from '../../src/pg/index.js'
import { options, TODOS, type Database, type DemoStack, type Todo } from './types.js'

export function open(database: Database): DemoStack {
  if (database.kind !== 'server') throw new Error('the pg stack needs a server: set DATABASE_URL (or use --stack pglite)')
  const { pool } = database
  const q = (handle: object) => handle as PgQueries
  return {
    label: 'pg (no ORM)',
    manager: fromPg(pool, { ...options, tables: [TODOS] }),
    add: async (handle, todo) => void (await q(handle).query('INSERT INTO todos (title, tenant) VALUES ($1, $2)', [todo.title, todo.tenant])),
    list: async (handle) => (await q(handle).query<Todo & Record<string, unknown>>('SELECT title, tenant FROM todos ORDER BY id')).rows,
    outside: async () => (await pool.query('SELECT * FROM todos')).rows.length,
    close: async () => undefined,
  }
}
