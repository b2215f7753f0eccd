/**
 * The Drizzle variants, for any driver: one or STMTS primary-key selects per transaction, scoped
 * on the RLS table (withTenant on `items`: scoping + RLS policies), scoped on the RLS-free table
 * (withTenant on `items_plain`: scoping alone), plain (db.transaction on `items_plain`: the
 * baseline of both) and plain with the tenant filter written by hand (what an application
 * without RLS runs).
 *
 * @module
 */
import { and, eq } from 'drizzle-orm'
import type { AnyPgDatabase, AnyPostgresManager, DrizzleTransaction } from '../../src/drizzle/index.js'
import { check } from '../lib/workload.js'
import { STMTS } from './config.js'
import { items, itemsPlain, keyAt, keyOf, tenantOf, type ItemsTable } from './schema.js'

export interface Variant {
  readonly key: string
  readonly label: string
  /** Runs one transaction for key index i. */
  readonly run: (i: number) => Promise<void>
}

/**
 * Typed loosely because the node-postgres and PGlite Drizzle databases are different types with
 * the same query API.
 */
export function drizzleVariants(db: AnyPgDatabase, manager: AnyPostgresManager): Variant[] {
  type Row = { id: number; tenant: string }
  /** How a variant runs its selects: in withTenant, in db.transaction, or in db.transaction with
   * the tenant filter written by hand (what an application without RLS does). */
  type Mode = 'scoped' | 'plain' | 'filtered'
  const where = (table: ItemsTable, k: number, t: string, mode: Mode) => (mode === 'filtered' ? and(eq(table.id, k), eq(table.tenant, t)) : eq(table.id, k))
  const unit = <T>(mode: Mode, t: string, body: (tx: DrizzleTransaction<AnyPgDatabase>) => Promise<T>): Promise<T> =>
    mode === 'scoped' ? manager.withTenant(t, body) : db.transaction(body)
  /** One select per transaction on `table` (the row must be the tenant's). */
  const one = (key: string, label: string, table: ItemsTable, mode: Mode): Variant => ({
    key,
    label,
    run: async (i) => {
      const k = keyAt(i)
      const t = tenantOf(k)
      const rows: Row[] = await unit(mode, t, (tx) =>
        tx
          .select()
          .from(table)
          .where(where(table, k, t, mode)),
      )
      check(rows.length === 1 && rows[0]!.tenant === t, `${label}, key ${k}`)
    },
  })
  /** STMTS selects of one tenant's keys per transaction. */
  const many = (key: string, label: string, table: ItemsTable, mode: Mode): Variant => ({
    key,
    label,
    run: async (i) => {
      const t = tenantOf(keyAt(i))
      const n = await unit(mode, t, async (tx) => {
        let found = 0
        for (let j = 0; j < STMTS; j++) {
          const rows: Row[] = await tx
            .select()
            .from(table)
            .where(where(table, keyOf(i, j), t, mode))
          if (rows.length === 1 && rows[0]!.tenant === t) found++
        }
        return found
      })
      check(n === STMTS, `${label}, tx ${i}`)
    },
  })
  return [
    one('scoped', 'withTenant, items (RLS)', items, 'scoped'),
    one('scopedPlain', 'withTenant, items_plain (no RLS)', itemsPlain, 'scoped'),
    one('plain', 'db.transaction, items_plain', itemsPlain, 'plain'),
    one('filtered', 'db.transaction, items_plain, WHERE tenant = by hand', itemsPlain, 'filtered'),
    many('scoped10', `withTenant, items (RLS), ${STMTS} selects`, items, 'scoped'),
    many('scopedPlain10', `withTenant, items_plain, ${STMTS} selects`, itemsPlain, 'scoped'),
    many('plain10', `db.transaction, items_plain, ${STMTS} selects`, itemsPlain, 'plain'),
    many('filtered10', `db.transaction, items_plain, WHERE tenant = by hand, ${STMTS} selects`, itemsPlain, 'filtered'),
  ]
}
