/** The postgres.js stacks: `fromPostgresJs(sql)`, and Drizzle on postgres.js
 * (`fromDrizzle(drizzle(sql))`). Each `open` makes its own `sql` over the login's URL (the server
 * or PgBouncer), ended by `end`. */
import { sql as dsql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { fromDrizzle } from '../../../src/drizzle/index.js'
import { fromPostgresJs } from '../../../src/postgres-js/index.js'
import type { Login, Row } from '../targets.js'
import { drizzleSql, drizzleTable } from './sql.js'
import type { Stack, StackManager } from './types.js'

type Sql = ReturnType<typeof postgres>

/** A postgres.js `sql` as the login. Behind PgBouncer in transaction mode (PgBouncer 1.18 keeps
 * no prepared statement across server connections) its queries are not prepared. */
export function postgresJsFor(login: Login, max = 5): Sql {
  if (login.url === undefined) throw new Error('postgres.js needs a server: this login has no URL (PGlite)')
  const bouncer = process.env['PGBOUNCER_URL']
  const behindBouncer = bouncer !== undefined && new URL(bouncer).host === new URL(login.url).host
  return postgres(login.url, { max, onnotice: () => {}, prepare: !behindBouncer })
}

/** The rows of a postgres.js answer, as plain arrays (one result, or several flattened). */
function rowsOf(result: unknown): Row[] {
  const list = result as Row[] & { command?: unknown }
  if ('command' in list) return [...list]
  return (list as unknown as Row[][]).flatMap((r) => [...r])
}

/** Ends what `open` made; a connection closed under a query keeps postgres.js' end() waiting
 * until the pool reuses it, so it is given a bound. */
const ender = (sql: Sql) => () => sql.end({ timeout: 5 })

export const postgresJsStack: Stack = {
  name: 'postgres-js',
  supports: (target) => target !== 'pglite',
  async open(login, options, tables, settings = {}): Promise<StackManager> {
    const { max, ...engine } = settings
    const sql = postgresJsFor(login, max)
    return {
      manager: fromPostgresJs(sql, { ...options, ...engine, tables }),
      async query(handle, text, params = []) {
        return rowsOf(await (handle as Sql).unsafe(text, [...params] as never[]))
      },
      outside: async (text) => rowsOf(await sql.unsafe(text)),
      end: ender(sql),
    }
  },
}

export const drizzlePostgresJsStack: Stack = {
  name: 'drizzle-postgres-js',
  supports: (target) => target !== 'pglite',
  async open(login, options, tables, settings = {}): Promise<StackManager> {
    const { max, ...engine } = settings
    const sql = postgresJsFor(login, max)
    const db = drizzle(sql)
    return {
      manager: fromDrizzle(db, { ...options, ...engine, tables: tables.map((t) => drizzleTable(t, options)) }),
      async query(handle, text, params = []) {
        return rowsOf(await (handle as typeof db).execute(drizzleSql(text, params)))
      },
      outside: async (text) => rowsOf(await db.execute(dsql.raw(text))),
      end: ender(sql),
    }
  },
}
