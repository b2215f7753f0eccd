/**
 * The engine under every adapter, used directly with no ORM, over a `pg.Pool` or a PGlite
 * instance. docs/adapter-api.md shows this file from its first import on, with the package's
 * import paths; test/adapter-api.test.ts checks that it does and runs it on PGlite and on the
 * server.
 *
 * @module
 */
import type { TenantOptions } from '../src/index.js'
import { driverFor, TenantEngine } from '../src/adapter.js'

/** An engine for the tables that `migrationSql(tables, options)` set up, whose tenant column is
 * `text`. `client` is a `pg.Pool` or a PGlite instance. */
export function todoEngine(client: unknown, options: TenantOptions = {}): TenantEngine {
  return new TenantEngine(driverFor(client), options, [{ type: 'text' }])
}

/** Adds a todo in one tenant-scoped transaction and returns the titles that tenant sees. */
export function addTodo(engine: TenantEngine, tenant: string, title: string): Promise<string[]> {
  // `fn` runs only once BEGIN and the scoping statements succeeded (one message). The engine
  // commits when it resolves, rolls back when it throws, and releases (or destroys) the connection.
  return engine.run({ kind: 'tenant', id: tenant, createIfMissing: true }, async (conn) => {
    await conn.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tenant, title])
    const { rows } = await conn.query('SELECT title FROM todos ORDER BY id', []) // no WHERE: RLS filters
    return rows.map((row) => String(row['title']))
  })
}

/** Imports titles in one long-lived session, a transaction each: a title the table refuses is
 * rolled back alone. Returns how many were committed. */
export async function importTodos(engine: TenantEngine, tenant: string, titles: readonly string[]): Promise<number> {
  const session = await engine.open({ kind: 'tenant', id: tenant, createIfMissing: false })
  let committed = 0
  try {
    for (const title of titles) {
      try {
        await session.connection.query('INSERT INTO todos (tenant, title) VALUES ($1, $2)', [tenant, title])
        await session.commit() // COMMIT and the next scoped BEGIN, in one message
        committed++
      } catch (error) {
        if (session.closed) throw error
        await session.rollback() // ROLLBACK and the next scoped BEGIN
      }
    }
  } finally {
    await session.close() // ROLLBACK and the session reset; then the connection goes back
  }
  return committed
}

/** Every tenant's todos, counted as the admin role. */
export function countAll(engine: TenantEngine): Promise<number> {
  return engine.run({ kind: 'admin' }, async (conn) => {
    const { rows } = await conn.query('SELECT count(*)::int AS n FROM todos', [])
    return Number(rows[0]?.['n'])
  })
}
