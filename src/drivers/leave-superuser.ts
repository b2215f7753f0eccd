/**
 * `leaveSuperuser(pglite)`: the one call that makes the embedded default fail closed. PGlite's
 * only session is a superuser, and row-level security never applies to a superuser, so code
 * outside any scope would see and write every tenant's rows. This switches the session, for
 * good, to an ordinary role that owns what it creates: the migration then makes it the owner of
 * the tenant tables, FORCE ROW LEVEL SECURITY binds it, and code outside a scope sees nothing.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import { isPglite, type PgliteLike } from './pglite.js'

/**
 * Options of {@link leaveSuperuser}.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { leaveSuperuser, type LeaveSuperuserOptions } from 'pg-tenants'
 *
 * const options: LeaveSuperuserOptions = { role: 'todo_app' }
 * const client = new PGlite()
 * const { role } = await leaveSuperuser(client, options) // 'todo_app'
 * ```
 */
export interface LeaveSuperuserOptions {
  /** The role the session becomes: created when missing (NOSUPERUSER NOBYPASSRLS CREATEROLE, so
   * that the migration and the `role` strategy can create roles). Default `'app'`. */
  readonly role?: string
}

/**
 * Makes a PGlite session stop being a superuser: creates `role` if it does not exist, lets it
 * create schemas and tables (CREATE on the database and on schema `public`), then `SET SESSION
 * AUTHORIZATION` to it. Call it once, right after opening the database and before migrating
 * (with a data directory, again after each open: the role is kept, the session is not). It
 * refuses when tables outside the system schemas are already owned by a superuser (the app
 * could not use them): migrate after this call, or change their owner first.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { leaveSuperuser } from 'pg-tenants'
 *
 * const client = new PGlite('./pgdata')
 * await leaveSuperuser(client) // now `app`: RLS binds code outside a scope too
 * // … migrate, then PostgresManager.fromDrizzle(drizzle(client))
 * ```
 */
export async function leaveSuperuser(client: unknown, options: LeaveSuperuserOptions = {}): Promise<{ readonly role: string }> {
  const { role = 'app' } = options
  if (!isPglite(client)) {
    throw new TenantError(
      'UNSUPPORTED_CLIENT',
      'leaveSuperuser is for PGlite, whose only session is a superuser. On a server, connect as a login that is neither ' +
        "superuser nor BYPASSRLS instead (CREATE ROLE app LOGIN CREATEROLE PASSWORD '…').",
    )
  }
  if (typeof role !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(role) || /^pg_/i.test(role)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `leaveSuperuser: role must be a plain SQL name (letters, digits, _), not starting with pg_; got ${JSON.stringify(role)}.`,
    )
  }
  const db = client as PgliteLike & {
    query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
    exec(sql: string): Promise<unknown>
  }
  const rows = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows
  const [me] = await rows(
    `SELECT current_user::text AS current, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls
     FROM pg_roles r WHERE r.rolname = session_user`,
  )
  if (me?.['current'] === role && me['superuser'] !== true) return Object.freeze({ role })
  if (me?.['superuser'] !== true) {
    throw new TenantError('INVALID_OPTIONS', `leaveSuperuser: the session is already "${String(me?.['current'])}", not a superuser: nothing to leave.`)
  }
  const [existing] = await rows('SELECT rolsuper AS superuser, rolbypassrls AS bypassrls FROM pg_roles WHERE rolname = $1', [role])
  if (existing && (existing['superuser'] === true || existing['bypassrls'] === true)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `leaveSuperuser: role "${role}" exists and is ${existing['superuser'] === true ? 'a superuser' : 'BYPASSRLS'}: pick another role, or ALTER ROLE ${quoteIdent(role)} NOSUPERUSER NOBYPASSRLS.`,
    )
  }
  const owned = await rows(
    `SELECT n.nspname::text || '.' || c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_roles o ON o.oid = c.relowner
     WHERE c.relkind IN ('r', 'p') AND (o.rolsuper OR o.rolbypassrls)
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY 1 LIMIT 6`,
  )
  if (owned.length > 0) {
    const names = owned.slice(0, 5).map((r) => String(r['name']))
    throw new TenantError(
      'INVALID_OPTIONS',
      `leaveSuperuser: ${names.join(', ')}${owned.length > 5 ? ', …' : ''} already belong to a superuser, so "${role}" could not use them ` +
        `and they would not be bound by row-level security: call leaveSuperuser before migrating, or first ALTER TABLE … OWNER TO ${quoteIdent(role)}.`,
    )
  }
  const q = quoteIdent(role)
  await db.exec(`DO $pg_tenants$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${quoteLiteral(role)}) THEN
    CREATE ROLE ${q} NOSUPERUSER NOBYPASSRLS CREATEROLE;
  END IF;
  EXECUTE format('GRANT CREATE ON DATABASE %I TO %I', current_database(), ${quoteLiteral(role)});
END
$pg_tenants$;
GRANT USAGE, CREATE ON SCHEMA public TO ${q};
SET SESSION AUTHORIZATION ${q};`)
  return Object.freeze({ role })
}
