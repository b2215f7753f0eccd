/**
 * SHARD_NOT_PROTECTED: every placement of a Citus tenant table (or of a partition of one) read on
 * its node with run_command_on_placements, as the login: ENABLE and FORCE, the three policies as
 * generated (compared as on the coordinator, expressions deparsed by PostgreSQL, there against the
 * shard), and no other permissive policy than the coordinator table's. Placements that differ
 * alike are reported together, each by shard id and node.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { createPolicySql, dropPolicySql, POLICY_NAMES, tenantPolicies } from '../core/policy.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import { asOwner, finding, MIGRATE, some, type Found } from './finding.js'
import { differ, type Compared, type PolicyShape } from './policies.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import type { TenantTable } from './tables.js'

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
export async function checkShards(
  db: CheckDb,
  o: ResolvedOptions,
  table: TenantTable,
  compared: Compared | undefined,
  login: Login,
  found: Found,
): Promise<void> {
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
