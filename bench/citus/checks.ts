/**
 * What must hold before anything is measured, per strategy: the scope runs as its role and
 * sees its tenant's rows only (routed or not), the owner outside any scope sees none, the admin
 * scope sees all, and the baseline's login is not filtered. A failure throws (the run exits 1):
 * a benchmark of wrong answers measures nothing.
 *
 * @module
 */
import type { Strategy } from '../../src/core/options.js'
import { keyWalk } from '../lib/workload.js'
import type { World } from './measure.js'
import { optionsFor, ROWS, TENANTS } from './setup.js'

export async function checkIsolation(world: World, strategy: Strategy): Promise<void> {
  const o = optionsFor(strategy)
  const items = `${o.schema}.items`
  const tenants = TENANTS[strategy]
  const { tenantOf } = keyWalk(ROWS, tenants)
  const problems: string[] = []
  const expect = (what: string, got: unknown, want: unknown) => {
    if (String(got) !== String(want)) problems.push(`${what}: got ${String(got)}, expected ${String(want)}`)
  }
  const one = async (sql: string, params: unknown[] = []) => (await world.bypassPool.query(sql, params)).rows[0] as Record<string, unknown>
  const t = 't1'
  const other = tenantOf(2) // row 2 belongs to t2
  const own = await one(`SELECT count(*)::int AS n FROM ${items} WHERE tenant = $1`, [t])
  expect('baseline login sees every row', (await one(`SELECT count(*)::int AS n FROM ${items}`))['n'], ROWS)
  const inScope = await world.engine.run({ kind: 'tenant', id: t, createIfMissing: false }, async (c) => ({
    user: (await c.query('SELECT current_user AS u', [])).rows[0]?.['u'],
    all: (await c.query(`SELECT count(*)::int AS n FROM ${items}`, [])).rows[0]?.['n'],
    tenants: (await c.query(`SELECT count(DISTINCT tenant)::int AS n FROM ${items}`, [])).rows[0]?.['n'],
    otherRouted: (await c.query(`SELECT count(*)::int AS n FROM ${items} WHERE tenant = $1 AND id = 2`, [other])).rows[0]?.['n'],
    otherUnrouted: (await c.query(`SELECT count(*)::int AS n FROM ${items} WHERE id = 2`, [])).rows[0]?.['n'],
  }))
  expect('scope role', inScope.user, strategy === 'role' ? `${o.rolePrefix}${t}` : o.tenantRole)
  expect(`scoped count of ${t} (unrouted)`, inScope.all, own['n'])
  expect(`tenants a scope of ${t} sees`, inScope.tenants, 1)
  expect(`a row of ${other} read from a scope of ${t}, routed`, inScope.otherRouted, 0)
  expect(`a row of ${other} read from a scope of ${t}, unrouted`, inScope.otherUnrouted, 0)
  const outside = await world.scopedPool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${items}`)
  expect('the owner outside any scope', outside.rows[0]?.n, 0)
  const admin = await world.engine.run({ kind: 'admin' }, (c) => c.query(`SELECT count(*)::int AS n FROM ${items}`, []))
  expect('the admin scope', admin.rows[0]?.['n'], ROWS)
  if (problems.length > 0) throw new Error(`Citus mode, strategy '${strategy}': unexpected rows:\n  ${problems.join('\n  ')}`)
}
