/**
 * Role checks: the login, the tenant role, the admin role and (role strategy) every tenant role.
 * A role that tenant SQL runs as must not be superuser, BYPASSRLS or CREATEROLE, must not be
 * able to become the table owner, and must not hold the privileges that row-level security does
 * not cover (TRUNCATE, TRIGGER, REFERENCES).
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { qualified, quoteIdent, quoteLiteral } from '../core/quote.js'
import { asOwner, asSuperuser, finding, MIGRATE, roleObject, runAs, type Found } from './finding.js'
import type { CheckDb, Row } from './session.js'
import type { TenantTable } from './tables.js'
import type { CheckFinding } from './types.js'

/** The login running the check, as the other checks need it. */
export interface Login {
  readonly name: string
  readonly superuser: boolean
  readonly bypassrls: boolean
}

/** The few roles that bypass row-level security, so that membership is tested against them
 * only (there may be 10,000 tenant roles). Prefix the query that uses {@link ATTRIBUTES}. */
const PRIVILEGED = `WITH privileged AS MATERIALIZED (SELECT oid, rolname, rolsuper FROM pg_roles WHERE rolsuper OR rolbypassrls)`

/** A role's attributes, and the superuser and BYPASSRLS roles it could SET ROLE to (a superuser
 * counts as a member of every role, so it has none listed). */
const ATTRIBUTES = `r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
  r.rolcreaterole AS createrole, r.rolcanlogin AS login,
  ARRAY(SELECT s.rolname::text FROM privileged s WHERE NOT r.rolsuper AND s.oid <> r.oid AND s.rolsuper AND pg_has_role(r.oid, s.oid, 'MEMBER') ORDER BY 1)::text[] AS super_groups,
  ARRAY(SELECT s.rolname::text FROM privileged s WHERE NOT r.rolsuper AND s.oid <> r.oid AND NOT s.rolsuper AND pg_has_role(r.oid, s.oid, 'MEMBER') ORDER BY 1)::text[] AS bypass_groups`

/** On PGlite, the one session is the superuser's unless it was made to leave that role. */
const LEAVE_SUPERUSER = 'await leaveSuperuser(db) once, before migrating (pg-tenants): code outside a scope is then bound by row-level security'

/** Reads the login; reports it when it is superuser or BYPASSRLS. On PGlite too, whose session
 * is its superuser's until `leaveSuperuser` switches it to an ordinary role. */
export async function checkLogin(db: CheckDb, found: Found): Promise<Login> {
  const [row] = await db.rows(`${PRIVILEGED} SELECT ${ATTRIBUTES} FROM pg_roles r WHERE r.rolname = current_user`)
  const login = { name: String(row?.['name']), superuser: row?.['superuser'] === true, bypassrls: row?.['bypassrls'] === true }
  const object = `${roleObject(login.name)} (the login)`
  const outside =
    'tenant scopes stay isolated (they switch to the tenant role), but code outside a scope sees and writes every row, and views it creates bypass row-level security'
  const pglite = db.driver === 'pglite'
  if (login.superuser) {
    found.push(
      finding(
        'ROLE_SUPERUSER',
        'warning',
        object,
        `the login is a superuser${pglite ? " (PGlite's own)" : ''}: ${outside}`,
        pglite
          ? `-- ${LEAVE_SUPERUSER}`
          : `-- connect as an ordinary role: CREATE ROLE app LOGIN CREATEROLE PASSWORD '…'; ALTER TABLE … OWNER TO app; then ${MIGRATE}`,
      ),
    )
  } else if (login.bypassrls) {
    found.push(
      finding(
        'ROLE_BYPASSRLS',
        'warning',
        object,
        `the login has BYPASSRLS: ${outside}`,
        asSuperuser(login, `ALTER ROLE ${quoteIdent(login.name)} NOBYPASSRLS;`) + (pglite ? `\n-- or run as a role without it: ${LEAVE_SUPERUSER}` : ''),
      ),
    )
  }
  return login
}

/** Checks the tenant and admin roles: existence, attributes, ownership and grants. */
export async function checkRoles(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const rows = await db.rows(
    `${PRIVILEGED} SELECT w.name AS wanted, ${ATTRIBUTES}
     FROM json_array_elements_text($1::json) AS w(name) LEFT JOIN pg_roles r ON r.rolname = w.name`,
    [JSON.stringify([o.tenantRole, o.adminRole])],
  )
  for (const row of rows) {
    const name = String(row['wanted'])
    const tenant = name === o.tenantRole
    if (row['name'] === null) {
      found.push(
        finding(
          'ROLE_MISSING',
          'error',
          roleObject(name),
          `the ${tenant ? 'tenant' : 'admin'} role does not exist, so ${tenant ? 'tenant scopes' : 'withAdmin'} cannot run`,
          `-- ${MIGRATE}`,
        ),
      )
      continue
    }
    attributeFindings(row, tenant ? 'tenant' : 'admin', o.citus, login, found)
  }
  await checkScopes(db, o, login, found)
  if (tables.length === 0) return
  await ownership(db, [o.tenantRole, o.adminRole], tables, login, found)
  await grants(db, [o.tenantRole, o.adminRole], tables, login, found)
}

/**
 * LOGIN_CANNOT_SCOPE: what every scope needs of the login. It must be able to SET ROLE to the
 * tenant and admin roles (membership on PostgreSQL 15; the SET option on 16+, which a CREATEROLE
 * creator does not get by itself) and, in the setting strategy, read the registry; in the role
 * strategy, SET ROLE to each tenant role. The migration and createTenant grant the login what
 * they create, so this is what a migration run by another login (a superuser, say) leaves:
 * every scope fails with 42501. SET ROLE is decided by the session user (the one that
 * connected, which a superuser session keeps after SET ROLE), the registry read by the login.
 */
async function checkScopes(db: CheckDb, o: ResolvedOptions, login: Login, found: Found): Promise<void> {
  if (login.superuser) return
  const [row] = await db.rows(
    `WITH v AS (SELECT current_setting('server_version_num')::int AS version),
       priv AS (SELECT CASE WHEN version >= 160000 THEN 'SET' ELSE 'MEMBER' END AS p FROM v),
       reg AS (SELECT c.oid, n.oid AS schema, pg_get_userbyid(c.relowner)::text AS owner FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $5 AND c.relname = $6),
       strays AS (
         SELECT r.rolname::text AS name FROM pg_roles r JOIN pg_roles g ON g.rolname = $1, priv
         WHERE $4 AND starts_with(r.rolname::text, $3)
           AND EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid AND m.roleid = g.oid)
           AND NOT pg_has_role(session_user, r.oid, priv.p))
     SELECT v.version, session_user::text AS session,
       ARRAY(SELECT r.rolname::text FROM pg_roles r, priv WHERE r.rolname IN ($1, $2)
             AND NOT pg_has_role(session_user, r.oid, priv.p) ORDER BY r.rolname = $2, 1)::text[] AS cannot_set,
       (SELECT has_schema_privilege(current_user, reg.schema, 'USAGE') FROM reg) AS registry_usage,
       (SELECT has_table_privilege(current_user, reg.oid, 'SELECT') FROM reg) AS registry_select,
       (SELECT owner FROM reg) AS registry_owner,
       (SELECT count(*)::int FROM strays) AS strays,
       ARRAY(SELECT name FROM strays ORDER BY name COLLATE "C" LIMIT 3)::text[] AS sample
     FROM v`,
    [o.tenantRole, o.adminRole, o.rolePrefix, o.strategy === 'role', o.schema, o.registryTable],
  )
  if (!row) return
  const modern = Number(row['version']) >= 160000
  const cannotSet = (row['cannot_set'] as string[] | null) ?? []
  const usage = row['registry_usage'] !== false
  const registry = o.strategy === 'setting' && (!usage || row['registry_select'] === false)
  const strays = Number(row['strays'] ?? 0)
  if (cannotSet.length === 0 && !registry && strays === 0) return
  const session = quoteIdent(String(row['session']))
  const q = quoteIdent(login.name)
  const setOption = modern ? ' WITH INHERIT FALSE, SET TRUE' : ''
  const what: string[] = []
  const fix: string[] = ['-- run the migration as this login (it grants itself the roles it creates), or:']
  if (cannotSet.length > 0) {
    what.push(`cannot SET ROLE to ${cannotSet.map((r) => `"${r}"`).join(' and ')}${modern ? ' (no membership WITH SET TRUE)' : ' (it is not a member)'}`)
    fix.push(asAdminOf(cannotSet.join('", "'), login, `GRANT ${cannotSet.map(quoteIdent).join(', ')} TO ${session}${setOption};`))
  }
  if (registry) {
    const table = qualified(o.schema, o.registryTable)
    what.push(`cannot read the tenant registry ${o.schema}.${o.registryTable}, in which every tenant scope looks its tenant up`)
    // Owning it, as the login that runs the migration does: a grant to the login would be one
    // more role that may list every tenant.
    fix.push(
      asSuperuser(
        login,
        `${usage ? '' : `GRANT USAGE ON SCHEMA ${quoteIdent(o.schema)} TO ${q}; `}ALTER TABLE ${table} OWNER TO ${q}; -- its owner now: "${String(row['registry_owner'])}"`,
      ),
    )
  }
  if (strays > 0) {
    const sample = ((row['sample'] as string[] | null) ?? []).map((r) => `"${r}"`).join(', ')
    what.push(
      `cannot SET ROLE to ${strays} tenant role${strays > 1 ? 's' : ''} (${sample}${strays > 3 ? ', …' : ''}), created by another login: withTenant fails for ${strays > 1 ? 'those tenants' : 'that tenant'}`,
    )
    fix.push(
      runAs(
        'a superuser, or the login that created them (createTenant)',
        `DO $pg_tenants$
DECLARE r text;
BEGIN
  FOR r IN SELECT t.rolname FROM pg_roles t JOIN pg_auth_members m ON m.member = t.oid JOIN pg_roles g ON g.oid = m.roleid
           WHERE g.rolname = ${quoteLiteral(o.tenantRole)} AND starts_with(t.rolname::text, ${quoteLiteral(o.rolePrefix)}) LOOP
    EXECUTE format('GRANT %I TO %I${setOption}', r, ${quoteLiteral(String(row['session']))});
  END LOOP;
END
$pg_tenants$;`,
      ),
    )
  }
  found.push(
    finding(
      'LOGIN_CANNOT_SCOPE',
      'error',
      `${roleObject(login.name)} (the login)`,
      `the login ${what.join('; ')}: tenant scopes${cannotSet.includes(o.adminRole) ? ' and withAdmin' : ''} fail with permission denied (42501). This is what a migration${o.strategy === 'role' ? ' (or createTenant)' : ''} run by another login, a superuser say, leaves behind: it grants what it creates to the login that runs it`,
      fix.join('\n'),
    ),
  )
}

type RoleKind = 'tenant' | 'admin' | 'per-tenant'

/** The attributes of a role tenant SQL or withAdmin runs as. In Citus mode LOGIN is expected
 * (Citus connects to the workers as the current role): citus.ts reports it, once for all roles. */
function attributeFindings(row: Row, kind: RoleKind, citus: boolean, login: Login, found: Found): void {
  const name = String(row['name'])
  const object = roleObject(name)
  const q = quoteIdent(name)
  const who = kind === 'admin' ? 'withAdmin' : 'tenant SQL'
  const superGroups = (row['super_groups'] as string[] | null) ?? []
  const bypassGroups = (row['bypass_groups'] as string[] | null) ?? []
  if (row['superuser'] === true) {
    found.push(
      finding(
        'ROLE_SUPERUSER',
        'error',
        object,
        `is a superuser: row-level security never applies to it, so ${who} sees and writes every tenant's rows`,
        asSuperuser(login, `ALTER ROLE ${q} NOSUPERUSER;`),
      ),
    )
  }
  for (const group of superGroups) {
    found.push(
      finding(
        'ROLE_SUPERUSER',
        'error',
        object,
        `is a member of the superuser role "${group}": ${who} could SET ROLE ${quoteIdent(group)} and bypass row-level security`,
        asSuperuser(login, `REVOKE ${quoteIdent(group)} FROM ${q};`),
      ),
    )
  }
  if (row['bypassrls'] === true) {
    const severity = kind === 'admin' ? 'warning' : 'error'
    const why =
      kind === 'admin'
        ? 'row-level security never applies to it, on tenant tables and on every other table with policies'
        : "row-level security never applies to it, so tenant scopes see and write every tenant's rows"
    found.push(finding('ROLE_BYPASSRLS', severity, object, `has BYPASSRLS: ${why}`, asSuperuser(login, `ALTER ROLE ${q} NOBYPASSRLS;`)))
  }
  for (const group of bypassGroups) {
    found.push(
      finding(
        'ROLE_BYPASSRLS',
        kind === 'admin' ? 'warning' : 'error',
        object,
        `is a member of the BYPASSRLS role "${group}": ${who} could SET ROLE ${quoteIdent(group)} and bypass row-level security`,
        asSuperuser(login, `REVOKE ${quoteIdent(group)} FROM ${q};`),
      ),
    )
  }
  if (row['createrole'] === true) {
    found.push(
      finding(
        'ROLE_CREATEROLE',
        'error',
        object,
        `has CREATEROLE: ${who} could create roles and grant memberships, a way out of its scope`,
        `ALTER ROLE ${q} NOCREATEROLE;`,
      ),
    )
  }
  if (row['login'] === true && !citus) {
    const [severity, why] =
      kind === 'per-tenant'
        ? (['warning', 'anyone with its password can connect straight to the database as this tenant, past the application'] as const)
        : kind === 'tenant'
          ? (['error', 'anyone with its password can connect as the tenant role and, in the setting strategy, pick any tenant with set_config'] as const)
          : (['error', "anyone with its password can connect as the admin role and read every tenant's rows"] as const)
    found.push(finding('ROLE_CAN_LOGIN', severity, object, `can log in (LOGIN): ${why}`, `ALTER ROLE ${q} NOLOGIN;`))
  }
}

/** A role that is, or can become, a table's owner can switch row-level security off. */
async function ownership(db: CheckDb, roles: readonly string[], tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const rows = await db.rows(
    `SELECT r.rolname::text AS role, c.oid::text AS table_oid, pg_get_userbyid(c.relowner)::text AS owner, r.oid = c.relowner AS owns
     FROM pg_roles r, pg_class c
     WHERE r.rolname IN (SELECT json_array_elements_text($1::json)) AND c.oid IN (SELECT json_array_elements_text($2::json)::oid)
       AND NOT r.rolsuper AND pg_has_role(r.oid, c.relowner, 'MEMBER')
     ORDER BY 1, 2`,
    [JSON.stringify(roles), JSON.stringify(tables.map((t) => t.oid))],
  )
  for (const row of rows) ownershipFinding(row, tables, login, found)
}

function ownershipFinding(row: Row, tables: readonly TenantTable[], login: Login, found: Found): void {
  const table = tables.find((t) => t.oid === row['table_oid'])
  if (!table) return
  const role = String(row['role'])
  const owner = String(row['owner'])
  const how = row['owns'] === true ? `owns ${table.label}` : `is a member of "${owner}", the owner of ${table.label}`
  found.push(
    finding(
      'ROLE_OWNS_TABLE',
      'error',
      roleObject(role),
      `${how}: SQL running as it could ALTER TABLE … NO FORCE / DISABLE ROW LEVEL SECURITY or drop the policies`,
      row['owns'] === true
        ? asOwner(owner, login, `ALTER TABLE ${table.sql} OWNER TO ${newOwner(login)};`)
        : asAdminOf(owner, login, `REVOKE ${quoteIdent(owner)} FROM ${quoteIdent(role)};`),
    ),
  )
}

const DANGER: Record<string, string> = {
  TRUNCATE: 'TRUNCATE ignores row-level security, so a tenant scope could empty the table for every tenant',
  TRIGGER: "it could create a trigger whose function then runs on, and sees, every other tenant's writes",
  REFERENCES: 'it could point a foreign key at the table and probe which values exist across tenants (foreign key checks ignore row-level security)',
}

/** `role` holds `priv` (TRUNCATE, TRIGGER or REFERENCES) on `table`; the fix revokes it from each
 * of `grantees` (quoted role names, or PUBLIC) through which the role has it. */
function dangerousGrant(role: string, priv: string, table: TenantTable, login: Login, grantees: readonly string[]): CheckFinding {
  const fix = grantees.map((g) => `REVOKE ${priv} ON ${table.sql} FROM ${g};`).join('\n')
  return finding('DANGEROUS_GRANT', 'error', roleObject(role), `has ${priv} on ${table.label}: ${DANGER[priv] ?? ''}`, asOwner(table.owner, login, fix))
}

/** TRUNCATE, TRIGGER and REFERENCES (on the table or on any column) are not limited by row-level
 * security. `REVOKE … ON table` also revokes the privilege on each column, so one fix covers both. */
async function grants(db: CheckDb, roles: readonly string[], tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const rows = await db.rows(
    `SELECT r.rolname::text AS role, c.oid::text AS table_oid, p.priv,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
             FROM (SELECT c.relacl AS acl UNION ALL SELECT at.attacl FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attacl IS NOT NULL) acls,
                  aclexplode(acls.acl) a
             WHERE a.privilege_type = p.priv AND a.grantee <> c.relowner AND (a.grantee = 0 OR pg_has_role(r.oid, a.grantee, 'USAGE')))::text[] AS grantees
     FROM pg_roles r, pg_class c, (VALUES ('TRUNCATE'), ('TRIGGER'), ('REFERENCES')) AS p(priv)
     WHERE r.rolname IN (SELECT json_array_elements_text($1::json)) AND c.oid IN (SELECT json_array_elements_text($2::json)::oid)
       AND NOT r.rolsuper AND NOT pg_has_role(r.oid, c.relowner, 'MEMBER')
       -- REFERENCES can also be granted on a single column, which has_table_privilege does not see.
       AND CASE p.priv WHEN 'REFERENCES' THEN has_any_column_privilege(r.oid, c.oid, p.priv) ELSE has_table_privilege(r.oid, c.oid, p.priv) END
     ORDER BY 1, 2, 3`,
    [JSON.stringify(roles), JSON.stringify(tables.map((t) => t.oid))],
  )
  for (const row of rows) {
    const table = tables.find((t) => t.oid === row['table_oid'])
    if (!table) continue
    const role = String(row['role'])
    const priv = String(row['priv'])
    const grantees = (row['grantees'] as string[]).length > 0 ? (row['grantees'] as string[]) : [quoteIdent(role)]
    found.push(dangerousGrant(role, priv, table, login, grantees))
  }
}

/** Granting and revoking a membership takes ADMIN OPTION on the role (or CREATEROLE on
 * PostgreSQL 15), which the login may not have. */
function asAdminOf(role: string, login: Login, sql: string): string {
  return runAs(login.superuser ? undefined : `a superuser, or a role with ADMIN OPTION on "${role}"`, sql)
}

/**
 * Roles are cluster-wide: every database migrated with the same role names grants them to its
 * own login, so that login (or any other member) can connect to this database and SET ROLE to
 * the admin role (every row) or the tenant role (any tenant, in the setting strategy). Members
 * expected here: the login, the owners of the tenant tables (who can switch RLS off anyway),
 * superusers and (role strategy) the tenant roles; every other member, direct or through other
 * roles, is reported with the membership to revoke.
 */
export async function checkSharedRoles(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const rows = await db.rows(
    `WITH RECURSIVE top AS (SELECT oid, rolname FROM pg_roles WHERE rolname IN ($1, $2)),
     m(top, granted, member, depth) AS (
       SELECT a.roleid, a.roleid, a.member, 1 FROM pg_auth_members a JOIN top ON top.oid = a.roleid
       UNION
       SELECT m.top, a.roleid, a.member, m.depth + 1 FROM m JOIN pg_auth_members a ON a.roleid = m.member WHERE m.depth < 16
     )
     SELECT t.rolname::text AS role, r.rolname::text AS member, g.rolname::text AS granted, r.rolcanlogin AS login,
       (SELECT datacl IS NULL OR EXISTS (SELECT FROM aclexplode(datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')
        FROM pg_database WHERE datname = current_database()) AS public_connect,
       quote_ident(current_database()) AS db
     FROM (SELECT DISTINCT top, granted, member FROM m) m
     JOIN top t ON t.oid = m.top JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.granted
     WHERE NOT r.rolsuper AND r.rolname <> current_user
       AND r.oid NOT IN (SELECT c.relowner FROM pg_class c WHERE c.oid IN (SELECT json_array_elements_text($3::json)::oid))
       AND NOT ($4::text IS NOT NULL AND g.rolname = $1 AND starts_with(r.rolname::text, $4))
     ORDER BY 1, 2, 3`,
    [o.tenantRole, o.adminRole, JSON.stringify(tables.map((t) => t.oid)), o.strategy === 'role' ? o.rolePrefix : null],
  )
  for (const role of [o.tenantRole, o.adminRole]) {
    const mine = rows.filter((r) => r['role'] === role)
    if (mine.length === 0) continue
    const admin = role === o.adminRole
    const members = [...new Set(mine.map((r) => String(r['member'])))]
    const named = members.map((m) => {
      const via = mine.filter((r) => r['member'] === m && r['granted'] !== role).map((r) => `"${String(r['granted'])}"`)
      return via.length > 0 ? `"${m}" (through ${via.join(', ')})` : `"${m}"`
    })
    const first = mine[0]!
    const connect = first['public_connect'] === true ? ` PUBLIC may connect to this database, so a login among them needs nothing more than its password.` : ''
    const what = admin
      ? "SET ROLE to it and read and write every tenant's rows"
      : o.strategy === 'setting'
        ? "SET ROLE to it, set any tenant and read and write that tenant's rows"
        : 'read and write the tables it is granted, through its grants'
    const revokes = mine.map((r) => `REVOKE ${quoteIdent(String(r['granted']))} FROM ${quoteIdent(String(r['member']))};`)
    found.push(
      finding(
        'ROLE_SHARED',
        'error',
        roleObject(role),
        `the ${admin ? 'admin' : 'tenant'} role has members other than the login "${login.name}"${o.strategy === 'role' && !admin ? ' and the tenant roles' : ''}: ${named.join(', ')}. Roles belong to the whole server, not to this database: a database migrated elsewhere with the same role names grants them to its own login, and each member can connect here and ${what}.${connect}`,
        `${asAdminOf(role, login, [...new Set(revokes)].join('\n'))}\n` +
          `-- if a member is another database's login, which needs the role there: give each database its own role names instead ` +
          `(the tenantRole and adminRole options of the manager and the migration, --tenant-role and --admin-role in the CLI), then re-run both migrations` +
          (connect
            ? `; and keep other logins out: REVOKE CONNECT ON DATABASE ${String(first['db'])} FROM PUBLIC; GRANT CONNECT ON DATABASE ${String(first['db'])} TO ${quoteIdent(login.name)};`
            : ''),
      ),
    )
  }
}

/** Who should own a tenant table: the login that runs migrations, unless it is a superuser. */
function newOwner(login: Login): string {
  return login.superuser || login.bypassrls ? '<your ordinary login role>' : quoteIdent(login.name)
}

const BATCH = 1000

/** Role strategy: every tenant role (a direct member of the tenant role with the prefix, as
 * `listTenants` counts them), in batches. */
export async function checkTenantRoles(
  db: CheckDb,
  o: ResolvedOptions,
  tables: readonly TenantTable[],
  login: Login,
  found: Found,
  progress: (done: number, total: number, what: string) => void,
): Promise<number> {
  const [count] = await db.rows(
    `SELECT count(*)::int AS n FROM pg_roles r JOIN pg_roles g ON g.rolname = $2
     WHERE starts_with(r.rolname::text, $1) AND EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid AND m.roleid = g.oid)`,
    [o.rolePrefix, o.tenantRole],
  )
  const total = Number(count?.['n'] ?? 0)
  const oids = JSON.stringify(tables.map((t) => t.oid))
  let done = 0
  let after = ''
  while (done < total) {
    const rows = await db.rows(
      // The batch is chosen first: computed in the same SELECT as the ORDER BY … LIMIT, the
      // per-role arrays would be evaluated for every remaining role, each time.
      `${PRIVILEGED}, batch AS MATERIALIZED (
         SELECT r.oid FROM pg_roles r JOIN pg_roles g ON g.rolname = $2
         WHERE starts_with(r.rolname::text, $1) AND r.rolname > $3
           AND EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid AND m.roleid = g.oid)
         ORDER BY r.rolname COLLATE "C" LIMIT ${BATCH}
       )
       SELECT ${ATTRIBUTES},
         ARRAY(SELECT c.oid::text FROM pg_class c WHERE c.oid IN (SELECT json_array_elements_text($4::json)::oid)
               AND pg_has_role(r.oid, c.relowner, 'MEMBER'))::text[] AS owns,
         ARRAY(SELECT c.oid::text || ' ' || a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid IN (SELECT json_array_elements_text($4::json)::oid) AND a.grantee = r.oid
                 AND a.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES'))::text[] AS grants
       FROM batch JOIN pg_roles r ON r.oid = batch.oid
       ORDER BY r.rolname COLLATE "C"`,
      [o.rolePrefix, o.tenantRole, after, oids],
    )
    if (rows.length === 0) break
    for (const row of rows) {
      attributeFindings(row, 'per-tenant', o.citus, login, found)
      const role = String(row['name'])
      if (row['superuser'] !== true) {
        for (const oid of row['owns'] as string[]) {
          const table = tables.find((t) => t.oid === oid)
          if (table) ownershipFinding({ role, table_oid: oid, owner: table.owner, owns: table.owner === role }, tables, login, found)
        }
      }
      for (const entry of row['grants'] as string[]) {
        const [oid, priv = ''] = entry.split(' ')
        const table = tables.find((t) => t.oid === oid)
        if (!table) continue
        found.push(dangerousGrant(role, priv, table, login, [quoteIdent(role)]))
      }
    }
    done += rows.length
    after = String(rows[rows.length - 1]!['name'])
    progress(Math.min(done, total), total, `tenant role ${after}`)
  }
  return total
}
