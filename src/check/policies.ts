/**
 * Policy checks: our three policies present and exactly as the migration generates them (drift),
 * and other permissive policies that could widen access.
 *
 * "Exactly as generated" is decided by PostgreSQL itself: inside a savepoint that is always rolled
 * back, the CREATE POLICY statements of `buildMigration` are run against a temporary mirror of
 * the table (same column names at the same positions, the tenant column with its type), and the
 * deparsed expressions (`pg_get_expr`) of those and of the live policies are compared. Spacing,
 * parentheses and casts that PostgreSQL adds therefore never count as drift; a change of meaning
 * does.
 *
 * @module
 */
import { buildMigration } from '../core/migration.js'
import type { ResolvedOptions } from '../core/options.js'
import { POLICY_NAMES } from '../core/policy.js'
import { quoteIdent } from '../core/quote.js'
import { finding, type Found } from './finding.js'
import type { CheckDb, Row } from './session.js'
import type { TenantTable } from './tables.js'

/** A policy as PostgreSQL stores it, expressions deparsed. */
interface PolicyShape {
  readonly name: string
  readonly permissive: boolean
  /** `*` (ALL), `r` (SELECT), `a` (INSERT), `w` (UPDATE), `d` (DELETE). */
  readonly cmd: string
  /** Role names, `public` for PUBLIC, sorted. */
  readonly roles: readonly string[]
  readonly qual: string | null
  readonly check: string | null
}

interface LivePolicy extends PolicyShape {
  /** Applies to the tenant role (through PUBLIC or a role whose privileges it has). */
  readonly toTenant: boolean
  /** Roles other than the tenant and admin roles that have privileges on the table, do not
   * bypass row-level security, and to which this policy applies; `bound` when they have the
   * tenant role's privileges, so that the RESTRICTIVE policy binds them too (the login on
   * PostgreSQL 15, where the migration grants it the tenant role with INHERIT). */
  readonly reaches: readonly { role: string; bound: boolean }[]
}

const COMMANDS: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' }
const DML = `('SELECT', 'INSERT', 'UPDATE', 'DELETE')`

/** Checks the policies of every table. */
export async function checkPolicies(
  db: CheckDb,
  o: ResolvedOptions,
  tables: readonly TenantTable[],
  found: Found,
  progress: (table: TenantTable) => void,
): Promise<void> {
  let unchecked = false
  for (const table of tables) {
    progress(table)
    if (!table.comparable) continue
    const fixes = expectedFixes(o, table)
    const compared = await db.sandbox(() => compare(db, o, table))
    if (!compared) {
      unchecked = true
      for (const name of await policyNames(db, table)) fixes.delete(name)
      for (const [name, fix] of fixes) found.push(finding('POLICY_MISSING', 'error', table.label, `policy ${name} is missing${why(name)}`, fix))
      continue
    }
    const isolationIntact = checkOurs(table, compared.live, compared.expected, fixes, found)
    checkOthers(table, compared.live, compared.expected, isolationIntact, found)
  }
  if (unchecked) {
    found.push(finding('DRIFT_NOT_CHECKED', 'warning', 'check',
      'could not create a temporary table to compare policies with (no TEMPORARY privilege on the database?), so policy conditions were not compared',
      'GRANT TEMPORARY ON DATABASE <database> TO <login>; -- or run the check as a login that has it'))
  }
}

async function policyNames(db: CheckDb, table: TenantTable): Promise<string[]> {
  const rows = await db.rows('SELECT polname::text AS name FROM pg_policy WHERE polrelid = $1::oid', [table.oid])
  return rows.map((r) => String(r['name']))
}

/**
 * Inside a savepoint that is always rolled back: a temporary mirror of the table (same column
 * names at the same positions, the tenant column with its type), the generated policies created
 * on it, and every policy of both tables deparsed against the mirror. Deparsing a live policy
 * against its own table would lock that table (pg_get_expr opens the relation it is given);
 * against the mirror it locks nothing of the user's.
 */
async function compare(db: CheckDb, o: ResolvedOptions, table: TenantTable): Promise<{ expected: Map<string, PolicyShape>; live: LivePolicy[] }> {
  const mirror = 'pgt_check_mirror'
  const columns = await db.rows(
    'SELECT attnum::int AS n, attname::text AS name, attisdropped AS dropped FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 ORDER BY attnum',
    [table.oid],
  )
  const definitions = columns.map((c) =>
    c['dropped'] === true
      ? `pgt_dropped_${String(c['n'])} int`
      : `${quoteIdent(String(c['name']))} ${Number(c['n']) === table.attnum ? table.columnType : 'int'}`,
  )
  await db.rows(`CREATE TEMP TABLE ${mirror} (${definitions.join(', ')})`)
  const dropped = columns.filter((c) => c['dropped'] === true).map((c) => `DROP COLUMN pgt_dropped_${String(c['n'])}`)
  if (dropped.length > 0) await db.rows(`ALTER TABLE ${mirror} ${dropped.join(', ')}`)
  const generated = statements(o, { ...table.spec, schema: 'pg_temp', name: mirror })
  for (const s of generated) await db.rows(s.createToPublic)
  const rows = await db.rows(
    `SELECT p.polrelid <> $2::oid AS expected, p.polname::text AS name, p.polpermissive AS permissive, p.polcmd::text AS cmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r ORDER BY 1)::text[] AS roles,
       pg_get_expr(p.polqual, $1::regclass) AS qual, pg_get_expr(p.polwithcheck, $1::regclass) AS with_check,
       coalesce((SELECT bool_or(r = 0 OR pg_has_role(t.oid, r, 'USAGE')) FROM unnest(p.polroles) r), false) AS to_tenant,
       (SELECT coalesce(json_agg(json_build_object('role', g.rolname, 'bound', coalesce(pg_has_role(g.oid, t.oid, 'USAGE'), false)) ORDER BY g.rolname), '[]'::json)
        FROM pg_roles g
        WHERE g.oid IN (SELECT oid FROM pg_roles WHERE rolname = current_user
                        UNION SELECT a.grantee FROM aclexplode(c.relacl) a WHERE a.privilege_type IN ${DML})
          AND NOT g.rolsuper AND NOT g.rolbypassrls AND g.oid IS DISTINCT FROM t.oid
          AND NOT coalesce(pg_has_role(g.oid, ad.oid, 'USAGE'), false)
          AND EXISTS (SELECT FROM unnest(p.polroles) r WHERE r = 0 OR pg_has_role(g.oid, r, 'USAGE'))) AS reaches,
       0 = ANY(p.polroles) AND EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 0 AND a.privilege_type IN ${DML}) AS reaches_public
     FROM pg_policy p JOIN pg_class c ON c.oid = $2::oid
     LEFT JOIN pg_roles t ON t.rolname = $3 LEFT JOIN pg_roles ad ON ad.rolname = $4
     WHERE p.polrelid IN ($1::regclass, $2::oid)
     ORDER BY p.polname`,
    [`pg_temp.${mirror}`, table.oid, o.tenantRole, o.adminRole],
  )
  const expected = new Map<string, PolicyShape>()
  const live: LivePolicy[] = []
  for (const row of rows) {
    if (row['expected'] === true) {
      const s = generated.find((g) => g.name === row['name'])
      if (s) expected.set(s.name, { ...shape(row), roles: s.roles })
      continue
    }
    const reaches = [...(row['reaches'] as { role: string; bound: boolean }[])]
    if (row['reaches_public'] === true) reaches.push({ role: 'PUBLIC', bound: false })
    live.push({ ...shape(row), toTenant: row['to_tenant'] === true, reaches })
  }
  return { expected, live }
}

/** Reports missing and drifted pg-tenants policies; returns whether the RESTRICTIVE one is intact. */
function checkOurs(
  table: TenantTable,
  policies: readonly LivePolicy[],
  expected: ReadonlyMap<string, PolicyShape>,
  fixes: ReadonlyMap<string, string>,
  found: Found,
): boolean {
  let isolationIntact = false
  for (const [name, want] of expected) {
    const fix = fixes.get(name) ?? ''
    const have = policies.find((p) => p.name === name)
    if (!have) {
      found.push(finding('POLICY_MISSING', 'error', table.label, `policy ${name} is missing${why(name)}`, fix))
      continue
    }
    const differences = differ(have, want)
    if (differences.length > 0) {
      found.push(finding('POLICY_DRIFT', 'error', table.label,
        `policy ${name} differs from what pg-tenants generates: ${differences.join('; ')}`, fix))
    } else if (name === POLICY_NAMES.isolation) {
      isolationIntact = true
    }
  }
  return isolationIntact
}

function why(name: string): string {
  if (name === POLICY_NAMES.isolation) return ': nothing holds the tenant role to its own tenant if another permissive policy exists'
  if (name === POLICY_NAMES.access) return ': tenant scopes see no rows and cannot write'
  if (name === POLICY_NAMES.admin) return ': withAdmin sees no rows and cannot write'
  return ''
}

function differ(have: PolicyShape, want: PolicyShape): string[] {
  const out: string[] = []
  if (have.permissive !== want.permissive) out.push(`it is ${kind(have)}, expected ${kind(want)}`)
  if (have.cmd !== want.cmd) out.push(`FOR ${COMMANDS[have.cmd] ?? have.cmd}, expected FOR ${COMMANDS[want.cmd] ?? want.cmd}`)
  if (have.roles.join() !== want.roles.join()) out.push(`TO ${have.roles.join(', ')}, expected TO ${want.roles.join(', ')}`)
  if (have.qual !== want.qual) out.push(`USING (${have.qual ?? ''}), expected (${want.qual ?? ''})`)
  if (have.check !== want.check) out.push(`WITH CHECK (${have.check ?? ''}), expected (${want.check ?? ''})`)
  return out
}

function kind(p: PolicyShape): string {
  return p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'
}

/**
 * Another permissive policy is ORed with ours. For the tenant role that is harmless while the
 * RESTRICTIVE tenant policy is intact (it is ANDed with the result); without it, the policy
 * hands tenants rows of other tenants. Any other role that has privileges on the table and is
 * not held by the RESTRICTIVE policy (the login on PostgreSQL 16+, a role granted SELECT, PUBLIC)
 * sees, through it, every tenant's rows it allows instead of none. A policy applies to the roles
 * that have the privileges of one of its roles (pg_has_role … 'USAGE'), as PostgreSQL decides.
 */
function checkOthers(
  table: TenantTable,
  policies: readonly LivePolicy[],
  expected: ReadonlyMap<string, PolicyShape>,
  isolationIntact: boolean,
  found: Found,
): void {
  const ours = new Set<string>(Object.values(POLICY_NAMES))
  const condition = expected.get(POLICY_NAMES.access)
  for (const p of policies) {
    if (ours.has(p.name) || !p.permissive) continue
    // A policy whose condition is the tenant condition itself allows nothing more than ours.
    if (condition && (p.qual === null || p.qual === condition.qual) && (p.check === null || p.check === condition.qual)) continue
    const what = `policy ${quoteIdent(p.name)} (PERMISSIVE, FOR ${COMMANDS[p.cmd] ?? p.cmd}, TO ${p.roles.join(', ')}, USING (${p.qual ?? ''}))`
    const fix = `DROP POLICY ${quoteIdent(p.name)} ON ${table.sql}; -- or make it AS RESTRICTIVE`
    if (p.toTenant && !isolationIntact) {
      found.push(finding('PERMISSIVE_POLICY', 'error', table.label,
        `${what} applies to the tenant role and the RESTRICTIVE ${POLICY_NAMES.isolation} policy is missing or altered, so it is ORed with the tenant condition and tenants get other tenants' rows`,
        fix))
      continue
    }
    const unbound = p.reaches.filter((r) => !(isolationIntact && r.bound)).map((r) => (r.role === 'PUBLIC' ? 'PUBLIC' : `"${r.role}"`))
    if (unbound.length > 0) {
      found.push(finding('PERMISSIVE_POLICY', 'warning', table.label,
        `${what} lets ${unbound.join(', ')}, which ${unbound.length > 1 ? 'have' : 'has'} privileges on the table and ${unbound.length > 1 ? 'are' : 'is'} not held by the RESTRICTIVE tenant policy, see every tenant's rows it allows instead of none (for the login: code outside a tenant scope); tenant scopes stay isolated`,
        fix))
    }
  }
}

function shape(row: Row): PolicyShape {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v))
  return {
    name: String(row['name']),
    permissive: row['permissive'] === true,
    cmd: String(row['cmd']),
    roles: (row['roles'] as string[]).slice().sort(),
    qual: text(row['qual']),
    check: text(row['with_check']),
  }
}

/** One generated CREATE POLICY statement, taken apart. */
interface Statement {
  readonly name: string
  readonly drop: string
  readonly create: string
  /** The role list after TO, unquoted. */
  readonly roles: readonly string[]
  /** The CREATE with its role list replaced by `public`, so that it runs whether or not the
   * roles exist (roles are compared by name). */
  readonly createToPublic: string
}

/** The policy statements of the migration for `table`. */
function statements(o: ResolvedOptions, table: TenantTable['spec']): Statement[] {
  const up = buildMigration([table], o).up
  const out: Statement[] = []
  for (const match of up.matchAll(/CREATE POLICY (\S+) ON [^\n]* TO ([^\n]+)\n[^;]*;/g)) {
    const [create, name, roleList] = match as unknown as [string, string, string]
    const drop = new RegExp(`DROP POLICY IF EXISTS ${name} ON [^\\n]*;`).exec(up)?.[0] ?? ''
    const roles = roleList.split(/,\s*/).map((r) => (r.startsWith('"') ? r.slice(1, -1).replaceAll('""', '"') : r)).sort()
    const createToPublic = create.replace(` TO ${roleList}\n`, ' TO public\n')
    out.push({ name, drop, create, roles, createToPublic })
  }
  // Guard against a change of the generator's layout silently turning every check into a pass.
  const names = Object.values(POLICY_NAMES)
  if (out.length !== names.length || !names.every((n) => out.some((s) => s.name === n))) {
    throw new Error(`pg-tenants check: cannot read the generated policies for ${table.name} (found ${out.map((s) => s.name).join(', ') || 'none'}); this is a bug in pg-tenants`)
  }
  return out
}

function expectedFixes(o: ResolvedOptions, table: TenantTable): Map<string, string> {
  return new Map(statements(o, table.spec).map((s) => [s.name, `${s.drop}\n${s.create}`]))
}
