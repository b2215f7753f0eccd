/**
 * Policy checks: our three policies present and exactly as the migration generates them (drift),
 * and other permissive policies that could widen access.
 *
 * "Exactly as generated" is decided by PostgreSQL itself: inside a savepoint that is always rolled
 * back, the policies of `tenantPolicies` (the very data the migration writes) are created on a
 * temporary mirror of the table (same column names at the same positions, the tenant column with
 * its type), and the deparsed expressions (`pg_get_expr`) of those and of the live policies are compared. Spacing,
 * parentheses and casts that PostgreSQL adds therefore never count as drift; a change of meaning
 * does.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { createPolicySql, dropPolicySql, POLICY_NAMES, tenantPolicies, type PolicyDefinition } from '../core/policy.js'
import { quoteIdent } from '../core/quote.js'
import { asOwner, finding, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { Attempt, CheckDb, Row } from './session.js'
import type { TenantTable } from './tables.js'

/** A policy as PostgreSQL stores it, expressions deparsed. */
export interface PolicyShape {
  readonly name: string
  readonly permissive: boolean
  /** `*` (ALL), `r` (SELECT), `a` (INSERT), `w` (UPDATE), `d` (DELETE). */
  readonly cmd: string
  /** Role names, `public` for PUBLIC, sorted. */
  readonly roles: readonly string[]
  readonly qual: string | null
  readonly check: string | null
}

export interface LivePolicy extends PolicyShape {
  /** Applies to the tenant role (through PUBLIC or a role whose privileges it has), or in the
   * role strategy to a tenant role. */
  readonly toTenant: boolean
  /** Roles other than the tenant and admin roles that have privileges on the table, do not
   * bypass row-level security, and to which this policy applies; `bound` when they have the
   * tenant role's privileges, so that the RESTRICTIVE policy binds them too (the login on
   * PostgreSQL 15, where the migration grants it the tenant role with INHERIT). */
  readonly reaches: readonly { role: string; bound: boolean }[]
}

const COMMANDS: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' }
const DML = `('SELECT', 'INSERT', 'UPDATE', 'DELETE')`

/** Checks the policies of every table: a few round trips in all, whatever the number of tables.
 * Returns the comparison of each table, by oid, for the checks of its copies (Citus shards). */
export async function checkPolicies(
  db: CheckDb,
  o: ResolvedOptions,
  tables: readonly TenantTable[],
  login: Login,
  found: Found,
  progress: (table: TenantTable) => void,
): Promise<Map<string, Compared>> {
  const comparable = tables.filter((t) => t.comparable)
  const results = await compareAll(db, o, comparable)
  let noTemp: string | undefined
  for (const table of tables) {
    progress(table)
    const result = results.get(table.oid)
    if (!result) continue
    const fixes = expectedFixes(o, table, login)
    // A table left out of the declared ones is no tenant table of the app's: a missing policy
    // only narrows access there (row level security with no permissive policy shows no row), as
    // after `pg-tenants generate` closed a table taken out of withRls. What widens it is reported.
    if (table.undeclared) for (const name of Object.values(POLICY_NAMES)) fixes.delete(name)
    if ('error' in result) {
      if (result.noTemp) noTemp = result.error
      else {
        found.push(
          finding(
            'DRIFT_NOT_CHECKED',
            'error',
            table.label,
            `the policies could not be compared with what pg-tenants generates (${result.error}), so a policy that lets tenants see each other's rows would go unnoticed`,
            `-- compare them by hand with (or re-create them as) what the migration generates:\n${[...fixes.values()].join('\n')}`,
          ),
        )
      }
      for (const name of result.names) fixes.delete(name)
      for (const [name, fix] of fixes) found.push(finding('POLICY_MISSING', 'error', table.label, `policy ${name} is missing${why(name)}`, fix))
      continue
    }
    const isolationIntact = checkOurs(table, result.live, result.expected, fixes, login, found)
    checkOthers(o, table, result.live, result.expected, isolationIntact, login, found)
  }
  if (noTemp !== undefined) {
    found.push(
      finding(
        'DRIFT_NOT_CHECKED',
        'warning',
        'check',
        `could not create a temporary table to compare policies with (${noTemp}), so policy conditions were not compared (missing policies were), and a CHECK constraint on a text tenant column is taken to reject the empty tenant without trying it`,
        'GRANT TEMPORARY ON DATABASE <database> TO <login>; -- or run the check as a login that has it',
      ),
    )
  }
  return results
}

/** What keeps a table's pg-tenants policies from being what the migration generates. */
export interface PolicyGaps {
  /** By policy name: `is missing`, or how it differs. */
  readonly wrong: ReadonlyMap<string, string>
  /** Set when the comparison failed: then only missing policies are known. */
  readonly error?: string
  /** The failure was the login's want of TEMPORARY (which checkPolicies reports once). */
  readonly noTemp?: boolean
}

/**
 * The gaps of each table's three pg-tenants policies, by table oid, compared as checkPolicies
 * does: for tables that are no tenant tables of their own, such as partitions, whose findings
 * say what is missing in one line.
 */
export async function policyGaps(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[]): Promise<Map<string, PolicyGaps>> {
  const out = new Map<string, PolicyGaps>()
  const results = await compareAll(db, o, tables)
  for (const table of tables) {
    const result = results.get(table.oid)
    if (!result) continue
    const wrong = new Map<string, string>()
    if ('error' in result) {
      for (const name of Object.values(POLICY_NAMES)) if (!result.names.includes(name)) wrong.set(name, 'is missing')
      out.set(table.oid, { wrong, error: result.error, noTemp: result.noTemp })
      continue
    }
    for (const [name, want] of result.expected) {
      const have = result.live.find((p) => p.name === name)
      const differences = have ? differ(have, want) : []
      if (!have) wrong.set(name, 'is missing')
      else if (differences.length > 0) wrong.set(name, `differs: ${differences.join('; ')}`)
    }
    out.set(table.oid, { wrong })
  }
  return out
}

/** A table's policies compared: the generated ones and the live ones, deparsed alike; or why
 * they could not be, with the names of its policies. */
export type Compared =
  | { readonly expected: Map<string, PolicyShape>; readonly live: LivePolicy[] }
  | { readonly error: string; readonly noTemp: boolean; readonly names: readonly string[] }

/**
 * Compares the policies of `tables`: all of them at once, and, should that fail, table by table,
 * so that a failure is reported on the table it belongs to, with the database's own message.
 */
export async function compareAll(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[]): Promise<Map<string, Compared>> {
  const out = new Map<string, Compared>()
  if (tables.length === 0) return out
  const numbered = tables.map((table, i) => ({ table, mirror: `pgt_check_mirror_${i + 1}` }))
  const columns = await db.rows(
    `SELECT attrelid::text AS table_oid, attnum::int AS n, attname::text AS name, attisdropped AS dropped FROM pg_attribute
     WHERE attrelid IN (SELECT json_array_elements_text($1::json)::oid) AND attnum > 0 ORDER BY attrelid, attnum`,
    [JSON.stringify(tables.map((t) => t.oid))],
  )
  const all = await db.sandbox(() => compare(db, o, numbered, columns))
  if (all.ok) return all.value
  // One connection: one table after the other.
  const failures: { table: TenantTable; attempt: Attempt<Map<string, Compared>> }[] = []
  if (numbered.length === 1) failures.push({ table: numbered[0]!.table, attempt: all })
  else for (const one of numbered) failures.push({ table: one.table, attempt: await db.sandbox(() => compare(db, o, [one], columns)) })
  const failed: TenantTable[] = []
  for (const { table, attempt } of failures) {
    if (attempt.ok) out.set(table.oid, attempt.value.get(table.oid)!)
    else failed.push(table)
  }
  const names = await policyNames(db, failed)
  for (const { table, attempt } of failures) {
    if (attempt.ok) continue
    out.set(table.oid, { ...describeFailure(attempt.error), names: names.get(table.oid) ?? [] })
  }
  return out
}

/** A failure to create the mirror for want of the TEMPORARY privilege is the login's setup, not
 * pg-tenants': it is the one failure reported as a warning. */
function describeFailure(error: unknown): { error: string; noTemp: boolean } {
  const e = error as { code?: unknown; message?: unknown; step?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(error)
  return { error: message, noTemp: e?.code === '42501' && e.step === 'mirror' }
}

async function policyNames(db: CheckDb, tables: readonly TenantTable[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  if (tables.length === 0) return out
  const rows = await db.rows(
    'SELECT polrelid::text AS table_oid, polname::text AS name FROM pg_policy WHERE polrelid IN (SELECT json_array_elements_text($1::json)::oid)',
    [JSON.stringify(tables.map((t) => t.oid))],
  )
  for (const row of rows) out.set(String(row['table_oid']), [...(out.get(String(row['table_oid'])) ?? []), String(row['name'])])
  return out
}

/**
 * Inside a savepoint that is always rolled back: a temporary mirror of each table (same column
 * names at the same positions, the tenant column with its type), the generated policies created
 * on it, and every policy of both deparsed against the mirror, in three messages and one query
 * for all tables. Deparsing a live policy against its own table would lock that table
 * (pg_get_expr opens the relation it is given); against the mirror it locks nothing of the user's.
 */
async function compare(
  db: CheckDb,
  o: ResolvedOptions,
  tables: readonly { table: TenantTable; mirror: string }[],
  columns: readonly Row[],
): Promise<Map<string, Compared>> {
  const mirrors: string[] = []
  const policies: string[] = []
  const generated = new Map<string, readonly PolicyDefinition[]>()
  for (const { table, mirror } of tables) {
    const own = columns.filter((c) => c['table_oid'] === table.oid)
    const definitions = own.map((c) =>
      c['dropped'] === true
        ? `pgt_dropped_${String(c['n'])} int`
        : `${quoteIdent(String(c['name']))} ${Number(c['n']) === table.attnum ? table.columnType : 'int'}`,
    )
    mirrors.push(`CREATE TEMP TABLE ${mirror} (${definitions.join(', ')});`)
    const dropped = own.filter((c) => c['dropped'] === true).map((c) => `DROP COLUMN pgt_dropped_${String(c['n'])}`)
    if (dropped.length > 0) mirrors.push(`ALTER TABLE ${mirror} ${dropped.join(', ')};`)
    const expected = tenantPolicies(o, table.spec.column, table.spec.type)
    generated.set(table.oid, expected)
    // To public, so that they are created whether or not the roles exist (roles are compared by name).
    for (const p of expected) policies.push(createPolicySql(p, `pg_temp.${mirror}`, ['public']))
  }
  await db.exec(mirrors.join('\n')).catch((error: unknown) => {
    throw Object.assign(error as Error, { step: 'mirror' }) // the driver's error, tagged
  })
  await db.exec(policies.join('\n'))
  const rows = await db.rows(
    `SELECT m.table_oid::text AS table_oid, p.polrelid <> m.table_oid AS expected, p.polname::text AS name,
       p.polpermissive AS permissive, p.polcmd::text AS cmd,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r ORDER BY 1)::text[] AS roles,
       pg_get_expr(p.polqual, m.mirror) AS qual, pg_get_expr(p.polwithcheck, m.mirror) AS with_check,
       -- (role strategy: or to a tenant role, which tenant scopes run as)
       coalesce((SELECT bool_or(r = 0 OR pg_has_role(t.oid, r, 'USAGE')
                  OR ($4::text IS NOT NULL AND starts_with(pg_get_userbyid(r)::text, $4) AND pg_has_role(r, t.oid, 'MEMBER')))
                 FROM unnest(p.polroles) r), false) AS to_tenant,
       (SELECT coalesce(json_agg(json_build_object('role', g.rolname, 'bound', coalesce(pg_has_role(g.oid, t.oid, 'USAGE'), false)) ORDER BY g.rolname), '[]'::json)
        FROM pg_roles g
        WHERE g.oid IN (SELECT oid FROM pg_roles WHERE rolname = current_user
                        UNION SELECT a.grantee FROM aclexplode(c.relacl) a WHERE a.privilege_type IN ${DML})
          AND NOT g.rolsuper AND NOT g.rolbypassrls AND g.oid IS DISTINCT FROM t.oid
          AND NOT coalesce(pg_has_role(g.oid, ad.oid, 'USAGE'), false)
          AND EXISTS (SELECT FROM unnest(p.polroles) r WHERE r = 0 OR pg_has_role(g.oid, r, 'USAGE'))) AS reaches,
       0 = ANY(p.polroles) AND EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 0 AND a.privilege_type IN ${DML}) AS reaches_public
     FROM json_to_recordset($1::json) AS m(table_oid oid, mirror regclass)
     JOIN pg_policy p ON p.polrelid IN (m.table_oid, m.mirror)
     JOIN pg_class c ON c.oid = m.table_oid
     LEFT JOIN pg_roles t ON t.rolname = $2 LEFT JOIN pg_roles ad ON ad.rolname = $3
     ORDER BY m.table_oid, p.polname`,
    [
      JSON.stringify(tables.map(({ table, mirror }) => ({ table_oid: table.oid, mirror: `pg_temp.${mirror}` }))),
      o.tenantRole,
      o.adminRole,
      o.strategy === 'role' ? o.rolePrefix : null,
    ],
  )
  const out = new Map<string, Compared>()
  for (const { table } of tables) out.set(table.oid, { expected: new Map(), live: [] })
  for (const row of rows) {
    const result = out.get(String(row['table_oid'])) as { expected: Map<string, PolicyShape>; live: LivePolicy[] }
    if (row['expected'] === true) {
      const p = generated.get(String(row['table_oid']))?.find((g) => g.name === row['name'])
      if (p) result.expected.set(p.name, { ...shape(row), roles: [...p.roles].sort() })
      continue
    }
    const reaches = [...(row['reaches'] as { role: string; bound: boolean }[])]
    if (row['reaches_public'] === true) reaches.push({ role: 'PUBLIC', bound: false })
    result.live.push({ ...shape(row), toTenant: row['to_tenant'] === true, reaches })
  }
  return out
}

/** Reports missing and drifted pg-tenants policies; returns whether the RESTRICTIVE one is intact. */
function checkOurs(
  table: TenantTable,
  policies: readonly LivePolicy[],
  expected: ReadonlyMap<string, PolicyShape>,
  fixes: ReadonlyMap<string, string>,
  login: Login,
  found: Found,
): boolean {
  let isolationIntact = false
  for (const [name, want] of expected) {
    const have = policies.find((p) => p.name === name)
    const fix = fixes.get(name) ?? asOwner(table.owner, login, `DROP POLICY ${quoteIdent(name)} ON ${table.sql};`)
    if (!have) {
      if (!fixes.has(name)) continue
      found.push(finding('POLICY_MISSING', 'error', table.label, `policy ${name} is missing${why(name)}`, fix))
      continue
    }
    const differences = differ(have, want)
    if (differences.length > 0) {
      found.push(finding('POLICY_DRIFT', 'error', table.label, `policy ${name} differs from what pg-tenants generates: ${differences.join('; ')}`, fix))
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

/** How `have` differs from `want`, one phrase per difference (none when they are the same). */
export function differ(have: PolicyShape, want: PolicyShape): string[] {
  const out: string[] = []
  if (have.permissive !== want.permissive) out.push(`it is ${kind(have)}, expected ${kind(want)}`)
  if (have.cmd !== want.cmd) out.push(`FOR ${COMMANDS[have.cmd] ?? have.cmd}, expected FOR ${COMMANDS[want.cmd] ?? want.cmd}`)
  if (have.roles.join() !== want.roles.join()) out.push(`TO ${have.roles.join(', ')}, expected TO ${want.roles.join(', ')}`)
  if (have.qual !== want.qual) out.push(`USING (${have.qual ?? ''}), expected (${want.qual ?? ''})`)
  if (effectiveCheck(have) !== effectiveCheck(want)) {
    out.push(`WITH CHECK (${have.check ?? `none: USING (${have.qual ?? ''}) applies`}), expected (${want.check ?? ''})`)
  }
  return out
}

/** A policy for ALL or UPDATE without WITH CHECK checks new rows with its USING expression. */
function effectiveCheck(p: PolicyShape): string | null {
  return p.check ?? (p.cmd === '*' || p.cmd === 'w' ? p.qual : null)
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
 * In Citus mode no policy is RESTRICTIVE (Citus re-creates every policy as PERMISSIVE on its
 * shards), so nothing holds the tenant role to its tenant but the condition of each policy: any
 * other permissive one that applies to it widens every tenant scope.
 */
function checkOthers(
  o: ResolvedOptions,
  table: TenantTable,
  policies: readonly LivePolicy[],
  expected: ReadonlyMap<string, PolicyShape>,
  isolationIntact: boolean,
  login: Login,
  found: Found,
): void {
  const ours = new Set<string>(Object.values(POLICY_NAMES))
  const condition = expected.get(POLICY_NAMES.access)
  for (const p of policies) {
    if (ours.has(p.name) || !p.permissive) continue
    // A policy whose condition is the tenant condition itself allows nothing more than ours.
    if (condition && (p.qual === null || p.qual === condition.qual) && (p.check === null || p.check === condition.qual)) continue
    const what = `policy ${quoteIdent(p.name)} (PERMISSIVE, FOR ${COMMANDS[p.cmd] ?? p.cmd}, TO ${p.roles.join(', ')}, USING (${p.qual ?? ''}))`
    // On Citus a RESTRICTIVE policy is PERMISSIVE on the shards: it cannot narrow anything there.
    const instead = o.citus ? 'or bind it to roles that do not have the tenant role' : 'or make it AS RESTRICTIVE'
    const fix = asOwner(table.owner, login, `DROP POLICY ${quoteIdent(p.name)} ON ${table.sql}; -- ${instead}`)
    if (p.toTenant && (o.citus || !isolationIntact)) {
      const why = o.citus
        ? 'in Citus mode no policy is RESTRICTIVE (Citus re-creates every policy as PERMISSIVE on its shards)'
        : `the RESTRICTIVE ${POLICY_NAMES.isolation} policy is missing or altered`
      found.push(
        finding(
          'PERMISSIVE_POLICY',
          'error',
          table.label,
          `${what} applies to the tenant role and ${why}, so it is ORed with the tenant condition and tenants get other tenants' rows`,
          fix,
        ),
      )
      continue
    }
    // In Citus mode there is no RESTRICTIVE policy to hold the roles that have the tenant role's privileges.
    const held = isolationIntact && !o.citus
    const unbound = p.reaches.filter((r) => !(held && r.bound)).map((r) => (r.role === 'PUBLIC' ? 'PUBLIC' : `"${r.role}"`))
    if (unbound.length > 0) {
      const many = unbound.length > 1
      found.push(
        finding(
          'PERMISSIVE_POLICY',
          'warning',
          table.label,
          `${what} lets ${unbound.join(', ')}, which ${many ? 'have' : 'has'} privileges on the table and ${many ? 'are' : 'is'} not held by ${o.citus ? 'the tenant condition (Citus mode has no RESTRICTIVE policy)' : 'the RESTRICTIVE tenant policy'}, see every tenant's rows it allows instead of none (for the login: code outside a tenant scope); tenant scopes stay isolated`,
          fix,
        ),
      )
    }
  }
}

function shape(row: Row): PolicyShape {
  const text = (v: string | null | undefined) => (v === null || v === undefined ? null : String(v))
  return {
    name: String(row['name']),
    permissive: row['permissive'] === true,
    cmd: String(row['cmd']),
    roles: (row['roles'] as string[]).slice().sort(),
    // pg_get_expr(…): text or null.
    qual: text(row['qual'] as string | null),
    check: text(row['with_check'] as string | null),
  }
}

/** The fix of each pg-tenants policy: drop it and create it as the migration does. */
function expectedFixes(o: ResolvedOptions, table: TenantTable, login: Login): Map<string, string> {
  return new Map(
    tenantPolicies(o, table.spec.column, table.spec.type).map((p) => [
      p.name,
      asOwner(table.owner, login, `${dropPolicySql(p, table.sql)}\n${createPolicySql(p, table.sql)}`),
    ]),
  )
}
