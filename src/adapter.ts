/**
 * `pg-tenants/adapter`: the API every adapter is a thin folder over. The engine runs scopes,
 * sessions and tenant management over a {@link Driver}; a driver hands out pinned
 * {@link Connection}s with explicit operations; an adapter wraps `Connection.native` in what its
 * ORM talks to. See docs/adapter-api.md.
 *
 * @module pg-tenants/adapter
 */
export { TenantEngine, EngineSession, type EngineSettings, type ScopeRequest, type TenantScopeOptions } from './core/engine.js'
export { scopeEndedError, type Connection, type Driver, type StatementResult } from './core/driver.js'
export {
  beginStatement,
  RESET_LOGIN_COLUMN,
  RESET_ROLE_COLUMN,
  RESTORED_SETTINGS,
  SESSION_BEFORE_COLUMNS,
  SESSION_RESET,
  sessionBefore,
  sessionResetTo,
  type SessionBefore,
  transactionModes,
  type IsolationLevel,
  type TransactionOptions,
} from './core/transaction.js'
export { attachEngine, engineOf } from './core/adapter.js'
export { guardedClient, guardScope, tagsOf, type GuardedClient, type Guarded, type GuardProbe } from './core/guard.js'
export {
  columnsOf,
  sqlManager,
  tableSpecs,
  TenantManager,
  type AmbientScopes,
  type ForEachTenantOptions,
  type ForEachTenantResult,
  type ManagerParts,
  type SessionControl,
  type SqlManagerOptions,
  type TenantScoped,
  type TenantTable,
} from './core/manager.js'
export { refuseNested } from './core/context.js'
export { canonicalTenantId, tenantIdText, type TenantColumnInfo } from './core/tenant-id.js'
export { resolveOptions } from './core/options.js'
export { driverFor } from './drivers/detect.js'
export { nodePostgresDriver, isPgPool, type PgPoolLike, type PgPoolClientLike } from './drivers/node-postgres.js'
export { postgresJsDriver, isPostgresJs, type PostgresJsLike, type PostgresJsReservedLike } from './drivers/postgres-js.js'
export { pgliteDriver, isPglite, type PgliteLike, type PgliteTransactionLike } from './drivers/pglite.js'
