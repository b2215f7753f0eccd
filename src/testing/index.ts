/**
 * pg-tenants/testing: helpers for your own test suite that prove, against your real schema and
 * database, that row-level security keeps tenants apart. For the Drizzle adapter.
 *
 * @module
 */
export {
  assertTenantIsolation,
  type AssertTenantIsolationOptions,
  type IsolationRow,
  type IsolationSummary,
  type IsolationTable,
} from './assert-tenant-isolation.js'
export { TenantIsolationError, type IsolationCheck, type IsolationFailure } from './isolation-error.js'
