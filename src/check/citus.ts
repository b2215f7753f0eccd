/**
 * Citus. A distributed table's rows live on its shards, and a query on the coordinator's table
 * runs there, under each shard's own row level security and policies, not the coordinator's (its
 * table is an empty shell). Without Citus mode on Citus tables, the RESTRICTIVE isolation policy
 * is PERMISSIVE on the shards (CITUS_MODE_OFF); in Citus mode, the LOGIN roles
 * (citus-roles.ts), reference tables, and every shard placement (shards.ts) are checked.
 *
 * The pg_dist_* catalogs are read only when the citus extension is installed.
 *
 * @module
 */
import type { ResolvedOptions } from '../core/options.js'
import { POLICY_NAMES } from '../core/policy.js'
import { quoteLiteral } from '../core/quote.js'
import { checkCitusRoles } from './citus-roles.js'
import { finding, MIGRATE, some, type Found } from './finding.js'
import { compareAll, type Compared } from './policies.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import { checkShards } from './shards.js'
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
  await checkCitusRoles(db, o, citus, login, found)
  for (const table of sharded) if (citus.kinds.get(table.oid) === 'reference') referenceTable(table, found)
  // Partitions were compared as partitions (policyGaps), which keeps no policy text: again here.
  const more = await compareAll(
    db,
    o,
    sharded.filter((t) => t.comparable && !compared.has(t.oid)),
  )
  for (const table of sharded) await checkShards(db, o, table, compared.get(table.oid) ?? more.get(table.oid), login, found)
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
