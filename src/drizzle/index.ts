/**
 * pg-tenants for Drizzle ORM: `withRls`, `PostgresManager` and `migrationSql`.
 *
 * @module pg-tenants/drizzle
 */
export { withRls, type WithRlsOptions } from './with-rls.js'
export { tenantFilter } from './tenant-filter.js'
export {
  fromDrizzle,
  PostgresManager,
  type AnyPostgresManager,
  type AdminSession,
  type ManagerOptions,
  type SessionControl,
  type TenantSession,
  type TenantTransaction,
} from './manager.js'
export { migrationSql } from './migration.js'
export { leaveSuperuser, type LeaveSuperuserOptions } from '../drivers/leave-superuser.js'
export type { AnyPgDatabase, DrizzleQueries, DrizzleTransaction } from './bind.js'
export type { TenantScopeOptions } from '../core/engine.js'
export type { ForEachTenantOptions, ForEachTenantResult } from '../core/manager.js'
