/**
 * `migrationSql(tables)`: the complete, idempotent SQL that Drizzle tables marked with `withRls`
 * need, for a migration file or to run directly.
 *
 * @module
 */
import { buildMigration, type MigrationSql } from '../core/migration.js'
import { resolveOptions, type TenantOptions } from '../core/options.js'
import { requireRlsSpec } from './with-rls.js'

/**
 * The SQL for the given `withRls` tables under the chosen strategy: roles, grants, registry
 * table, ENABLE and FORCE row level security, the policies, the tenant index and (for text) a
 * non-empty check. `up` run twice is harmless; `down` removes what `up` added and no data.
 *
 * @example
 * ```ts
 * const { up } = migrationSql([todos, projects])
 * await pool.query(up)
 * ```
 */
export function migrationSql(tables: readonly unknown[], options?: TenantOptions): MigrationSql {
  const { schema } = resolveOptions(options)
  return buildMigration(tables.map((table) => requireRlsSpec(table, schema)), options)
}
