/**
 * `migrationSql(tables)`: the complete, idempotent SQL that Drizzle tables marked with `withRls`
 * need, for a migration file or to run directly.
 *
 * @module
 */
import { buildMigration, type MigrationSql } from '../core/migration.js'
import { TenantError } from '../core/errors.js'
import { resolveOptions, type TenantOptions } from '../core/options.js'
import { markConflict, readMark } from './mark.js'
import { requireRlsSpec } from './with-rls.js'

/**
 * The SQL for the given `withRls` tables under the chosen strategy: roles, grants, registry
 * table, ENABLE and FORCE row level security, the policies, the tenant index and (for text) a
 * non-empty check. `up` run twice is harmless; `down` removes what `up` added and no data.
 * Throws `TenantError('INVALID_OPTIONS')` for a table whose `withRls` chose another strategy or
 * role prefix than `options`.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text, uuid } from 'drizzle-orm/pg-core'
 * import pg from 'pg'
 * import { migrationSql, withRls } from 'pg-tenants/drizzle'
 *
 * const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
 * const projects = withRls(pgTable('projects', { id: serial('id').primaryKey(), orgId: uuid('org_id').notNull() }), { column: 'orgId' })
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const { up } = migrationSql([todos, projects], { sharedTables: { plans: 'read' } })
 * await pool.query(up) // idempotent
 * ```
 */
export function migrationSql(tables: readonly unknown[], options?: TenantOptions): MigrationSql {
  const resolved = resolveOptions(options)
  const specs = tables.map((table) => {
    const spec = requireRlsSpec(table, resolved.schema)
    const conflict = markConflict(readMark(table)!, resolved)
    if (conflict) throw new TenantError('INVALID_OPTIONS', conflict)
    return spec
  })
  return buildMigration(specs, options)
}
