/** The Kysely stacks: `fromKysely(db, client)` over node-postgres (PostgresDialect), PGlite
 * (PGliteDialect) and postgres.js (kysely-postgres-js' PostgresJSDialect). */
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely'
import { PostgresJSDialect } from 'kysely-postgres-js'
import type pg from 'pg'
import postgres from 'postgres'
import type { PGlite } from '@electric-sql/pglite'
import { fromKysely, PGliteDialect } from '../../../src/kysely/index.js'
import type { Row } from '../targets.js'
import type { Stack, StackManager } from './types.js'

/** Runs `text` with its `$n` parameters through a Kysely instance or transaction. */
async function run(handle: unknown, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  return (await (handle as Kysely<unknown>).executeQuery<Row>(CompiledQuery.raw(text, [...params]))).rows
}

/** The stack's manager over `db`; the client (the login's) is not closed by `end`. */
function over(db: Kysely<unknown>, manager: StackManager['manager']): StackManager {
  return { manager, query: run, outside: (text) => run(db, text), end: async () => undefined }
}

export const kyselyPgStack: Stack = {
  name: 'kysely-pg',
  supports: (target) => target !== 'pglite',
  async open(login, options, tables, settings = {}) {
    const { max: _max, ...engine } = settings
    const pool = login.client as pg.Pool
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
    return over(db, fromKysely(db, pool, { ...options, ...engine, tables }))
  },
}

export const kyselyPgliteStack: Stack = {
  name: 'kysely-pglite',
  supports: (target) => target === 'pglite',
  async open(login, options, tables, settings = {}) {
    const { max: _max, ...engine } = settings
    const pglite = login.client as PGlite
    // db.destroy() would close the target's PGlite instance: the stack leaves it to the target.
    const db = new Kysely<unknown>({ dialect: new PGliteDialect({ pglite }) })
    return over(db, fromKysely(db, pglite, { ...options, ...engine, tables }))
  },
}

export const kyselyPostgresJsStack: Stack = {
  name: 'kysely-postgres-js',
  supports: (target) => target !== 'pglite',
  async open(login, options, tables, settings = {}) {
    const { max, ...engine } = settings
    const url = login.url!
    // PgBouncer in transaction mode keeps no named prepared statement across transactions.
    const bouncer = process.env['PGBOUNCER_URL']
    const behindBouncer = bouncer !== undefined && new URL(bouncer).host === new URL(url).host
    const sql = postgres(url, { max: max ?? 5, onnotice: () => undefined, ...(behindBouncer ? { prepare: false } : {}) })
    const db = new Kysely<unknown>({ dialect: new PostgresJSDialect({ postgres: sql }) })
    const manager = fromKysely(db, sql, { ...options, ...engine, tables })
    return { ...over(db, manager), end: () => db.destroy() }
  },
}
