/**
 * CITUS_ROLE_LOGIN. In Citus mode the tenant, admin and tenant roles are LOGIN roles, since
 * Citus connects to the workers as the current role; only pg_hba.conf keeps anyone else from
 * connecting as them, which the check cannot see: a notice, with the lines to add. A role that is
 * NOLOGIN there fails every scope that reaches a distributed table: an error.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import type { Citus } from './citus.js'
import { and, finding, MIGRATE, roleObject, runAs, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'

/** A LOGIN role must be kept by pg_hba.conf from being connected to: the fix's lines. */
function hbaLines(o: ResolvedOptions, citus: Citus, login: Login, roles: readonly string[]): string {
  const hba = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`)
  // +role: the role and its members (the tenant roles, and the login as well).
  const list = (o.strategy === 'role' ? [`+${o.tenantRole}`, hba(o.adminRole)] : roles.map(hba)).join(',')
  const coordinator = citus.nodes.find((n) => n.coordinator)
  const workers = citus.nodes.filter((n) => !n.coordinator).map((n) => `${n.name}:${n.port}`)
  const address = coordinator
    ? /^[\d.]+$/.test(coordinator.name)
      ? `${coordinator.name}/32`
      : coordinator.name.includes(':')
        ? `${coordinator.name}/128`
        : coordinator.name
    : '<coordinator address>/32'
  const member =
    o.strategy === 'role'
      ? `\n# "+${o.tenantRole}" also matches the login "${login.name}" (a member of it): keep the lines that admit the login above these`
      : ''
  return [
    `# pg_hba.conf of each worker${workers.length > 0 ? ` (${workers.join(', ')})` : ''}, above its other lines: these roles from the coordinator only`,
    `host   all  ${list}  ${address}  cert   # or the method of the coordinator's connections (pg_dist_authinfo, its .pgpass)`,
    `host   all  ${list}  all  reject`,
    `local  all  ${list}  reject`,
    `# pg_hba.conf of the coordinator${coordinator ? ` (${coordinator.name}:${coordinator.port})` : ''}, above the lines that would admit them: no connection as them (but from its own address, as on the workers, if it holds shards: reference or Citus local tables)`,
    `host   all  ${list}  all  reject`,
    `local  all  ${list}  reject${member}`,
    `# then SELECT pg_reload_conf(); on each node (and admit the other workers' addresses too if queries are repartitioned between workers)`,
  ].join('\n')
}

/**
 * CITUS_ROLE_LOGIN. A notice for the roles that are LOGIN, as Citus needs; an error for those
 * that are not, when Citus is installed: Citus cannot open its connections to the workers as
 * them, and every scope on a distributed table fails.
 */
export async function checkCitusRoles(db: CheckDb, o: ResolvedOptions, citus: Citus, login: Login, found: Found): Promise<void> {
  const [row] = await db.rows(
    `WITH tenants AS (
       SELECT r.rolname::text AS name, r.rolcanlogin AS login FROM pg_roles r JOIN pg_roles g ON g.rolname = $2
       WHERE $4 AND starts_with(r.rolname::text, $1) AND EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid AND m.roleid = g.oid))
     SELECT ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname IN ($2, $3) AND rolcanlogin ORDER BY rolname = $3)::text[] AS login,
       ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname IN ($2, $3) AND NOT rolcanlogin ORDER BY rolname = $3)::text[] AS nologin,
       (SELECT count(*)::int FROM tenants WHERE login) AS tenants_login,
       (SELECT count(*)::int FROM tenants WHERE NOT login) AS tenants_nologin,
       ARRAY(SELECT name FROM tenants WHERE NOT login ORDER BY name COLLATE "C" LIMIT 3)::text[] AS sample`,
    [o.rolePrefix, o.tenantRole, o.adminRole, o.strategy === 'role'],
  )
  if (!row) return
  const loginRoles = row['login'] as string[]
  const tenantsLogin = Number(row['tenants_login'])
  if (loginRoles.length > 0 || tenantsLogin > 0) {
    const named = loginRoles.map((r) => `"${r}"`)
    if (tenantsLogin > 0) named.push(`${tenantsLogin} tenant role${tenantsLogin > 1 ? 's' : ''} ("${o.rolePrefix}…")`)
    found.push(
      finding(
        'CITUS_ROLE_LOGIN',
        'notice',
        loginRoles.length > 0 ? loginRoles.map(roleObject).join(', ') : `tenant roles "${o.rolePrefix}…"`,
        `${and(named)} can log in, as Citus mode needs (Citus connects to the workers as the current role). ` +
          `Whoever connects as one of them directly, past the application, is that role: ${o.strategy === 'setting' ? 'as the tenant role, any tenant it sets' : "as a tenant role, that tenant's rows"}; as the admin role, every row. ` +
          `So they must be reachable from the coordinator only: on each worker, pg_hba.conf admits them from the coordinator's address alone; on the coordinator, it rejects them. The check cannot see pg_hba.conf`,
        hbaLines(o, citus, login, loginRoles),
      ),
    )
  }
  if (!citus.installed) return
  if (o.strategy === 'setting') await checkActivityVisible(db, o, found)
  const alter = (sql: string) => runAs(login.superuser ? undefined : 'a superuser, or a CREATEROLE role with ADMIN OPTION on it', sql)
  for (const role of row['nologin'] as string[]) {
    const admin = role === o.adminRole
    found.push(
      finding(
        'CITUS_ROLE_LOGIN',
        'error',
        roleObject(role),
        `the ${admin ? 'admin' : 'tenant'} role cannot log in (NOLOGIN), and Citus connects to the workers as the current role: every ${admin ? 'withAdmin' : 'tenant scope'} that reaches a distributed table fails (role "${role}" is not permitted to log in)`,
        `-- ${MIGRATE} (in Citus mode it makes them LOGIN roles), or:\n${alter(`ALTER ROLE ${quoteIdent(role)} LOGIN;`)}`,
      ),
    )
  }
  const nologin = Number(row['tenants_nologin'])
  if (nologin === 0) return
  const sample = (row['sample'] as string[]).map((r) => `"${r}"`).join(', ')
  found.push(
    finding(
      'CITUS_ROLE_LOGIN',
      'error',
      `tenant roles "${o.rolePrefix}…"`,
      `${nologin} tenant role${nologin > 1 ? 's' : ''} (${sample}${nologin > 3 ? ', …' : ''}) cannot log in (NOLOGIN; created before Citus mode?), and Citus connects to the workers as the current role: withTenant fails for ${nologin > 1 ? 'those tenants' : 'that tenant'} on every distributed table`,
      alter(`DO $pg_tenants$
DECLARE r text;
BEGIN
  FOR r IN SELECT t.rolname FROM pg_roles t JOIN pg_auth_members m ON m.member = t.oid JOIN pg_roles g ON g.oid = m.roleid
           WHERE g.rolname = ${quoteLiteral(o.tenantRole)} AND starts_with(t.rolname::text, ${quoteLiteral(o.rolePrefix)}) AND NOT t.rolcanlogin LOOP
    EXECUTE format('ALTER ROLE %I LOGIN', r);
  END LOOP;
END
$pg_tenants$;`),
    ),
  )
}

/**
 * CITUS_ACTIVITY_VISIBLE. In the `setting` strategy every tenant's scopes log in to the workers as
 * the one tenant role, and PostgreSQL shows a role the query text of its own sessions: a tenant's
 * scope reads there the SQL other tenants' scopes run. `track_activities = off` for the role (set
 * by a superuser, passed on to the workers by Citus) keeps their text from being reported.
 */
async function checkActivityVisible(db: CheckDb, o: ResolvedOptions, found: Found): Promise<void> {
  const [row] = await db.rows(
    `SELECT EXISTS (
       SELECT FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
       WHERE r.rolname = $1 AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
         AND 'track_activities=off' = ANY (s.setconfig)) AS off`,
    [o.tenantRole],
  )
  if (row?.['off'] === true) return
  found.push(
    finding(
      'CITUS_ACTIVITY_VISIBLE',
      'warning',
      roleObject(o.tenantRole),
      "every tenant's scopes log in to the workers as this one role, and PostgreSQL shows a role the query text of its own sessions: " +
        "a tenant's scope can read on the workers (citus_stat_activity) the SQL other tenants' scopes are running there, literals included",
      runAs('a superuser', `ALTER ROLE ${quoteIdent(o.tenantRole)} SET track_activities = off;`) +
        '\n-- or use the role strategy (docs/scale-out.md: its cost on Citus)',
    ),
  )
}
