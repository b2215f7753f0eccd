/**
 * The TEMPORARY check: whether the tenant role (in the `role` strategy, the group role of the
 * tenant roles) or the admin role may create temporary tables in this database. PostgreSQL grants
 * TEMPORARY on every database to PUBLIC by default, and the migration cannot take it away: the
 * privilege is the database's, not the schema's, and only its owner (or a superuser) may revoke it.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { quoteIdent } from '../core/quote.js'
import { finding, roleObject, runAs, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'

/** Reports each of the two roles that has TEMPORARY on the current database (a superuser is
 * already reported as one), with the grants it has it through. */
export async function checkTemporary(db: CheckDb, o: ResolvedOptions, login: Login, found: Found): Promise<void> {
  const roles = [o.tenantRole, o.adminRole]
  const rows = await db.rows(
    `SELECT r.rolname::text AS role, d.datname::text AS db, pg_get_userbyid(d.datdba)::text AS db_owner,
       pg_has_role(current_user, d.datdba, 'USAGE') AS login_owns_db,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
             FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
             WHERE a.privilege_type = 'TEMPORARY' AND (a.grantee = 0 OR pg_has_role(r.oid, a.grantee, 'USAGE')))::text[] AS grantees
     FROM pg_roles r, pg_database d
     WHERE r.rolname IN (SELECT json_array_elements_text($1::json)) AND d.datname = current_database()
       AND NOT r.rolsuper AND has_database_privilege(r.oid, d.oid, 'TEMPORARY')`,
    [JSON.stringify(roles)],
  )
  rows.sort((a, b) => roles.indexOf(String(a['role'])) - roles.indexOf(String(b['role'])))
  for (const row of rows) {
    const role = String(row['role'])
    const database = quoteIdent(String(row['db']))
    const grantees = (row['grantees'] as string[]).sort((a, b) => (a === 'PUBLIC' ? -1 : b === 'PUBLIC' ? 1 : a < b ? -1 : 1))
    const through = grantees.map((g) =>
      g === 'PUBLIC' ? 'through PUBLIC, as every role has it by default' : g === role ? 'granted to it' : `through role "${g}"`,
    )
    const who = role === o.adminRole ? 'withAdmin' : 'tenant SQL'
    const fix: string[] = []
    if (grantees.includes('PUBLIC')) {
      fix.push(
        `-- database-wide: afterwards only the roles granted TEMPORARY here may create temporary tables in ${database}; grant it to each that needs it (the login, the owner of the tables, other apps)`,
        `REVOKE TEMPORARY ON DATABASE ${database} FROM PUBLIC;`,
        login.superuser
          ? `-- GRANT TEMPORARY ON DATABASE ${database} TO <your app's login>;`
          : `GRANT TEMPORARY ON DATABASE ${database} TO ${quoteIdent(login.name)};`,
      )
    }
    for (const grantee of grantees.filter((g) => g !== 'PUBLIC')) fix.push(`REVOKE TEMPORARY ON DATABASE ${database} FROM ${quoteIdent(grantee)};`)
    if (fix.length === 0) fix.push(`REVOKE TEMPORARY ON DATABASE ${database} FROM ${quoteIdent(role)};`)
    const owner = login.superuser || row['login_owns_db'] === true ? undefined : `the database owner "${String(row['db_owner'])}" (or a superuser)`
    found.push(
      finding(
        'ROLE_CAN_CREATE_TEMP',
        'notice',
        roleObject(role),
        `can create temporary tables in database ${database} (TEMPORARY, ${through.join('; ') || 'through a grant'}), which the migration cannot revoke: ` +
          `pg-tenants ends every unit of work with a session reset (DISCARD TEMP among it) sent with its COMMIT or ROLLBACK, so no temporary table outlives its scope on a connection, ` +
          `but while the scope is open ${who} can create tables that have no row-level security, that shadow the unqualified tenant tables for the rest of the scope ` +
          `(pg_temp comes first in search_path), whose names every session sees in pg_class, and whose size no quota limits (temp_file_limit does not count them)`,
        runAs(owner, fix.join('\n')),
      ),
    )
  }
}
