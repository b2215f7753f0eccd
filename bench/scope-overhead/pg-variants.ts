/**
 * The node-postgres variants: the Drizzle ones, raw pg references that separate Drizzle's cost,
 * the library's cost and the server's cost of RLS itself, and an informational pair with named
 * prepared statements that shows what the plan cache does to the RLS cost.
 *
 * @module
 */
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import type { Strategy } from '../../src/core/options.js'
import { PostgresManager } from '../../src/drizzle/index.js'
import { check } from '../lib/workload.js'
import { optionsFor, STMTS, TENANT_ROLE, TENANTS } from './config.js'
import type { Counter } from './round-trips.js'
import { items, itemsPlain, keyAt, keyOf, tenantOf, type ItemsTable } from './schema.js'
import { drizzleVariants, type Variant } from './variants.js'

export function variantsFor(strategy: Strategy, pool: pg.Pool) {
  const db = drizzle({ client: pool })
  const manager = PostgresManager.fromDrizzle(db, { ...optionsFor(strategy), tables: [items] })
  // The raw references send exactly the SQL text Drizzle sends for the select.
  const plainSelect = db.select().from(itemsPlain).where(eq(itemsPlain.id, 0)).toSQL().sql
  const rlsSelect = db.select().from(items).where(eq(items.id, 0)).toSQL().sql
  const rawTx = async (prelude: (tenant: string) => string, text: string, i: number, scoped: boolean) => {
    const k = keyAt(i)
    const client = await pool.connect()
    try {
      await client.query(prelude(tenantOf(k)))
      const r = await client.query({ text, values: [k], rowMode: 'array' })
      await client.query('COMMIT')
      check(r.rows.length === 1 && (!scoped || r.rows[0]?.[1] === tenantOf(k)), `raw key ${k} ${JSON.stringify(r.rows)} ${prelude(tenantOf(k))}`)
    } finally {
      client.release()
    }
  }
  // The DESIGN.md §3 reference (setting): BEGIN and the scope in ONE simple-query message.
  const designPrelude = (tenant: string) => `BEGIN; SET LOCAL ROLE ${TENANT_ROLE}; SET LOCAL pg_tenants.tenant = ${pg.escapeLiteral(tenant)}`
  // What the library really sends to open a scope, captured from the wire (see captureScopes).
  const libraryPreludes = new Map<string, string>()

  const byKey = new Map(drizzleVariants(db, manager).map((v) => [v.key, v]))
  const drizzleVariant = (key: string) => byKey.get(key)!
  // Named prepared statements (informational, node-postgres only): each variant prepares its
  // select once per transaction under a fixed name and runs it STMTS times, so pg parses it once
  // per connection and PostgreSQL can reuse the plan (the RLS policies are planned into it, not
  // re-planned at each statement). Two names, since one name can only ever hold one SQL text.
  const prepared10 = (key: string, label: string, table: ItemsTable, scoped: boolean): Variant => ({
    key,
    label,
    run: async (i) => {
      const t = tenantOf(keyAt(i))
      const body = async (tx: Pick<typeof db, 'select'>): Promise<number> => {
        const select = tx
          .select()
          .from(table)
          .where(eq(table.id, sql.placeholder('id')))
          .prepare(`pgt_bench_${key}`)
        let found = 0
        for (let j = 0; j < STMTS; j++) {
          const rows = await select.execute({ id: keyOf(i, j) })
          if (rows.length === 1 && rows[0]!.tenant === t) found++
        }
        return found
      }
      const n = scoped ? await manager.withTenant(t, body) : await db.transaction(body)
      check(n === STMTS, `${label}, tx ${i}`)
    },
  })
  const variants: Variant[] = [
    drizzleVariant('scoped'),
    drizzleVariant('scopedPlain'),
    drizzleVariant('plain'),
    drizzleVariant('filtered'),
    {
      key: 'rawPlain',
      label: 'raw pg: BEGIN; SELECT; COMMIT',
      run: (i) => rawTx(() => 'BEGIN', plainSelect, i, false),
    },
    {
      key: 'rawLibrary',
      label: "raw pg: library's scope message",
      run: (i) => rawTx((t) => libraryPreludes.get(t)!, rlsSelect, i, true),
    },
  ]
  if (strategy === 'setting') {
    // In the role strategy the library's message is this one already; in the setting strategy
    // the library's also checks the registry (so that an unknown tenant is detected).
    variants.push({
      key: 'rawDesign',
      label: 'raw pg: BEGIN; SET LOCAL ×2',
      run: (i) => rawTx(designPrelude, rlsSelect, i, true),
    })
  }
  variants.push(
    drizzleVariant('scoped10'),
    drizzleVariant('scopedPlain10'),
    drizzleVariant('plain10'),
    drizzleVariant('filtered10'),
    prepared10('scopedPrep10', `withTenant, items (RLS), ${STMTS} named prepared`, items, true),
    prepared10('plainPrep10', `db.transaction, items_plain, ${STMTS} named prepared`, itemsPlain, false),
  )
  return { manager, variants, libraryPreludes }
}

/** Records the first message of a steady-state scoped transaction per tenant (the second one:
 * the first checks the registry, later ones for a tenant seen to exist do not). */
export async function captureScopes(manager: PostgresManager<ReturnType<typeof drizzle>>, counter: Counter, into: Map<string, string>): Promise<void> {
  for (let t = 0; t < TENANTS; t++) {
    for (let pass = 0; pass < 2; pass++) {
      counter.sent = []
      await manager.withTenant(`t${t}`, (tx) => tx.select().from(items).where(eq(items.id, t)))
    }
    const first = counter.sent?.[0]
    if (typeof first !== 'string' || !/^BEGIN\b/i.test(first)) throw new Error(`unexpected first message: ${String(first)}`)
    into.set(`t${t}`, first)
  }
  counter.sent = undefined
}
