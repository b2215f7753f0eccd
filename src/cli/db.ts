/**
 * The database of the commands that need one: `--url`, else `DATABASE_URL`. A postgres:// URL is
 * opened with node-postgres, a PGlite data directory (`./pgdata`, `file:./pgdata`) with
 * @electric-sql/pglite (both optional peer dependencies, loaded only here). A URL that does not
 * connect is a usage error whose one line says what went wrong and what to check.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { quoteIdent } from '../core/quote.js'
import type { Io } from './io.js'
import { oneLine, UsageError } from './io.js'

/** An open database, as far as the commands need to know. */
export interface CliDatabase {
  /** What the engine (`driverFor`) and `checkDatabase` take: a pg Pool or a PGlite instance. */
  readonly client: unknown
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
}

/** `--url` and `--as`, for the commands that talk to a database. */
export const DATABASE_FLAGS = {
  url: { type: 'string' },
  as: { type: 'string' },
} as const

/** The help lines of {@link DATABASE_FLAGS}. */
export const DATABASE_HELP = `  --url <postgres://…|dir>    the database, default: $DATABASE_URL; or a PGlite data directory
                              (./pgdata, file:./pgdata; stop the app first: a data directory
                              is for one process at a time)
  --as <role>                 PGlite: work as this role (SET SESSION AUTHORIZATION), e.g. the
                              one leaveSuperuser() made; PGlite's own session is a superuser`

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

/** Opens `--url` (or `DATABASE_URL`) and checks that it answers, as `--as` on PGlite. The caller
 * ends it. */
export async function openDatabase(flags: { readonly url?: string | undefined; readonly as?: string | undefined }, io: Io): Promise<CliDatabase> {
  const target = flags.url ?? io.env['DATABASE_URL']
  if (!target) {
    throw new UsageError('No database: pass --url postgres://user@host:5432/db (or a PGlite data directory, --url ./pgdata), or set DATABASE_URL.')
  }
  if (/^postgres(?:ql)?:\/\//.test(target)) {
    if (flags.as !== undefined) {
      throw new UsageError(`--as is for a PGlite data directory: on a server, connect as ${JSON.stringify(flags.as)} (the user in --url).`)
    }
    return openPool(target)
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) && !target.startsWith('file:')) {
    throw new UsageError(
      `${redactUrl(target)} is not a postgres:// URL, nor a PGlite data directory: pass --url postgres://user@host:5432/db, or --url ./pgdata.`,
    )
  }
  return openPglite(target.startsWith('file://') ? fileURLToPath(target) : target.replace(/^file:/, ''), flags.as, io)
}

async function openPool(target: string): Promise<CliDatabase> {
  let pg: { default?: { Pool?: PoolClass }; Pool?: PoolClass }
  try {
    pg = await import('pg')
  } catch {
    throw new UsageError('This command needs the node-postgres driver: npm install pg.')
  }
  const Pool = pg.default?.Pool ?? pg.Pool
  if (!Pool) throw new UsageError('The installed pg package has no Pool: npm install pg@8.')
  let pool: PoolLike
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
  return { client: pool, query: (text, values) => pool.query(text, values), end: () => pool.end() }
}

/** A PGlite data directory: it must be one already (PGlite would make a fresh, empty database in
 * any other directory, and the command would then report a missing setup instead of a typo). */
async function openPglite(given: string, as: string | undefined, io: Io): Promise<CliDatabase> {
  const dir = resolve(io.cwd, given)
  if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(join(dir, 'PG_VERSION'))) {
    throw new UsageError(
      `${dir} is not a PGlite data directory (no PG_VERSION in it): pass the directory the app opens with new PGlite(dir), or a postgres:// URL.`,
    )
  }
  let module: { PGlite?: PgliteClass }
  try {
    module = await import('@electric-sql/pglite')
  } catch {
    throw new UsageError('Opening a PGlite data directory needs PGlite: npm install @electric-sql/pglite.')
  }
  if (!module.PGlite) throw new UsageError('The installed @electric-sql/pglite has no PGlite class: npm install @electric-sql/pglite@latest.')
  let lite: PgliteInstance
  try {
    lite = await module.PGlite.create(dir)
  } catch (error) {
    throw new UsageError(`Cannot open the PGlite data directory ${dir}: ${reasonOf(error)}. Stop the app that has it open, and check --url.`)
  }
  const end = () => lite.close()
  if (as !== undefined) {
    try {
      const { rows } = await lite.query('SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = $1', [as])
      if (rows.length === 0) {
        throw new UsageError(
          `No role ${JSON.stringify(as)} in the PGlite database ${dir}: pass the app's role to --as (leaveSuperuser() makes "app" by default).`,
        )
      }
      await lite.exec(`SET SESSION AUTHORIZATION ${quoteIdent(as)}`)
    } catch (error) {
      await end().catch(() => undefined)
      if (error instanceof UsageError) throw error
      throw new UsageError(`Cannot work as ${JSON.stringify(as)} in the PGlite database ${dir}: ${reasonOf(error)}.`)
    }
  }
  return { client: lite, query: (text, values) => lite.query(text, values), end }
}

interface PoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
  on?(event: string, listener: () => void): void
}

interface PgliteInstance {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  exec(text: string): Promise<unknown>
  close(): Promise<void>
}

interface PgliteClass {
  create(dataDir: string): Promise<PgliteInstance>
}

type PoolClass = new (config: object) => PoolLike

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
