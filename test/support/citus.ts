/**
 * What the Citus tests share (test/citus.test.ts, test/citus-check.test.ts,
 * test/attacks-citus.test.ts): the coordinator's URL from `CITUS_URL`, URLs as other users or
 * nodes, one-off clients, and the migration applied one statement at a time, as Citus needs it.
 */
import pg from 'pg'

/** A superuser URL of a Citus coordinator whose workers accept the same logins on loopback. */
export const citusUrl = process.env['CITUS_URL']

/** What a skipped Citus test's name says. */
export const CITUS_SKIPPED = '(skipped: set CITUS_URL to a superuser URL of a Citus coordinator with workers, e.g. postgres://postgres@127.0.0.1:9700/citus)'

/** `url` as another user (no password), and on another port (a worker) when given. */
export function as(url: string, user: string, port?: number): string {
  const u = new URL(url)
  u.username = user
  u.password = ''
  if (port !== undefined) u.port = String(port)
  return u.toString()
}

/** Runs `fn` on a client of its own, closed after. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Applies statements one at a time, in one transaction, as Citus needs them. */
export async function applyOneByOne(url: string, statements: readonly string[]): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('BEGIN')
    for (const statement of statements) await c.query(statement)
    await c.query('COMMIT')
  })
}
