/**
 * pg-tenants/testing: helpers for your own test suite that prove, against your real schema and
 * database, that row-level security keeps tenants apart. For every adapter: tables are given as
 * ORM-neutral `{ spec, row }`, or, with Drizzle, as the `withRls` tables themselves.
 *
 * @module pg-tenants/testing
 */
export { assertTenantIsolation, type AssertTenantIsolationOptions, type IsolationEntry, type IsolationSummary } from './assert-tenant-isolation.js'
export type { IsolationRow, IsolationTableSpec, SeededRows } from './isolation-spec.js'
export type { DrizzleIsolationEntry, IsolationTable } from '../drizzle/isolation-tables.js'
export type { TableSpec } from '../core/migration.js'
export { TenantIsolationError, type IsolationCheck, type IsolationFailure } from './isolation-error.js'
