/**
 * What every benchmark does before and after it measures, as the superuser of the server's URL:
 * check that it is a superuser, create a non-superuser LOGIN owner with its schema, connect as
 * that owner (a superuser would bypass row-level security and nothing would be measured), and
 * drop the schema and every role again at the end (also the leftovers of a crashed run).
 *
 * @module
 */
import pg from 'pg'

/** The server every benchmark uses unless told otherwise. */
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Runs `text` (one or more statements) on a fresh connection; one result per statement. */
export async function superExec<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string): Promise<pg.QueryResult<R>[]> {
  return withClient(url, async (client) => {
    const r = (await client.query<R>(text)) as pg.QueryResult<R> | pg.QueryResult<R>[]
    return Array.isArray(r) ? r : [r]
  })
}

/** Runs `fn` on a fresh connection to `url`, closed afterwards. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** `url` logging in as `role` instead, without a password (the owner has none). */
export function loginUrl(url: string, role: string): string {
  const u = new URL(url)
  u.username = role
  u.password = ''
  return u.toString()
}

/** Whether `url` logs in as a superuser, and the server's version. */
export async function serverInfo(url: string): Promise<{ superuser: boolean; version: string }> {
  const [who] = await superExec(url, `SELECT rolsuper, current_setting('server_version') AS v FROM pg_roles WHERE rolname = current_user`)
  const me = who!.rows[0] as { rolsuper?: boolean; v?: string } | undefined
  return { superuser: me?.rolsuper === true, version: String(me?.v) }
}

/** Creates the non-superuser LOGIN role `owner` (CREATEROLE, for the tenant roles) and `schema` owned by it. */
export async function createOwner(url: string, owner: string, schema: string): Promise<void> {
  const o = pg.escapeIdentifier(owner)
  await superExec(
    url,
    `CREATE ROLE ${o} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS;
    CREATE SCHEMA ${pg.escapeIdentifier(schema)} AUTHORIZATION ${o};`,
  )
}

/** What `teardown` removes. */
export interface Created {
  readonly schema: string
  /** The login that owns the schema: dropped last. */
  readonly owner: string
  /** Other roles by name (those that do not exist are skipped). */
  readonly roles?: readonly string[]
  /** Every role whose name starts with this (the tenant roles). */
  readonly rolePrefix?: string
}

/**
 * Drops the schema and the roles, idempotently. The roles go in DO blocks of 2,000 (a bench may
 * have created 100,000 of them), each after `DROP OWNED BY` (its grants), the owner last.
 */
export async function teardown(url: string, created: Created): Promise<void> {
  const { schema, owner, roles = [], rolePrefix } = created
  const lit = (s: string) => pg.escapeLiteral(s)
  await superExec(url, `DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
  const match = [
    `rolname::text = ANY (ARRAY[${[owner, ...roles].map(lit).join(', ')}]::text[])`,
    ...(rolePrefix === undefined ? [] : [`starts_with(rolname, ${lit(rolePrefix)})`]),
  ].join(' OR ')
  const others = `(${match}) AND rolname <> ${lit(owner)}`
  for (;;) {
    const results = await superExec(
      url,
      `
      DO $pgt$ DECLARE r text; BEGIN
        FOR r IN SELECT rolname FROM pg_roles WHERE ${others} LIMIT 2000 LOOP
          EXECUTE format('DROP OWNED BY %I CASCADE', r);
          EXECUTE format('DROP ROLE %I', r);
        END LOOP; END $pgt$;
      SELECT count(*)::int AS n FROM pg_roles WHERE ${others}`,
    )
    const left = results.at(-1)!.rows[0] as { n: number }
    if (left.n === 0) break
  }
  const [found] = await superExec(url, `SELECT FROM pg_roles WHERE rolname = ${lit(owner)}`)
  const o = pg.escapeIdentifier(owner)
  if (found!.rows.length > 0) await superExec(url, `DROP OWNED BY ${o} CASCADE; DROP ROLE ${o}`)
}
