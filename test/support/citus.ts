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

/** The names of one test world: a login owning `schema`, and Citus-mode options whose roles are
 * the world's own (roles are cluster-wide; Citus propagates them to the workers). */
export interface CitusLogin {
  readonly schema: string
  readonly login: string
  readonly options: { strategy: 'setting' | 'role'; citus: true; schema: string; tenantRole: string; adminRole: string; rolePrefix: string }
}

/** Creates a LOGIN CREATEROLE role owning a new schema, named `<prefix>_…` with `id`. */
export async function citusLogin(url: string, prefix: string, id: string, strategy: 'setting' | 'role'): Promise<CitusLogin> {
  const schema = `${prefix}_${id}`
  const login = `${prefix}_app_${id}`
  await withClient(url, async (su) => {
    await su.query(`CREATE ROLE ${login} LOGIN CREATEROLE`)
    await su.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${login}`)
  })
  const options = {
    strategy,
    citus: true as const,
    schema,
    tenantRole: `${prefix}_rls_${id}`,
    adminRole: `${prefix}_adm_${id}`,
    rolePrefix: `${prefix}_t${id}_`,
  }
  return { schema, login, options }
}

/** Drops a world's pool, schema and roles (its tenant roles first, the login last: it owns what
 * the others were granted), and `extraRoles`. */
export async function dropCitusWorld(
  url: string,
  world: (CitusLogin & { readonly app: { end(): Promise<void> } }) | undefined,
  extraRoles: readonly string[] = [],
): Promise<void> {
  if (!world) return
  await world.app.end().catch(() => undefined)
  await withClient(url, async (su) => {
    await su.query(`DROP SCHEMA IF EXISTS ${world.schema} CASCADE`)
    const { rows } = await su.query<{ rolname: string }>(
      `SELECT rolname::text FROM pg_roles WHERE rolname IN ($1, $2, $3) OR starts_with(rolname::text, $4) OR rolname = ANY($5::text[])
       ORDER BY rolname = $3, starts_with(rolname::text, $4) DESC`,
      [world.options.tenantRole, world.options.adminRole, world.login, world.options.rolePrefix, extraRoles],
    )
    for (const { rolname } of rows) {
      await su.query(`DROP OWNED BY "${rolname}"`).catch(() => undefined)
      await su.query(`DROP ROLE IF EXISTS "${rolname}"`).catch(() => undefined)
    }
  })
}
