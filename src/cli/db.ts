/**
 * The database of the commands that need one: `--url`, else `DATABASE_URL`, through node-postgres
 * (an optional peer dependency, loaded only here). A URL that does not connect is a usage error
 * whose one line says what went wrong and what to check.
 *
 * @module
 */
import type { Io } from './io.js'
import { oneLine, UsageError } from './io.js'

/** A pg Pool, as far as the commands need to know (hand it to `driverFor` for the engine). */
export interface CliPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
}

/** `--url`, for the commands that talk to a database. */
export const DATABASE_FLAGS = {
  url: { type: 'string' },
} as const

/** The help line of {@link DATABASE_FLAGS}. */
export const DATABASE_HELP = `  --url <postgres://…>        the database, default: $DATABASE_URL`

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
  let pg: { default?: { Pool?: PoolClass }; Pool?: PoolClass }
  try {
    pg = (await import('pg')) as typeof pg
  } catch {
    throw new UsageError('This command needs the node-postgres driver: npm install pg.')
  }
  const Pool = pg.default?.Pool ?? pg.Pool
  if (!Pool) throw new UsageError('The installed pg package has no Pool: npm install pg@8.')
  let pool: CliPool & { on?(event: string, listener: () => void): void }
  try {
    pool = new Pool({ connectionString: target, max: 4, connectionTimeoutMillis: 10_000 })
  } catch (error) {
    throw new UsageError(`Cannot use ${redactUrl(target)}: ${reasonOf(error)}. Check --url or DATABASE_URL.`)
  }
  // An idle connection the server drops (restart, timeout) is reported here; the next query
  // fails with a clear error anyway, so this must not crash the process.
  pool.on?.('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => undefined)
    throw new UsageError(`Cannot connect to ${redactUrl(target)}: ${reasonOf(error)}. ${hintFor(error)}`)
  }
  return pool
}

type PoolClass = new (config: object) => CliPool

/** What the driver said, on one line; an AggregateError (several addresses tried) has no
 * message of its own, so its first inner error speaks for it. */
function reasonOf(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; errors?: unknown } | null
  const message = typeof e?.message === 'string' ? oneLine(e.message) : ''
  if (message) return message
  if (Array.isArray(e?.errors) && e.errors.length > 0) return reasonOf(e.errors[0])
  return typeof e?.code === 'string' ? e.code : String(error)
}

/** What to check, by the error's code (a Node socket code or a PostgreSQL SQLSTATE). */
function hintFor(error: unknown): string {
  const e = error as { code?: unknown; errors?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : undefined
  switch (code) {
    case 'ECONNREFUSED':
      return 'Is the server running, on that host and port? Check --url or DATABASE_URL.'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'Check the host name in --url or DATABASE_URL.'
    case 'ETIMEDOUT':
      return 'The host did not answer: check the host, port and firewall in --url or DATABASE_URL.'
    case '28P01': // invalid_password
    case '28000': // invalid_authorization_specification: no such role, or pg_hba refused
      return 'Check the user and password in --url or DATABASE_URL.'
    case '3D000': // invalid_catalog_name
      return 'Create the database (createdb) or fix its name in --url or DATABASE_URL.'
    default:
      if (Array.isArray(e?.errors) && e.errors.length > 0) return hintFor(e.errors[0])
      return 'Check --url or DATABASE_URL.'
  }
}
