/**
 * pg-tenants: PostgreSQL row-level security as the default for multi-tenant Node.js apps.
 * The core: errors, tenant-id rules, options and the SQL generator. ORM adapters live in
 * subpaths (`pg-tenants/drizzle`).
 *
 * @module pg-tenants
 */
export { InvalidTenantId, isRlsViolation, sqlState, TenantAlreadyExists, TenantError, TenantNotFound, type TenantErrorCode } from './core/errors.js'
export { currentTenant, runWithTenant, tryCurrentTenant } from './core/tenant-context.js'
export { MAX_TENANT_ID_BYTES, type TenantColumnType, type TenantId } from './core/tenant-id.js'
export { SETTING_KEY, type ResolvedOptions, type SharedAccess, type SharedTable, type Strategy, type TenantOptions } from './core/options.js'
export { POLICY_NAMES } from './core/policy.js'
export {
  buildMigration,
  migrationStatements,
  sharedTableStatements,
  tableStatements,
  type MigrationSql,
  type MigrationStatements,
  type TableSpec,
  type TableStatementsOptions,
} from './core/migration.js'
export { leaveSuperuser, type LeaveSuperuserOptions } from './drivers/leave-superuser.js'
export { CHECK_CODES, checkDatabase, type CheckCode, type CheckFinding, type CheckOptions, type CheckReport } from './check/index.js'
