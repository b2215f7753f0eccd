/**
 * The tenant predicate of a `withRls` table as a Drizzle condition, for a router that can only
 * route by what a query says: Citus sends a query to one shard only when its `WHERE` names the
 * distribution column (row level security conditions never prune shards). Elsewhere it is
 * merely redundant with the policy, and harmless.
 *
 * @module
 */
import { eq, getTableColumns, type SQL } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import { TenantError } from '../core/errors.js'
import { currentTenant } from '../core/tenant-context.js'
import type { TenantId } from '../core/tenant-id.js'
import { readMark } from './mark.js'

/**
 * `<tenant column> = tenant` for a `withRls` table: put it in the `where` of a scoped query so
 * that a router (Citus) sends the query to the tenant's shard only. `tenant` defaults to the
 * ambient tenant ({@link currentTenant}); inside `withTenant`, pass `tx.tenant`. It narrows, never
 * widens: the policies still decide which rows a scope sees.
 *
 * @example
 * ```ts
 * import { and, eq } from 'drizzle-orm'
 * import { pgTable, serial, text } from 'drizzle-orm/pg-core'
 * import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
 * import { tenantFilter, withRls, type PostgresManager } from 'pg-tenants/drizzle'
 *
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
 * declare const manager: PostgresManager<NodePgDatabase>
 *
 * const one = await manager.withTenant('acme', (tx) =>
 *   tx.select().from(todos).where(and(tenantFilter(todos, tx.tenant), eq(todos.id, 1))),
 * )
 * ```
 */
export function tenantFilter(table: PgTable, tenant: TenantId = currentTenant()): SQL {
  const mark = readMark(table)
  if (mark === undefined) {
    throw new TenantError('INVALID_OPTIONS', 'tenantFilter(table): the table is not a withRls table, so it has no tenant column: wrap it in withRls(…).')
  }
  const column = Object.values(getTableColumns(table)).find((c) => c.name === mark.column)
  if (column === undefined) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `tenantFilter(${mark.name}): the table has no column "${mark.column}" any more: wrap the table in withRls(…) again.`,
    )
  }
  return eq(column, typeof tenant === 'bigint' ? tenant.toString() : tenant)
}
