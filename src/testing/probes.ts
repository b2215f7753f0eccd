/**
 * The probes of the isolation kit. Each runs as tenant A in its own scope, rolled back, and
 * reports through `fail` what reached tenant B's rows; a refusal with SQLSTATE 42501 (no
 * privilege, or row-level security) counts as held.
 *
 * @module
 */
import type { Connection } from '../core/driver.js'
import type { TenantEngine } from '../core/engine.js'
import { sqlState } from '../core/errors.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import { describe, rolledBack, send, unscoped, type Outcome, type Row } from './connections.js'
import type { IsolationCheck } from './isolation-error.js'
import type { IsolationTarget, SeededRows, Statement } from './isolation-spec.js'
import type { SchemaGraph, ViewOver } from './schema-graph.js'

export type Fail = (table: string | undefined, check: IsolationCheck, message: string) => void

/** What every probe needs: the engine, the two tenants, and where failures go. */
export interface Probe {
  readonly engine: TenantEngine
  readonly graph: SchemaGraph
  readonly a: string
  readonly b: string
  readonly fail: Fail
  /** The rows seeded for `tenant` before `target`, as its row builder gets them. */
  seeded(tenant: string, target: IsolationTarget): SeededRows
  /** The row seeded for `tenant` in `target`, as the database returned it. */
  raw(tenant: string, target: IsolationTarget): Row | undefined
}

/** How many probes {@link scopedChecks} runs per table. */
export const SCOPED_CHECKS = 7

/** The checks tenant A runs against tenant B's row of `target`, each in a rolled-back scope. */
export async function scopedChecks(p: Probe, target: IsolationTarget): Promise<void> {
  const { table, column } = target
  const { a, b } = p
  const attempt = async <T>(check: IsolationCheck, probe: (conn: Connection) => Promise<T>): Promise<Outcome<T> | undefined> => {
    try {
      return await rolledBack(p.engine, a, probe)
    } catch (error) {
      p.fail(target.name, check, `the scope itself failed (${describe(error)}), so the check could not run`)
      return undefined
    }
  }
  const statement = (check: IsolationCheck, make: () => Statement) => attempt(check, async (conn) => (await send(conn, make())).rows)
  const counted = (check: IsolationCheck, outcome: Outcome | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      // Refused outright is as good as touching nothing.
      if (!refusedOutright(outcome.error)) p.fail(target.name, check, `failed with ${describe(outcome.error)} instead of touching 0 rows`)
      return
    }
    const n = outcome.rows.length
    if (n > 0) p.fail(target.name, check, `tenant A ${what} ${n} of tenant B's rows (expected 0)`)
  }
  const refused = (check: IsolationCheck, outcome: Outcome | undefined, what: string) => {
    if (!outcome) return
    if ('error' in outcome) {
      if (!refusedOutright(outcome.error)) p.fail(target.name, check, `failed with ${describe(outcome.error)} instead of SQLSTATE 42501 (row-level security)`)
      return
    }
    p.fail(target.name, check, `tenant A ${what} (expected SQLSTATE 42501)`)
  }

  const seen = await statement('select', () => ({
    sql: `SELECT count(*) FILTER (WHERE ${column}::text IS DISTINCT FROM $1) AS "foreign", count(*) FILTER (WHERE ${column}::text = $2) AS "ofB" FROM ${table}`,
    params: [a, b],
  }))
  if (seen && 'error' in seen) {
    p.fail(target.name, 'select', `failed with ${describe(seen.error)}`)
  } else if (seen) {
    const foreign = Number(seen.rows[0]?.['foreign'] ?? 0)
    const ofB = Number(seen.rows[0]?.['ofB'] ?? 0)
    if (foreign > 0) p.fail(target.name, 'select', `tenant A sees ${foreign} row(s) of other tenants, ${ofB} of them tenant B's (expected none)`)
  }
  refused('insert', await statement('insert', () => target.insert(b, p.seeded(b, target))), 'inserted a row for tenant B')
  const returning = `RETURNING ${column}::text AS "t"`
  counted(
    'update',
    await statement('update', () => ({ sql: `UPDATE ${table} SET ${column} = $1 WHERE ${column} = $2 ${returning}`, params: [b, b] })),
    'updated',
  )
  counted('delete', await statement('delete', () => ({ sql: `DELETE FROM ${table} WHERE ${column} = $1 ${returning}`, params: [b] })), 'deleted')
  const moved = await statement('move', () => ({ sql: `UPDATE ${table} SET ${column} = $1 WHERE ${column} = $2 ${returning}`, params: [b, a] }))
  if (moved && 'rows' in moved && moved.rows.length === 0) {
    p.fail(target.name, 'move', 'touched 0 rows: tenant A cannot see its own row, so moving it could not be tried')
  } else {
    refused('move', moved, `moved its own row to tenant B by updating ${JSON.stringify(target.spec.column)}`)
  }

  // With no WHERE and no RETURNING a statement reads no column, so SELECT policies do not filter
  // it: only its own command's policies do. (`SET tenant = tenant` would read the column, hence
  // A's own id.) DELETE first removes A's rows in the tables that reference this one, which
  // would otherwise refuse it.
  const ownId = quoteLiteral(a)
  const children = p.graph.descendants(target).map((t) => `DELETE FROM ${t.table} WHERE ${t.column} = ${ownId}`)
  const unfiltered = async (check: IsolationCheck, sql: string, before: readonly string[], what: string) => {
    const outcome = await attempt(check, (conn) => touchedRows(conn, table, sql, before))
    if (!outcome) return
    if ('error' in outcome) {
      // The probe runs in a DO block: a tenant role that may not use plpgsql cannot run it, which
      // proves nothing about the statement. Say so rather than count it as held.
      if (/permission denied for language/.test(String((outcome.error as { message?: unknown })?.message))) {
        p.fail(
          target.name,
          check,
          `could not run: the tenant role may not use plpgsql (${describe(outcome.error)}), which this probe needs to count the rows \`${sql.replace(table, target.name)}\` touches; GRANT USAGE ON LANGUAGE plpgsql TO the tenant role while the kit runs`,
        )
        return
      }
      if (!refusedOutright(outcome.error)) {
        p.fail(
          target.name,
          check,
          `\`${sql.replace(table, target.name)}\` failed with ${describe(outcome.error)}; on tenant A's own rows it cannot, so it most likely reached another tenant's rows`,
        )
      }
      return
    }
    const { seen: n, touched } = outcome.rows
    if (touched > n) {
      p.fail(
        target.name,
        check,
        `tenant A ${what} ${touched} rows but sees ${n}: ${touched - n} of them are other tenants' rows. A statement that reads no ` +
          'column is not filtered by SELECT policies, only by those of its own command: give every UPDATE and DELETE policy the tenant ' +
          'condition (the RESTRICTIVE pg_tenants_isolation policy is FOR ALL)',
      )
    }
  }
  await unfiltered('update-all', `UPDATE ${table} SET ${column} = ${ownId}`, [], 'updated, with no WHERE,')
  await unfiltered('delete-all', `DELETE FROM ${table}`, children, 'deleted, with no WHERE,')
}

/** A write refused before it touched a row: by row level security (42501), or by Citus, which
 * never lets an UPDATE change the distribution column (0A000), whatever the rows. */
function refusedOutright(error: unknown): boolean {
  const code = sqlState(error)
  if (code === '42501') return true
  return code === '0A000' && /modifying the partition value of rows is not allowed/.test(String((error as { message?: unknown })?.message))
}

/** Runs `sql` (a statement with no RETURNING) after `before`, in a DO block: the one way to learn
 * how many rows it touched, whatever the driver reports. */
async function touchedRows(conn: Connection, table: string, sql: string, before: readonly string[]): Promise<{ seen: number; touched: number }> {
  const body = [
    'DECLARE seen bigint; touched bigint;',
    'BEGIN',
    ...before.map((s) => `  ${s};`),
    `  SELECT count(*) INTO seen FROM ${table};`,
    `  ${sql};`,
    '  GET DIAGNOSTICS touched = ROW_COUNT;',
    `  PERFORM set_config('pg_tenants_testing.rows', seen || ' ' || touched, true);`,
    'END',
  ].join('\n')
  await conn.query(`DO ${quoteLiteral(body)}`, [])
  const result = await conn.query(`SELECT current_setting('pg_tenants_testing.rows') AS "rows"`, [])
  const [seen, touched] = String(result.rows[0]?.['rows']).split(' ').map(Number)
  return { seen: seen ?? 0, touched: touched ?? 0 }
}

/** Tenant A reads a partition of a checked table directly: its parent's policies do not apply
 * there, only its own. */
export async function partitionProbe(p: Probe, partition: SchemaGraph['partitions'][number]): Promise<void> {
  const column = partition.of.column
  const outcome = await rolledBack(
    p.engine,
    p.a,
    async (conn) =>
      (
        await conn.query(
          `SELECT count(*) FILTER (WHERE ${column}::text IS DISTINCT FROM $1) AS "foreign", count(*) FILTER (WHERE ${column}::text = $2) AS "ofB" FROM ${partition.table}`,
          [p.a, p.b],
        )
      ).rows,
  ).catch((error: unknown): Outcome => ({ error }))
  if ('error' in outcome) {
    if (sqlState(outcome.error) !== '42501') p.fail(partition.name, 'partition', `failed with ${describe(outcome.error)}`)
    return
  }
  const foreign = Number(outcome.rows[0]?.['foreign'] ?? 0)
  const ofB = Number(outcome.rows[0]?.['ofB'] ?? 0)
  if (foreign > 0) {
    p.fail(
      partition.name,
      'partition',
      `tenant A reads ${foreign} row(s) of other tenants, ${ofB} of them tenant B's, straight from this partition of ${partition.of.name} ` +
        "(expected none): its parent's policies do not apply to it; enable and force row-level security on it with the same policies " +
        "(run the migration again after adding partitions), or revoke the tenant role's privileges on it",
    )
  }
}

/** Tenant A reads a view over checked tables: none of B's probe rows may come back. Returns false
 * when the view shows nothing that tells B's rows apart, so it was not probed. */
export async function viewProbe(p: Probe, view: ViewOver): Promise<boolean> {
  const match = viewMatch(p, view)
  if (!match) return false
  const outcome = await rolledBack(
    p.engine,
    p.a,
    async (conn) => (await conn.query(`SELECT count(*) AS "n" FROM ${view.table} WHERE ${match.sql}`, match.params)).rows,
  ).catch((error: unknown): Outcome => ({ error }))
  if ('error' in outcome) {
    if (sqlState(outcome.error) !== '42501') p.fail(view.name, 'view', `failed with ${describe(outcome.error)}`)
    return true
  }
  const n = Number(outcome.rows[0]?.['n'] ?? 0)
  if (n > 0) {
    p.fail(
      view.name,
      'view',
      `tenant A reads ${n} of tenant B's probe rows through this view over ${view.over.map((t) => t.name).join(', ')} (matched by ${match.how}; ` +
        "expected none): a view reads its tables with its owner's rights; make it ALTER VIEW … SET (security_invoker = true), " +
        "or revoke the tenant role's privileges on it",
    )
  }
  return true
}

/** How to spot B's probe rows in a view: by the tenant column when the view shows it, else by the
 * columns it shares (by name) with a checked table whose probe values differ between A's and B's
 * rows, all of them equal to B's (typically the generated id). */
function viewMatch(p: Probe, view: ViewOver): { sql: string; params: unknown[]; how: string } | undefined {
  const params: unknown[] = []
  const conditions = new Map<string, string>()
  const param = (value: unknown) => `$${params.push(value)}`
  for (const target of view.over) {
    const tenant = target.spec.column
    if (view.columns.includes(tenant)) {
      const key = `tenant:${tenant}`
      if (!conditions.has(key)) conditions.set(key, `${quoteIdent(tenant)}::text = ${param(p.b)}`)
      continue
    }
    const ofB = p.raw(p.b, target)
    if (!ofB) continue
    const ofA = p.raw(p.a, target)
    const markers = view.columns.filter((c) => {
      const value = ofB[c]
      const plain = typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'
      return plain && Object.hasOwn(ofB, c) && (ofA === undefined || String(ofA[c]) !== String(value))
    })
    if (markers.length === 0) continue
    const sql = markers.map((c) => `${quoteIdent(c)}::text = ${param(String(ofB[c]))}`).join(' AND ')
    conditions.set(`${target.name}:${markers.join(',')}`, `(${sql})`)
  }
  if (conditions.size === 0) return undefined
  const how = [...conditions.keys()].map((k) => (k.startsWith('tenant:') ? `its ${k.slice(7)} column` : `B's values of ${k.split(':')[1]}`)).join(', ')
  return { sql: [...conditions.values()].join(' OR '), params, how }
}

/** Outside any scope, the login must see none of the seeded rows of `table` (a checked table or
 * a partition of one). */
export async function outsideScope(p: Probe, name: string, table: string, column: string, bypass: boolean): Promise<void> {
  try {
    const result = await unscoped(p.engine, (conn) => conn.query(`SELECT count(*) AS "n" FROM ${table} WHERE ${column} IN ($1, $2)`, [p.a, p.b]))
    const n = Number(result.rows[0]?.['n'] ?? 0)
    if (n === 0) return
    const why = bypass
      ? 'the login is a superuser or BYPASSRLS role, which row-level security never binds'
      : 'FORCE ROW LEVEL SECURITY is off while the login owns the table, or RLS is disabled'
    p.fail(
      name,
      'outside-scope',
      `a query outside any scope sees ${n} of the seeded rows (expected none): ${why}. On PGlite, call leaveSuperuser(db) from ` +
        "'pg-tenants' once before migrating; on a server, connect as a login that is neither superuser nor BYPASSRLS" +
        (bypass ? '' : ', and run the migration (it enables and forces row-level security)'),
    )
  } catch (error) {
    // No privilege on the table at all also means no row is visible.
    if (sqlState(error) !== '42501') p.fail(name, 'outside-scope', `failed with ${describe(error)}`)
  }
}
