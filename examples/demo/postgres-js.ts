/** The demo's stack on postgres.js: `fromPostgresJs(sql)`, a postgres.js `sql` in each scope. */
import postgres from 'postgres'
import { fromPostgresJs, type PostgresJsQueries } from '../../src/postgres-js/index.js'
import { options, TODOS, type Database, type DemoStack, type Todo } from './types.js'

export function open(database: Database): DemoStack {
  if (database.kind !== 'server') throw new Error('the postgres-js stack needs a server: set DATABASE_URL (or use --stack pglite)')
  const sql = postgres(database.url, { connection: { search_path: options.schema }, onnotice: () => {} })
  const q = (handle: object) => handle as PostgresJsQueries
  return {
    label: 'postgres.js',
    manager: fromPostgresJs(sql, { ...options, tables: [TODOS] }),
    add: async (handle, todo) => void (await q(handle)`INSERT INTO todos ${q(handle)(todo)}`),
    list: async (handle) => [...(await q(handle)<Todo[]>`SELECT title, tenant FROM todos ORDER BY id`)],
    outside: async () => (await sql`SELECT * FROM todos`).length,
    close: () => sql.end(),
  }
}
