/**
 * Partitions of tenant tables. A query on a partitioned table is checked against the parent's
 * row-level security and policies, but a partition is a table of its own: a query that names it
 * (`SELECT * FROM events_globex`) is checked against the partition's, which it has only if it
 * was given them. So every partition, at any depth, needs ENABLE, FORCE and the three policies.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { createPolicySql, dropPolicySql, tenantPolicies } from '../core/policy.js'
import { asOwner, finding, MIGRATE, type Found } from './finding.js'
import { policyGaps } from './policies.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import { toTable, type TenantTable } from './tables.js'

/** A partition, as a table of its own (its tenant column is the parent's, maybe at another
 * position), with the tenant table it belongs to. */
export interface Partition extends TenantTable {
  /** The tenant table at the top of its partition tree. */
  readonly root: TenantTable
  /** The tenant role has a privilege on it (directly, through a role or PUBLIC). */
  readonly tenantMay: boolean
}

/** Every partition of the tenant tables, at any depth. Reads pg_inherits (not
 * pg_partition_tree, which locks every partition). */
export async function loadPartitions(db: CheckDb, o: ResolvedOptions, tables: readonly TenantTable[]): Promise<Partition[]> {
  if (tables.length === 0) return []
  const rows = await db.rows(
    `WITH RECURSIVE tree(oid, root, depth) AS (
       SELECT i.inhrelid, r.oid, 1 FROM json_to_recordset($1::json) AS r(oid oid, col text)
       JOIN pg_inherits i ON i.inhparent = r.oid JOIN pg_class c ON c.oid = i.inhrelid
       WHERE c.relispartition
       UNION ALL
       SELECT i.inhrelid, tree.root, tree.depth + 1 FROM tree
       JOIN pg_inherits i ON i.inhparent = tree.oid JOIN pg_class c ON c.oid = i.inhrelid
       WHERE c.relispartition AND tree.depth < 64
     )
     SELECT tree.root::text AS root, c.oid::text AS oid, n.nspname::text AS schema, c.relname::text AS name,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS force, pg_get_userbyid(c.relowner)::text AS owner,
       a.attnum::int AS attnum, format_type(a.atttypid, a.atttypmod) AS column_type,
       coalesce(has_table_privilege(t.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
         OR has_any_column_privilege(t.oid, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'), false) AS tenant_may
     FROM tree JOIN json_to_recordset($1::json) AS r(oid oid, col text) ON r.oid = tree.root
     JOIN pg_class c ON c.oid = tree.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = r.col AND a.attnum > 0 AND NOT a.attisdropped
     LEFT JOIN pg_roles t ON t.rolname = $2
     ORDER BY 3, 4`,
    [JSON.stringify(tables.map((t) => ({ oid: t.oid, col: t.spec.column }))), o.tenantRole],
  )
  const partitions: Partition[] = []
  for (const row of rows) {
    const root = tables.find((t) => t.oid === row['root'])
    if (!root || row['attnum'] === null) continue // a partition has every column of its parent
    const schema = String(row['schema'])
    const name = String(row['name'])
    partitions.push({
      ...toTable(row, { ...root.spec, schema, name }, root.comparable, root.undeclared),
      ancestors: [],
      root,
      tenantMay: row['tenant_may'] === true,
    })
  }
  return partitions
}

/**
 * PARTITION_UNPROTECTED: a partition without row-level security, not forced, or whose
 * pg-tenants policies are missing or differ. An error when the tenant role may use it, a
 * warning otherwise (a grant added later would expose it).
 */
export async function checkPartitions(db: CheckDb, o: ResolvedOptions, partitions: readonly Partition[], login: Login, found: Found): Promise<void> {
  if (partitions.length === 0) return
  const gaps = await policyGaps(
    db,
    o,
    partitions.filter((p) => p.comparable),
  )
  for (const p of partitions) {
    const gap = gaps.get(p.oid)
    const problems: string[] = []
    const sql: string[] = []
    if (!p.rls) {
      problems.push('row level security is disabled')
      sql.push(`ALTER TABLE ${p.sql} ENABLE ROW LEVEL SECURITY;`)
    }
    if (!p.force) {
      problems.push('row level security is not forced')
      sql.push(`ALTER TABLE ${p.sql} FORCE ROW LEVEL SECURITY;`)
    }
    // As for a table taken out of withRls (checkPolicies): under an undeclared table, a missing
    // policy only narrows access; what differs is reported.
    const wrong = [...(gap?.wrong ?? [])].filter(([, what]) => !(p.undeclared && what === 'is missing'))
    for (const [name, what] of wrong) problems.push(`policy ${name} ${what}`)
    if (gap?.error !== undefined && !gap.noTemp) problems.push(`its policies could not be compared with what pg-tenants generates (${gap.error})`)
    if (problems.length === 0) continue
    const recreate =
      gap?.error !== undefined && !gap.noTemp
        ? tenantPolicies(o, p.spec.column, p.spec.type)
        : tenantPolicies(o, p.spec.column, p.spec.type).filter((d) => wrong.some(([name]) => name === d.name))
    for (const d of recreate) sql.push(dropPolicySql(d, p.sql), createPolicySql(d, p.sql))
    const reach = p.tenantMay
      ? `the tenant role "${o.tenantRole}" has privileges on it, so tenant SQL that names the partition is not held by ${p.root.label}'s policies`
      : `the tenant role "${o.tenantRole}" has no privilege on it, so tenants cannot reach it yet; a grant (GRANT … ON ALL TABLES IN SCHEMA, say) would expose it`
    found.push(
      finding(
        'PARTITION_UNPROTECTED',
        p.tenantMay ? 'error' : 'warning',
        p.label,
        `partition of the tenant table ${p.root.label}: ${problems.join('; ')}. A query on ${p.root.label} applies its policies, one that names the partition applies the partition's own: ${reach}`,
        `-- ${MIGRATE} (it protects every partition of a tenant table; a partition created later gets no grant to the tenant role, so it stays closed until then); or, for this partition:\n` +
          asOwner(p.owner, login, sql.join('\n')),
      ),
    )
  }
}
