/**
 * Exposure: what the tenant role can reach besides the tenant tables, and who else can reach the
 * tenant tables and the registry. A table that is not tenant-scoped is one set of rows for every
 * tenant, so the tenant role may reach only those declared in `sharedTables`, with exactly the
 * declared privileges; the registry lists every tenant and has no row-level security; a SECURITY
 * DEFINER function of a superuser reads past every policy; and a default `pg_tenants.tenant`
 * turns "no tenant" into a tenant.
 *
 * Each check is one query, whatever the number of tables or tenant roles. In the `role` strategy
 * the tenant roles are members of the tenant role and hold its grants: checking the tenant role
 * covers them (their own attributes and grants are checked in roles.ts).
 *
 * @module
 */
import type { ResolvedOptions, SharedAccess } from '../core/options.js'
import { qualified, quoteIdent } from '../core/quote.js'
import { asOwner, asSuperuser, finding, MIGRATE, roleObject, runAs, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { CheckDb, Row } from './session.js'
import type { TenantTable } from './tables.js'

/** Runs the exposure checks: shared tables, the registry, other grantees, SECURITY DEFINER
 * functions and default tenant settings. */
export async function checkExposure(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  await checkReach(db, o, tables, login, found)
  await checkOtherGrantees(db, o, tables, login, found)
  await checkSecurityDefiner(db, o, login, found)
  // Only the setting strategy reads pg_tenants.tenant; in the role strategy it means nothing.
  if (o.strategy === 'setting') await checkDefaultTenant(db, o, login, found)
}

const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']
const DECLARED: Record<SharedAccess, readonly string[]> = { read: ['SELECT'], write: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], none: [] }
const KINDS: Record<string, string> = { v: 'view ', m: 'materialized view ', f: 'foreign table ' }

/** The grantees (quoted, or PUBLIC) through which role `t.oid` holds a privilege on `c` (on the
 * table or on a column), other than the owner: itself, a role it inherits from, PUBLIC. */
const GRANTEES = `ARRAY(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE '"' || replace(pg_get_userbyid(a.grantee)::text, '"', '""') || '"' END
  FROM (SELECT c.relacl AS acl UNION ALL SELECT at.attacl FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attacl IS NOT NULL) acls,
       aclexplode(acls.acl) a
  WHERE a.grantee <> c.relowner AND (a.grantee = 0 OR pg_has_role(t.oid, a.grantee, 'USAGE')) ORDER BY 1)::text[]`

/**
 * One query over the relations the tenant role can reach (any privilege on the table or on a
 * column, directly, through a role it inherits from or through PUBLIC, in a schema it has USAGE
 * on), the declared shared tables and the registry. Left out: the tenant tables, their partitions
 * (partitions.ts), the views over either (views.ts: with security_invoker they apply the
 * tenant tables' policies; without, they are reported there) and the views of the citus extension
 * (the names, owners and sizes of the distributed tables: catalog data, which Citus's functions
 * give every role anyway, and no row of any tenant). Tables with `pg_tenants_*` policies
 * count as tenant tables even when the check was not given them (discovery in other schemas).
 */
async function checkReach(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const registry = o.strategy === 'setting' ? qualified(o.schema, o.registryTable) : null
  const rows = await db.rows(
    `WITH RECURSIVE t AS (SELECT (SELECT oid FROM pg_roles WHERE rolname = $1 AND NOT rolsuper) AS oid),
     -- the tenant role and every role it can SET ROLE to: a NOINHERIT chain still reaches (MEMBER)
     via AS MATERIALIZED (SELECT r.oid FROM pg_roles r, t WHERE t.oid IS NOT NULL AND NOT r.rolsuper AND pg_has_role(t.oid, r.oid, 'MEMBER')),
     given AS (SELECT json_array_elements_text($2::json)::oid AS oid
       -- and the tenant tables the check was not given (discovery limited to other schemas)
       UNION SELECT polrelid FROM pg_policy WHERE starts_with(polname::text, 'pg_tenants_')),
     -- the tenant tables and their partitions (at any depth)
     -- (pg_inherits, not pg_partition_tree, which would lock every partition)
     tenant(oid) AS (SELECT oid FROM given UNION SELECT i.inhrelid FROM pg_inherits i JOIN tenant ON i.inhparent = tenant.oid),
     declared AS (SELECT d->>'schema' AS schema, d->>'name' AS name, d->>'access' AS access FROM json_array_elements($3::json) d),
     reg AS (SELECT to_regclass($4::text)::oid AS oid),
     over(view) AS (
       SELECT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
       WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
         AND d.refobjid IN (SELECT oid FROM tenant) AND r.ev_class <> d.refobjid
       UNION
       SELECT r.ev_class FROM over
       JOIN pg_depend d ON d.refobjid = over.view AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
       JOIN pg_rewrite r ON r.oid = d.objid
       WHERE r.ev_class <> over.view
     )
     SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind, pg_get_userbyid(c.relowner)::text AS owner,
       t.oid IS NOT NULL AS role_ok, d.access, c.oid IN (SELECT oid FROM reg) AS registry, EXISTS (SELECT FROM via WHERE has_schema_privilege(via.oid, n.oid, 'USAGE')) AS usage,
       ARRAY(SELECT p FROM unnest($5::text[]) p WHERE EXISTS (SELECT FROM via WHERE has_table_privilege(via.oid, c.oid, p)))::text[] AS privileges,
       ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p
             WHERE EXISTS (SELECT FROM via WHERE has_any_column_privilege(via.oid, c.oid, p)) AND NOT EXISTS (SELECT FROM via WHERE has_table_privilege(via.oid, c.oid, p)))::text[] AS column_privileges,
       ${GRANTEES} AS grantees
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN t
     LEFT JOIN declared d ON d.schema = n.nspname AND d.name = c.relname
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND (d.access IS NOT NULL OR c.oid IN (SELECT oid FROM reg) OR (
         n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
         AND c.oid NOT IN (SELECT oid FROM tenant) AND c.oid NOT IN (SELECT view FROM over)
         -- the citus extension's views in public (citus_tables, citus_schemas): catalog data
         AND NOT EXISTS (SELECT FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
           WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.refclassid = 'pg_extension'::regclass
             AND e.deptype = 'e' AND x.extname = 'citus')
         AND EXISTS (SELECT FROM via WHERE has_schema_privilege(via.oid, n.oid, 'USAGE')
           AND (has_any_column_privilege(via.oid, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') OR has_table_privilege(via.oid, c.oid, 'DELETE, TRUNCATE, TRIGGER')))))
     ORDER BY 1, 2`,
    [o.tenantRole, JSON.stringify(tables.map((t) => t.oid)), JSON.stringify(o.sharedTables), registry, TABLE_PRIVILEGES],
  )
  for (const row of rows) {
    // Without the role (ROLE_MISSING) or with a superuser (ROLE_SUPERUSER), privileges say nothing.
    if (row['role_ok'] !== true) continue
    if (row['registry'] === true) registryExposed(row, o, login, found)
    else if (row['access'] !== null) mismatch(row, o, login, found)
    else undeclaredShared(row, o, login, found)
  }
  for (const shared of o.sharedTables) {
    if (shared.access === 'none' || rows.some((r) => r['schema'] === shared.schema && r['name'] === shared.name)) continue
    found.push(
      finding(
        'SHARED_TABLE_MISMATCH',
        'warning',
        `${shared.schema}.${shared.name}`,
        `is declared '${shared.access}' in sharedTables but there is no such table, view or foreign table: tenant scopes that use it fail`,
        `-- create it, or take ${JSON.stringify(sharedKey(o, shared.schema, shared.name))} out of sharedTables`,
      ),
    )
  }
}

/** A relation as a finding names it, and as SQL. */
function relation(row: Row): { label: string; object: string; sql: string; owner: string } {
  const label = `${String(row['schema'])}.${String(row['name'])}`
  return {
    label,
    object: `${KINDS[String(row['kind'])] ?? ''}${label}`,
    sql: qualified(String(row['schema']), String(row['name'])),
    owner: String(row['owner']),
  }
}

/** `SELECT, UPDATE (some columns)` */
function describePrivileges(row: Row): string {
  const table = row['privileges'] as string[]
  const columns = row['column_privileges'] as string[]
  return [...table, ...columns.map((p) => `${p} (some columns)`)].join(', ')
}

/** How the tenant role holds its privileges, for a message: `, through PUBLIC and role "g"`. */
function through(grantees: readonly string[], tenantRole: string): string {
  const others = grantees.filter((g) => g !== quoteIdent(tenantRole)).map((g) => (g === 'PUBLIC' ? 'PUBLIC' : `role ${g}`))
  return others.length === 0 ? '' : `, through ${others.join(' and ')}`
}

/** The grantees to revoke from: the tenant role and those it holds the privileges through. */
function revokeFrom(grantees: readonly string[], tenantRole: string): string {
  return [...new Set([quoteIdent(tenantRole), ...grantees])].join(', ')
}

/** A PUBLIC grant is everyone's: revoking it needs the roles that use it granted back. */
function publicNote(grantees: readonly string[]): string {
  return grantees.includes('PUBLIC') ? ' -- revoking from PUBLIC takes it from every role: grant it back to those that need it' : ''
}

/** The `sharedTables` key of a table: `name` in the options' schema, else `schema.name`. */
function sharedKey(o: ResolvedOptions, schema: string, name: string): string {
  return schema === o.schema ? name : `${schema}.${name}`
}

function undeclaredShared(row: Row, o: ResolvedOptions, login: Login, found: Found): void {
  const r = relation(row)
  const grantees = row['grantees'] as string[]
  const key = JSON.stringify(sharedKey(o, String(row['schema']), String(row['name'])))
  found.push(
    finding(
      'SHARED_TABLE_UNDECLARED',
      'error',
      r.object,
      `the tenant role "${o.tenantRole}" has ${describePrivileges(row)} on it${through(grantees, o.tenantRole)}, but it is neither a tenant table nor declared in sharedTables: it has no tenant column to scope by, so every tenant reaches the same rows of it`,
      `-- if every tenant may share it: declare it, sharedTables: { ${key}: 'read' } (or 'write'), and ${MIGRATE}; if not:\n` +
        asOwner(r.owner, login, `REVOKE ALL ON ${r.sql} FROM ${revokeFrom(grantees, o.tenantRole)};${publicNote(grantees)}`),
    ),
  )
}

function mismatch(row: Row, o: ResolvedOptions, login: Login, found: Found): void {
  const r = relation(row)
  const access = String(row['access']) as SharedAccess
  const want = DECLARED[access]
  const have = row['privileges'] as string[]
  const columns = row['column_privileges'] as string[]
  const grantees = row['grantees'] as string[]
  const more = [...new Set([...have, ...columns])].filter((p) => !want.includes(p))
  const less = want.filter((p) => !have.includes(p))
  const noUsage = want.length > 0 && row['usage'] !== true
  if (more.length === 0 && less.length === 0 && !noUsage) return
  const declared = `is declared '${access}' in sharedTables (${want.length > 0 ? want.join(', ') : 'no privilege'})`
  const holds = `the tenant role "${o.tenantRole}" has ${describePrivileges(row) || 'no privilege'} on it${through(grantees, o.tenantRole)}`
  const fix: string[] = []
  if (more.length > 0) {
    fix.push(asOwner(r.owner, login, `REVOKE ${more.join(', ')} ON ${r.sql} FROM ${revokeFrom(grantees, o.tenantRole)};${publicNote(grantees)}`))
  }
  if (less.length > 0 || noUsage) {
    fix.push(`-- ${MIGRATE} (it grants what sharedTables declares${access === 'write' ? ", the table's sequences too" : ''}), or:`)
    if (noUsage) fix.push(`GRANT USAGE ON SCHEMA ${quoteIdent(String(row['schema']))} TO ${quoteIdent(o.tenantRole)};`)
    if (less.length > 0) fix.push(asOwner(r.owner, login, `GRANT ${less.join(', ')} ON ${r.sql} TO ${quoteIdent(o.tenantRole)};`))
  }
  if (more.length > 0) {
    found.push(
      finding(
        'SHARED_TABLE_MISMATCH',
        'error',
        r.object,
        `${declared}, but ${holds}: more than declared (${more.join(', ')}), and the rows of a shared table are every tenant's, so each tenant can do that to all of them`,
        fix.join('\n'),
      ),
    )
    return
  }
  const why = noUsage ? `, and no USAGE on schema "${String(row['schema'])}"` : ''
  found.push(
    finding(
      'SHARED_TABLE_MISMATCH',
      'warning',
      r.object,
      `${declared}, but ${holds}${why}: less than declared (${[...less, ...(noUsage ? ['USAGE on the schema'] : [])].join(', ')}), so tenant scopes that use it fail with permission denied`,
      fix.join('\n'),
    ),
  )
}

function registryExposed(row: Row, o: ResolvedOptions, login: Login, found: Found): void {
  const privileges = describePrivileges(row)
  if (privileges === '') return
  const r = relation(row)
  const grantees = row['grantees'] as string[]
  const writes = (row['privileges'] as string[]).some((p) => ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'].includes(p))
  found.push(
    finding(
      'REGISTRY_EXPOSED',
      'error',
      r.label,
      `the tenant role "${o.tenantRole}" has ${privileges} on the tenant registry${through(grantees, o.tenantRole)}: the registry has no row-level security, so a tenant scope can ${writes ? 'list, add or remove' : 'list'} every tenant`,
      asOwner(r.owner, login, `REVOKE ALL ON ${r.sql} FROM ${revokeFrom(grantees, o.tenantRole)};${publicNote(grantees)}`),
    ),
  )
}

/**
 * Any other grantee (PUBLIC included) in the ACL of a tenant table, or of its columns, or of the
 * registry: not the tenant role, the admin role, a tenant role (role strategy), the owner, a
 * superuser, or (on the registry) the login, which checks tenants there as scopes open. The policies give such a role no row of a tenant table today, but one added later
 * TO public would; the registry has no policies at all.
 */
async function checkOtherGrantees(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  const registry = o.strategy === 'setting' ? qualified(o.schema, o.registryTable) : null
  if (tables.length === 0 && registry === null) return
  const rows = await db.rows(
    `WITH t AS (SELECT oid FROM pg_roles WHERE rolname = $1),
     reg AS (SELECT to_regclass($4::text)::oid AS oid),
     rel AS (SELECT json_array_elements_text($3::json)::oid AS oid UNION SELECT oid FROM reg WHERE oid IS NOT NULL)
     SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE '"' || replace(r.rolname::text, '"', '""') || '"' END AS grantee, r.rolname::text AS role,
       n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind, pg_get_userbyid(c.relowner)::text AS owner,
       c.oid IN (SELECT oid FROM reg) AS registry,
       array_agg(DISTINCT a.privilege_type || coalesce(' (' || acls.col || ')', '') ORDER BY a.privilege_type || coalesce(' (' || acls.col || ')', ''))::text[] AS privileges
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN LATERAL (
       SELECT c.relacl AS acl, NULL::text AS col
       UNION ALL SELECT at.attacl, quote_ident(at.attname) FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attacl IS NOT NULL AND NOT at.attisdropped
     ) acls
     CROSS JOIN LATERAL aclexplode(acls.acl) a
     LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid IN (SELECT oid FROM rel) AND a.grantee <> c.relowner
       -- the login checks, creates and deletes tenants in the registry: its grant there is expected
       AND NOT (c.oid IN (SELECT oid FROM reg) AND a.grantee <> 0 AND r.rolname = current_user)
       AND (a.grantee = 0 OR (NOT r.rolsuper AND r.rolname NOT IN ($1, $2)
         AND NOT ($5::text IS NOT NULL AND starts_with(r.rolname::text, $5) AND coalesce(pg_has_role(r.oid, (SELECT oid FROM t), 'MEMBER'), false))))
     GROUP BY 1, 2, 3, 4, 5, 6, 7
     ORDER BY 1, 3, 4`,
    [o.tenantRole, o.adminRole, JSON.stringify(tables.map((t) => t.oid)), registry, o.strategy === 'role' ? o.rolePrefix : null],
  )
  const grantees = [...new Set(rows.map((r) => String(r['grantee'])))]
  for (const grantee of grantees) {
    const role = rows.find((r) => r['grantee'] === grantee)?.['role']
    const who = typeof role === 'string' ? roleObject(role) : 'PUBLIC (every role)'
    const everyone = grantee === 'PUBLIC' ? 'every role' : `role ${grantee}`
    for (const onRegistry of [true, false]) {
      const mine = rows.filter((r) => r['grantee'] === grantee && (r['registry'] === true) === onRegistry)
      if (mine.length === 0) continue
      const on = mine.map((r) => `${relation(r).label} (${(r['privileges'] as string[]).join(', ')})`)
      const listed = on.length > 5 ? `${on.slice(0, 5).join(', ')} and ${on.length - 5} more` : on.join(', ')
      const owners = [...new Set(mine.map((r) => String(r['owner'])))]
      const revokes = mine.map((r) => `REVOKE ALL ON ${relation(r).sql} FROM ${grantee};`).join('\n')
      const fix = owners.length === 1 ? asOwner(owners[0]!, login, revokes) : runAs(login.superuser ? undefined : 'their owners (or a superuser)', revokes)
      found.push(
        onRegistry
          ? finding(
              'OTHER_ROLE_GRANTED',
              'error',
              who,
              `${everyone} has privileges on the tenant registry ${listed}: the registry has no row-level security, so ${everyone} can list every tenant`,
              fix,
            )
          : finding(
              'OTHER_ROLE_GRANTED',
              'warning',
              who,
              `${everyone} has privileges on tenant tables: ${listed}. The pg-tenants policies give it no row of them, but any policy added later TO public (or to it) would hand it the rows that policy allows, of every tenant: tenant rows are for the tenant and admin roles only`,
              fix,
            ),
      )
    }
  }
}

/**
 * SECURITY DEFINER functions and procedures the tenant role may EXECUTE (PUBLIC may, by default)
 * whose owner is superuser or BYPASSRLS, or a member of such a role. Functions of extensions are
 * checked too: none of those shipped with PostgreSQL 15 or PGlite trips this (dblink's
 * dblink_connect_u is SECURITY DEFINER but revoked from PUBLIC), so there is nothing to leave out.
 */
async function checkSecurityDefiner(db: CheckDb, o: ResolvedOptions, login: Login, found: Found): Promise<void> {
  const rows = await db.rows(
    `WITH privileged AS MATERIALIZED (SELECT oid, rolname::text AS name, rolsuper FROM pg_roles WHERE rolsuper OR rolbypassrls),
     t AS (SELECT oid FROM pg_roles WHERE rolname = $1 AND NOT rolsuper)
     SELECT n.nspname::text AS schema, p.proname::text AS name, pg_get_function_identity_arguments(p.oid) AS args,
       p.prokind::text AS kind, w.rolname::text AS owner, w.rolsuper AS owner_super, w.rolbypassrls AS owner_bypass,
       coalesce(pg_has_role(w.oid, (SELECT oid FROM pg_roles WHERE rolname = $2), 'USAGE'), false) AS owner_admin,
       ARRAY(SELECT s.name FROM privileged s WHERE NOT w.rolsuper AND NOT w.rolbypassrls AND pg_has_role(w.oid, s.oid, 'MEMBER') ORDER BY 1)::text[] AS via,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE '"' || replace(pg_get_userbyid(a.grantee)::text, '"', '""') || '"' END
             FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
             WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND (a.grantee = 0 OR pg_has_role(t.oid, a.grantee, 'USAGE')) ORDER BY 1)::text[] AS grantees
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles w ON w.oid = p.proowner CROSS JOIN t
     WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND (w.rolsuper OR w.rolbypassrls OR EXISTS (SELECT FROM privileged s WHERE pg_has_role(w.oid, s.oid, 'MEMBER'))
         -- the admin role (or one with its privileges) that the tenant role's RESTRICTIVE policy does not bind: every row
         OR (pg_has_role(w.oid, (SELECT oid FROM pg_roles WHERE rolname = $2), 'USAGE') AND NOT pg_has_role(w.oid, t.oid, 'USAGE')))
       -- a function in a schema the tenant role cannot use cannot be called by it
       AND has_function_privilege(t.oid, p.oid, 'EXECUTE') AND has_schema_privilege(t.oid, n.oid, 'USAGE')
     ORDER BY 1, 2, 3`,
    [o.tenantRole, o.adminRole],
  )
  for (const row of rows) {
    const word = row['kind'] === 'p' ? 'PROCEDURE' : 'FUNCTION'
    const args = `(${String(row['args'])})`
    const label = `${String(row['schema'])}.${String(row['name'])}${args}`
    const sql = `${qualified(String(row['schema']), String(row['name']))}${args}`
    const owner = String(row['owner'])
    const via = row['via'] as string[]
    const rights =
      row['owner_super'] === true
        ? 'a superuser'
        : row['owner_bypass'] === true
          ? 'a BYPASSRLS role'
          : via.length > 0
            ? `a member of ${via.map((v) => `"${v}"`).join(', ')} (superuser or BYPASSRLS)`
            : `the admin role "${o.adminRole}" or a role with its privileges, whose policy allows every row`
    const grantees = row['grantees'] as string[]
    const how = grantees.includes('PUBLIC') ? ' (through PUBLIC, as every role may execute a function by default)' : through(grantees, o.tenantRole)
    found.push(
      finding(
        'SECURITY_DEFINER_BYPASS',
        'warning',
        `${word.toLowerCase()} ${label}`,
        `is SECURITY DEFINER, owned by "${owner}", ${rights}, and the tenant role "${o.tenantRole}" may execute it${how}: it runs with its owner's rights, so row-level security does not apply to what it reads or writes, and the check cannot see what that is; if it touches tenant tables, a tenant scope calling it reaches every tenant's rows`,
        asOwner(owner, login, `REVOKE EXECUTE ON ${word} ${sql} FROM ${revokeFrom(grantees, o.tenantRole)};`) +
          `\n-- or, if tenant scopes need it: ALTER ${word} ${sql} OWNER TO <a role that is neither superuser nor BYPASSRLS>; (as a superuser)`,
      ),
    )
  }
}

interface DefaultSetting {
  readonly role: string | null
  readonly allDatabases: boolean
  readonly value: string
  /** It applies to the check's own session (its login, this database). */
  readonly applies: boolean
}

/**
 * Role and database defaults of `pg_tenants.tenant` (`ALTER DATABASE … SET`, `ALTER ROLE … SET`),
 * and a value on the check's own connection outside any scope. Scopes set the tenant themselves;
 * the default is what a session that becomes the tenant role without a scope (SET ROLE by hand,
 * a login as the tenant role) runs as: a tenant instead of none.
 */
async function checkDefaultTenant(db: CheckDb, o: ResolvedOptions, login: Login, found: Found): Promise<void> {
  const [row] = await db.rows(
    `SELECT coalesce(current_setting($1, true), '') AS session, d.datname::text AS db, pg_get_userbyid(d.datdba)::text AS db_owner,
       coalesce((SELECT json_agg(json_build_object(
           'role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole)::text END,
           'allDatabases', s.setdatabase = 0, 'value', substr(cfg, length($1) + 2),
           'applies', s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = session_user))) ORDER BY s.setdatabase, s.setrole)
         FROM pg_db_role_setting s, unnest(s.setconfig) cfg
         WHERE s.setdatabase IN (0, d.oid) AND lower(split_part(cfg, '=', 1)) = $1 AND substr(cfg, length($1) + 2) <> ''), '[]') AS defaults
     FROM pg_database d WHERE d.datname = current_database()`,
    [o.settingKey],
  )
  if (!row) return
  const raw = row['defaults']
  const defaults = (typeof raw === 'string' ? JSON.parse(raw) : raw) as DefaultSetting[]
  const database = quoteIdent(String(row['db']))
  const key = o.settingKey
  const effect = (value: string) =>
    `a session that becomes the tenant role "${o.tenantRole}" without a scope (SET ROLE by hand, a login as that role) is tenant ${JSON.stringify(value)} instead of no tenant: code outside a scope no longer fails closed`
  for (const d of defaults) {
    const value = JSON.stringify(d.value)
    if (d.role === null && d.allDatabases) {
      found.push(
        finding(
          'DEFAULT_TENANT_SETTING',
          'error',
          'every role in every database',
          `ALTER ROLE ALL SET ${key} = ${value} is in effect: ${effect(d.value)}`,
          asSuperuser(login, `ALTER ROLE ALL RESET ${key};`),
        ),
      )
    } else if (d.role === null) {
      found.push(
        finding(
          'DEFAULT_TENANT_SETTING',
          'error',
          `database ${database}`,
          `database ${database} sets ${key} = ${value} for every session: ${effect(d.value)}`,
          runAs(
            login.superuser || login.name === row['db_owner'] ? undefined : `the database owner "${String(row['db_owner'])}" (or a superuser)`,
            `ALTER DATABASE ${database} RESET ${key};`,
          ),
        ),
      )
    } else {
      const where = d.allDatabases ? 'in every database' : `in database ${database}`
      const sql = d.allDatabases ? `ALTER ROLE ${quoteIdent(d.role)} RESET ${key};` : `ALTER ROLE ${quoteIdent(d.role)} IN DATABASE ${database} RESET ${key};`
      found.push(
        finding(
          'DEFAULT_TENANT_SETTING',
          'error',
          `${roleObject(d.role)} ${where}`,
          `sessions of role "${d.role}" ${where} start with ${key} = ${value}: ${effect(d.value)}`,
          runAs(
            login.superuser || login.name === d.role ? undefined : `a superuser, or a role with CREATEROLE (and ADMIN OPTION on "${d.role}" on PostgreSQL 16+)`,
            sql,
          ),
        ),
      )
    }
  }
  const session = String((row['session'] as string | null | undefined) ?? '') // text, coalesced to ''
  if (session === '' || defaults.some((d) => d.applies && d.value === session)) return
  found.push(
    finding(
      'DEFAULT_TENANT_SETTING',
      'error',
      `setting ${key} (the check's connection)`,
      `the check's own connection has ${key} = ${JSON.stringify(session)} outside any scope (from postgresql.conf, ALTER SYSTEM, the connection's options or a SET on it): ${effect(session)}`,
      `RESET ${key}; -- on that connection; if new connections have it too, remove it where it is set: postgresql.conf or ALTER SYSTEM RESET ${key} (as a superuser), or -c ${key}=… in the connection's options`,
    ),
  )
}
