/**
 * What the catalog says around the checked tables: the foreign keys between them (seed parents
 * first, clean children first), their partitions and inheritance children (each readable on its
 * own, with its own row-level security), and the views over any of them (which read with their
 * own rights). Read once, before anything is seeded.
 *
 * @module
 */
import type { TenantEngine } from '../core/engine.js'
import { TenantError } from '../core/errors.js'
import { qualified } from '../core/quote.js'
import { unscoped } from './connections.js'
import type { IsolationTarget } from './isolation-spec.js'

/** A partition (or inheritance child, at any depth) of a checked table. */
export interface Partition {
  readonly of: IsolationTarget
  /** `schema.name` */
  readonly name: string
  /** Quoted. */
  readonly table: string
}

/** A plain view over checked tables or their partitions, directly or through other views. */
export interface ViewOver {
  readonly over: readonly IsolationTarget[]
  /** `schema.name` */
  readonly name: string
  /** Quoted. */
  readonly table: string
  /** Its column names. */
  readonly columns: readonly string[]
}

export interface SchemaGraph {
  /** The tables in seed order: every parent before its children, otherwise as given. */
  readonly order: readonly IsolationTarget[]
  /** The checked tables each table references (itself left out). */
  parents(target: IsolationTarget): readonly IsolationTarget[]
  /** Every checked table that references `target`, directly or not, children before parents. */
  descendants(target: IsolationTarget): readonly IsolationTarget[]
  readonly partitions: readonly Partition[]
  readonly views: readonly ViewOver[]
}

const TABLES = `t AS (
  SELECT x.ord::int - 1 AS i, to_regclass(x.name) AS oid
  FROM json_array_elements_text($1::json) WITH ORDINALITY AS x(name, ord)
)`

const FOREIGN_KEYS = `WITH ${TABLES}
  SELECT DISTINCT c.i AS child, p.i AS parent FROM pg_constraint k
  JOIN t c ON c.oid = k.conrelid JOIN t p ON p.oid = k.confrelid
  WHERE k.contype = 'f' AND k.conparentid = 0 AND c.i <> p.i`

const TREE = `tree(i, oid) AS (
  SELECT t.i, h.inhrelid FROM t JOIN pg_inherits h ON h.inhparent = t.oid
  UNION
  SELECT tree.i, h.inhrelid FROM tree JOIN pg_inherits h ON h.inhparent = tree.oid
)`

const PARTITIONS = `WITH RECURSIVE ${TABLES}, ${TREE}
  SELECT min(tree.i) AS i, n.nspname::text AS schema, c.relname::text AS name
  FROM tree JOIN pg_class c ON c.oid = tree.oid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE tree.oid NOT IN (SELECT oid FROM t WHERE oid IS NOT NULL)
  GROUP BY tree.oid, n.nspname, c.relname
  ORDER BY 1, 2, 3`

const VIEWS = `WITH RECURSIVE ${TABLES}, ${TREE},
  base(i, oid) AS (SELECT i, oid FROM t WHERE oid IS NOT NULL UNION SELECT i, oid FROM tree),
  over(i, view) AS (
    SELECT b.i, r.ev_class FROM base b
    JOIN pg_depend d ON d.refobjid = b.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid WHERE r.ev_class <> b.oid
    UNION
    SELECT over.i, r.ev_class FROM over
    JOIN pg_depend d ON d.refobjid = over.view AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid WHERE r.ev_class <> over.view
  )
  SELECT n.nspname::text AS schema, v.relname::text AS name, array_agg(DISTINCT over.i)::text[] AS over,
    (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
     WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped)::text[] AS columns
  FROM over JOIN pg_class v ON v.oid = over.view JOIN pg_namespace n ON n.oid = v.relnamespace
  WHERE v.relkind = 'v'
  GROUP BY v.oid, n.nspname, v.relname
  ORDER BY 1, 2`

/** Reads the graph of `targets` (a table that does not exist has no edges; its seed will say so).
 * Throws `INVALID_OPTIONS` when the foreign keys between them form a cycle. */
export async function schemaGraph(engine: TenantEngine, targets: readonly IsolationTarget[]): Promise<SchemaGraph> {
  const names = [JSON.stringify(targets.map((t) => t.table))]
  const [keys, parts, views] = await unscoped(engine, async (conn) => [
    (await conn.query(FOREIGN_KEYS, names)).rows,
    (await conn.query(PARTITIONS, names)).rows,
    (await conn.query(VIEWS, names)).rows,
  ])
  const parentsOf = targets.map((): number[] => [])
  for (const row of keys) parentsOf[Number(row['child'])]?.push(Number(row['parent']))
  const order = seedOrder(targets, parentsOf)
  const rank = new Map(order.map((t, i) => [t, i]))
  const at = (i: unknown) => targets[Number(i)] as IsolationTarget
  const relation = (row: Readonly<Record<string, unknown>>) => ({
    name: `${String(row['schema'])}.${String(row['name'])}`,
    table: qualified(String(row['schema']), String(row['name'])),
  })
  return {
    order,
    parents: (target) => (parentsOf[targets.indexOf(target)] ?? []).map(at),
    descendants(target) {
      const found = new Set<number>()
      const visit = (i: number) => {
        parentsOf.forEach((parents, child) => {
          if (parents.includes(i) && !found.has(child)) {
            found.add(child)
            visit(child)
          }
        })
      }
      visit(targets.indexOf(target))
      return [...found].map(at).sort((x, y) => (rank.get(y) ?? 0) - (rank.get(x) ?? 0))
    },
    partitions: parts.map((row) => ({ of: at(row['i']), ...relation(row) })),
    views: views.map((row) => ({
      over: (row['over'] as string[]).map(at),
      ...relation(row),
      columns: (row['columns'] as string[] | null) ?? [],
    })),
  }
}

/** Parents before children, otherwise in the given order (Kahn's algorithm, lowest index first). */
function seedOrder(targets: readonly IsolationTarget[], parentsOf: readonly number[][]): IsolationTarget[] {
  const placed = new Set<number>()
  const order: IsolationTarget[] = []
  while (placed.size < targets.length) {
    const next = targets.findIndex((_, i) => !placed.has(i) && (parentsOf[i] ?? []).every((p) => placed.has(p)))
    if (next === -1) throw cycleError(targets, parentsOf, placed)
    placed.add(next)
    order.push(targets[next] as IsolationTarget)
  }
  return order
}

function cycleError(targets: readonly IsolationTarget[], parentsOf: readonly number[][], placed: ReadonlySet<number>): TenantError {
  // Every table left has a parent left: walk up from one until a table comes round again.
  const path: number[] = []
  let current = targets.findIndex((_, i) => !placed.has(i))
  while (!path.includes(current)) {
    path.push(current)
    current = (parentsOf[current] ?? []).find((p) => !placed.has(p)) as number
  }
  const cycle = [...path.slice(path.indexOf(current)), current].map((i) => targets[i]?.name)
  return new TenantError(
    'INVALID_OPTIONS',
    `assertTenantIsolation: the foreign keys between ${cycle.join(' → ')} form a cycle, so no order seeds every ` +
      'parent before its child: check these tables in separate calls (a child alone, with a row builder that leaves ' +
      'its foreign key null), or leave one of them out.',
  )
}
