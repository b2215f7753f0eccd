/**
 * The database of the commands that need one: `--url`, else `DATABASE_URL`, through node-postgres
 * (an optional peer dependency, loaded only here). A URL that does not connect is a usage error.
 *
 * @module
 */
import type { Io } from './io.js'
import { UsageError } from './io.js'

/** A pg Pool, as far as the commands need to know. */
export interface CliPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
}

/** The URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(an unparsable URL)'
  }
}

/** Opens a pool on `--url` or `DATABASE_URL` and checks that it answers. The caller ends it. */
export async function openDatabase(url: string | undefined, io: Io): Promise<CliPool> {
  const target = url ?? io.env['DATABASE_URL']
  if (!target) {
    throw new UsageError('No database: pass --url postgres://user@host:5432/db or set DATABASE_URL.')
  }
  if (!/^postgres(?:ql)?:\/\//.test(target)) {
    throw new UsageError(`${redactUrl(target)} is not a postgres:// URL: pass --url postgres://user@host:5432/db.`)
  }
  let pg: { default?: { Pool: new (config: object) => CliPool }; Pool?: new (config: object) => CliPool }
  try {
    pg = (await import('pg')) as typeof pg
  } catch {
    throw new UsageError('This command needs the node-postgres driver: npm install pg.')
  }
  const Pool = pg.default?.Pool ?? pg.Pool
  if (!Pool) throw new UsageError('The installed pg package has no Pool: npm install pg@8.')
  const pool = new Pool({ connectionString: target, max: 4, connectionTimeoutMillis: 10_000 })
  ;(pool as unknown as { on?(event: string, listener: () => void): void }).on?.('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => undefined)
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new UsageError(`Cannot connect to ${redactUrl(target)}: ${reason}. Check --url or DATABASE_URL.`)
  }
  return pool
}
