/**
 * Citus. A distributed table's rows live on its shards, and a query on the coordinator's table
 * runs there, under each shard's own row level security and policies, not the coordinator's
 * (its table is an empty shell). So in Citus mode every shard placement of a tenant table must be
 * what the coordinator table is: ENABLE and FORCE, the three policies as generated (Citus keeps
 * no RESTRICTIVE policy on a shard), no other policy. Without Citus mode on distributed tables,
 * the RESTRICTIVE isolation policy is PERMISSIVE on the shards. And the roles that Citus connects
 * to the workers as must be LOGIN roles, which pg_hba.conf alone keeps from being connected to.
 *
 * The pg_dist_* catalogs are read only when the citus extension is installed.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { createPolicySql, dropPolicySql, POLICY_NAMES, tenantPolicies } from '../core/policy.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import { asOwner, finding, MIGRATE, roleObject, runAs, type Found } from './finding.js'
import { compareAll, differ, type Compared, type PolicyShape } from './policies.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import type { TenantTable } from './tables.js'

/** `reference`: one shard, a copy on every node; `local`: a Citus local table (one shard, on the
 * coordinator); `distributed`: sharded (hash, range, append, or a single shard). */
export type CitusKind = 'distributed' | 'reference' | 'local'

/** What the check needs of Citus. */
export interface Citus {
  readonly installed: boolean
  /** The Citus tables among those loaded, by oid; a table missing here is a plain local table. */
  readonly kinds: ReadonlyMap<string, CitusKind>
  /** The active primary nodes, the coordinator first (when it is in the metadata). */
  readonly nodes: readonly { readonly name: string; readonly port: number; readonly coordinator: boolean }[]
}

/** Reads what Citus knows of `tables`: nothing when the extension is not installed. */
export async function loadCitus(db: CheckDb, tables: readonly TenantTable[]): Promise<Citus> {
  const [row] = await db.rows(`SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS installed`)
  if (row?.['installed'] !== true) return { installed: false, kinds: new Map(), nodes: [] }
  const rows = await db.rows(
    `SELECT logicalrelid::oid::text AS oid, partmethod::text AS method, repmodel::text AS repmodel, colocationid::int AS colocation
     FROM pg_dist_partition WHERE logicalrelid::oid IN (SELECT json_array_elements_text($1::json)::oid)`,
    [JSON.stringify(tables.map((t) => t.oid))],
  )
  const kinds = new Map<string, CitusKind>()
  for (const r of rows) {
    const kind = r['repmodel'] === 't' ? 'reference' : r['method'] === 'n' && r['colocation'] === 0 ? 'local' : 'distributed'
    kinds.set(String(r['oid']), kind)
  }
  const nodes = await db.rows(
    `SELECT nodename::text AS name, nodeport::int AS port, groupid = 0 AS coordinator FROM pg_dist_node
     WHERE noderole = 'primary' AND isactive ORDER BY groupid, nodeport`,
  )
  return { installed: true, kinds, nodes: nodes.map((n) => ({ name: String(n['name']), port: Number(n['port']), coordinator: n['coordinator'] === true })) }
}

/**
 * The Citus checks: Citus mode off on Citus tables; in Citus mode, the LOGIN roles, reference
 * tables and every shard placement of `tables` (tenant tables and their partitions), compared
 * with what `compared` (checkPolicies) found on the coordinator.
 */
export async function checkCitus(
  db: CheckDb,
  o: ResolvedOptions,
  citus: Citus,
  tables: readonly TenantTable[],
  compared: ReadonlyMap<string, Compared>,
  login: Login,
  found: Found,
): Promise<void> {
  const sharded = tables.filter((t) => citus.kinds.has(t.oid))
  if (!o.citus) {
    modeOff(sharded, citus, found)
    return
  }
  await checkLoginRoles(db, o, citus, login, found)
  for (const table of sharded) if (citus.kinds.get(table.oid) === 'reference') referenceTable(table, found)
  // Partitions were compared as partitions (policyGaps), which keeps no policy text: again here.
  const more = await compareAll(
    db,
    o,
    sharded.filter((t) => t.comparable && !compared.has(t.oid)),
  )
  for (const table of sharded) await checkShards(db, o, table, compared.get(table.oid) ?? more.get(table.oid), login, found)
}

/** `a, b and c` */
function and(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

/** `a, b, c and 2 more` */
function some(items: readonly string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`
}

function describeKind(kind: CitusKind | undefined): string {
  return kind === 'reference' ? 'a reference table' : kind === 'local' ? 'a Citus local table' : 'distributed'
}

function modeOff(sharded: readonly TenantTable[], citus: Citus, found: Found): void {
  if (sharded.length === 0) return
  const names = sharded.map((t) => `${t.label} (${describeKind(citus.kinds.get(t.oid))})`)
  found.push(
    finding(
      'CITUS_MODE_OFF',
      'error',
      'database',
      `${sharded.length > 1 ? 'tenant tables' : 'the tenant table'} ${some(names)} ${sharded.length > 1 ? 'are' : 'is'} on Citus, but the options do not say citus: true. ` +
        `Queries on a Citus table run on its shards, under the shards' policies, and Citus re-creates every policy there as PERMISSIVE: ` +
        `the RESTRICTIVE ${POLICY_NAMES.isolation} policy of the ordinary setup would be PERMISSIVE there, and the login, outside any scope, would see every row through ${POLICY_NAMES.admin} ` +
        `(Citus refuses the ordinary policies' sub-selects besides; applied statement by statement, that migration leaves ${POLICY_NAMES.admin} alone, with the same result), ` +
        `and tenant scopes would not send the tenant to the workers`,
      `-- set citus: true in the options of the manager, the migration and the check (CLI: --citus), then ${MIGRATE}, and check again`,
    ),
  )
}

function referenceTable(table: TenantTable, found: Found): void {
  found.push(
    finding(
      'CITUS_REFERENCE_TABLE',
      'warning',
      table.label,
      `is a Citus reference table: every tenant's rows are copied to every node (the policies still apply on each copy, but a node's disk, backups and superusers hold all tenants), and writes lock every copy`,
      `-- distribute it by the tenant column instead:\nSELECT undistribute_table(${quoteLiteral(table.sql)});\nSELECT create_distributed_table(${quoteLiteral(table.sql)}, ${quoteLiteral(table.spec.column)});`,
    ),
  )
}

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
async function checkLoginRoles(db: CheckDb, o: ResolvedOptions, citus: Citus, login: Login, found: Found): Promise<void> {
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
 * What a placement holds, read on its node: RLS flags and policies, deparsed against the shard
 * (whose columns have the table's names). `%L` is the shard's name (run_command_on_placements
 * formats the command with it). pg_get_expr locks the shard; the lock_timeout, set before it
 * (the CASE evaluates its WHEN first), keeps the check from queueing behind DDL there.
 */
const PLACEMENT = `WITH s AS MATERIALIZED (SELECT set_config('lock_timeout', '5s', true) AS v)
SELECT CASE WHEN (SELECT v FROM s) IS NOT NULL THEN (
  SELECT json_build_object('rls', c.relrowsecurity, 'force', c.relforcerowsecurity, 'policies', coalesce((
    SELECT json_agg(json_build_object('name', p.polname, 'permissive', p.polpermissive, 'cmd', p.polcmd,
      'roles', ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r ORDER BY 1),
      'qual', pg_get_expr(p.polqual, p.polrelid), 'with_check', pg_get_expr(p.polwithcheck, p.polrelid)) ORDER BY p.polname)
    FROM pg_policy p WHERE p.polrelid = c.oid), '[]'))
  FROM pg_class c WHERE c.oid = %L::regclass) END`

interface Placement {
  readonly shard: string
  readonly node: string
  readonly error?: string
  readonly rls?: boolean
  readonly force?: boolean
  readonly policies?: readonly PolicyShape[]
}

async function placements(db: CheckDb, table: TenantTable): Promise<Placement[] | { error: string }> {
  const attempt = await db.sandbox(() =>
    db.rows(
      `SELECT shardid::text AS shard, nodename::text || ':' || nodeport AS node, success, result
       FROM run_command_on_placements($1::oid::regclass, $2) ORDER BY shardid, nodename, nodeport`,
      [table.oid, PLACEMENT],
    ),
  )
  if (!attempt.ok) return { error: attempt.error instanceof Error ? attempt.error.message : String(attempt.error) }
  return attempt.value.map((r) => {
    const base = { shard: String(r['shard']), node: String(r['node']) }
    const result = typeof r['result'] === 'string' ? r['result'] : ''
    if (r['success'] !== true || result === '') return { ...base, error: result || 'no such shard' }
    const state = JSON.parse(result) as { rls: boolean; force: boolean; policies: Record<string, unknown>[] }
    const policies = state.policies.map((p) => ({
      name: String(p['name']),
      permissive: p['permissive'] === true,
      cmd: String(p['cmd']),
      roles: (p['roles'] as string[]).slice().sort(),
      qual: (p['qual'] as string | null) ?? null,
      check: (p['with_check'] as string | null) ?? null,
    }))
    return { ...base, rls: state.rls, force: state.force, policies }
  })
}

/** One way a placement differs: `fix` mends it on every shard (`%s` for the shard, as
 * run_command_on_shards formats it), or, with `coordinator`, is SQL for the coordinator; `ours`
 * when re-applying the migration mends it too; `widens` when it lets some role see more there
 * (else it only hides rows from scopes). */
interface Difference {
  readonly what: string
  readonly fix: string
  readonly coordinator?: boolean
  readonly ours: boolean
  readonly widens: boolean
}

/** What makes one placement differ from the coordinator table. */
function differences(o: ResolvedOptions, table: TenantTable, placement: Placement, compared: Compared | undefined): Difference[] {
  const out: Difference[] = []
  if (placement.rls !== true) out.push({ what: 'row level security is disabled', fix: 'ALTER TABLE %s ENABLE ROW LEVEL SECURITY', ours: true, widens: true })
  if (placement.force !== true) out.push({ what: 'row level security is not forced', fix: 'ALTER TABLE %s FORCE ROW LEVEL SECURITY', ours: true, widens: true })
  const have = placement.policies ?? []
  const live = compared && 'live' in compared ? compared.live : []
  const generated = tenantPolicies(o, table.spec.column, table.spec.type)
  const textKnown = compared !== undefined && 'expected' in compared
  for (const p of generated) {
    const shard = have.find((h) => h.name === p.name)
    // Without the deparsed text (no comparison on the coordinator), kind, command and roles only.
    const want: PolicyShape = textKnown
      ? compared.expected.get(p.name)!
      : { name: p.name, permissive: p.permissive, cmd: '*', roles: [...p.roles].sort(), qual: shard?.qual ?? null, check: shard?.check ?? null }
    const differs = shard ? differ(shard, want) : []
    if (shard && differs.length === 0) continue
    out.push({
      what: shard ? `policy ${p.name} differs: ${differs.join('; ')}` : `policy ${p.name} is missing`,
      fix: `${dropPolicySql(p, '%1$s')} ${createPolicySql(p, '%1$s').replace(/\s*\n\s*/g, ' ')}`,
      ours: true,
      // A missing policy (all are PERMISSIVE here) only hides rows; an altered one may show more.
      widens: shard !== undefined,
    })
  }
  const ours = new Set<string>(Object.values(POLICY_NAMES))
  for (const shard of have) {
    if (ours.has(shard.name) || !shard.permissive) continue
    const coordinator = live.find((l) => l.name === shard.name)
    const differs = coordinator ? differ(shard, coordinator) : []
    if (coordinator && differs.length === 0) continue
    const drop = `DROP POLICY IF EXISTS ${quoteIdent(shard.name)} ON %s`
    if (!coordinator) {
      const what = `policy ${quoteIdent(shard.name)} (PERMISSIVE, TO ${shard.roles.join(', ')}, USING (${shard.qual ?? ''})) is on the shard only`
      out.push({ what, fix: drop, ours: false, widens: true })
    } else if (!coordinator.permissive) {
      // Citus re-creates a RESTRICTIVE policy as PERMISSIVE: ORed with the others, it widens.
      out.push({
        what: `policy ${quoteIdent(shard.name)} is RESTRICTIVE on the coordinator but PERMISSIVE here (Citus re-creates every policy as PERMISSIVE), so it widens what it was to narrow`,
        fix: `DROP POLICY ${quoteIdent(shard.name)} ON ${table.sql}; -- on the coordinator: Citus drops it on every shard`,
        coordinator: true,
        ours: false,
        widens: true,
      })
    } else {
      out.push({ what: `policy ${quoteIdent(shard.name)} differs from the coordinator's: ${differs.join('; ')}`, fix: drop, ours: false, widens: true })
    }
  }
  return out
}

/** `$cmd$…$cmd$`, with a tag that does not occur in `body`. */
function dollar(body: string): string {
  let tag = '$cmd$'
  for (let n = 1; body.includes(tag); n++) tag = `$cmd${n}$`
  return `${tag}${body}${tag}`
}

/** On every shard of `table`: `sql`, where `%s` or `%1$s` is the shard (other `%` doubled). */
function onShards(table: TenantTable, sql: string): string {
  const body = sql.replace(/%(?!s|1\$s)/g, '%%')
  return `SELECT run_command_on_shards(${quoteLiteral(table.sql)}, ${dollar(body)});`
}

/** SHARD_NOT_PROTECTED: the placements that differ from the coordinator table, grouped by what
 * differs, and those that could not be read. */
async function checkShards(db: CheckDb, o: ResolvedOptions, table: TenantTable, compared: Compared | undefined, login: Login, found: Found): Promise<void> {
  const read = await placements(db, table)
  const why = "queries on the table run on its shards, under each shard's own row level security and policies, not the coordinator's"
  if ('error' in read) {
    found.push(
      finding(
        'SHARD_NOT_PROTECTED',
        'error',
        table.label,
        `its shards could not be inspected (${read.error}), so they are not known to be protected: ${why}`,
        `-- inspect them by hand:\nSELECT * FROM run_command_on_placements(${quoteLiteral(table.sql)}, $cmd$SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = '%s'::regclass$cmd$);`,
      ),
    )
    return
  }
  const total = read.length
  const where = (list: readonly Placement[]) => some(list.map((p) => `shard ${p.shard} on ${p.node}`))
  const failed = new Map<string, Placement[]>()
  for (const p of read.filter((p) => p.error !== undefined)) failed.set(p.error!, [...(failed.get(p.error!) ?? []), p])
  for (const [error, list] of failed) {
    found.push(
      finding(
        'SHARD_NOT_PROTECTED',
        'error',
        table.label,
        `${list.length} of ${total} shard placements could not be inspected (${error.trim()}), so they are not known to be protected: ${where(list)}; ${why}`,
        `-- mend what the error says (the command ran on the node as "${login.name}"), then check again`,
      ),
    )
  }
  const groups = new Map<string, { list: Placement[]; diffs: Difference[] }>()
  for (const p of read.filter((p) => p.error === undefined)) {
    const diffs = differences(o, table, p, compared)
    if (diffs.length === 0) continue
    const key = diffs.map((d) => d.what).join('; ')
    const group = groups.get(key) ?? { list: [], diffs }
    group.list.push(p)
    groups.set(key, group)
  }
  const noText =
    compared === undefined || 'error' in compared ? ' (policy conditions not compared: the coordinator comparison did not run, see its findings)' : ''
  for (const [what, { list, diffs }] of groups) {
    const fixes = [...new Set(diffs.map((d) => (d.coordinator ? d.fix : onShards(table, d.fix))))]
    const effect = diffs.some((d) => d.widens)
      ? "so there tenants (or the login outside a scope) may reach other tenants' rows"
      : 'so the shard is not as migrated (scopes may miss rows there), though no other tenant reaches its rows'
    const migrate = diffs.every((d) => d.ours) ? `-- ${MIGRATE}: Citus runs its ALTER TABLE and CREATE POLICY on every shard; or, on the shards alone:\n` : ''
    found.push(
      finding(
        'SHARD_NOT_PROTECTED',
        'error',
        table.label,
        `on ${list.length} of ${total} shard placements, ${what}${noText}: ${where(list)}; ${why}, ${effect}`,
        `${migrate}${asOwner(table.owner, login, fixes.join('\n'))}`,
      ),
    )
  }
}
