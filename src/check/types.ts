/**
 * The public shapes of `checkDatabase`: a finding, the report, and the options.
 *
 * @module
 */
import type { TableSpec } from '../core/migration.js'
import type { TenantOptions } from '../core/options.js'

/**
 * Every code a {@link CheckFinding} can carry, in the order docs/check.md ("Finding codes") documents them.
 *
 * @example
 * ```ts
 * import { CHECK_CODES, type CheckCode } from 'pg-tenants'
 *
 * const isCheckCode = (text: string): text is CheckCode => (CHECK_CODES as readonly string[]).includes(text)
 * ```
 */
export const CHECK_CODES = [
  'NO_TENANT_TABLES',
  'TABLE_MISSING',
  'TABLE_NOT_DECLARED',
  'SHARED_TABLE_UNDECLARED',
  'SHARED_TABLE_MISMATCH',
  'TENANT_COLUMN_MISSING',
  'TENANT_COLUMN_MISMATCH',
  'RLS_DISABLED',
  'FORCE_DISABLED',
  'POLICY_MISSING',
  'POLICY_DRIFT',
  'PARTITION_UNPROTECTED',
  'SHARD_NOT_PROTECTED',
  'CITUS_MODE_OFF',
  'CITUS_REFERENCE_TABLE',
  'PERMISSIVE_POLICY',
  'EMPTY_TENANT_ALLOWED',
  'TENANT_INDEX_MISSING',
  'UNIQUE_WITHOUT_TENANT',
  'FOREIGN_KEY_WITHOUT_TENANT',
  'VIEW_NOT_SECURITY_INVOKER',
  'MATERIALIZED_VIEW',
  'ROLE_MISSING',
  'LOGIN_CANNOT_SCOPE',
  'ROLE_SUPERUSER',
  'ROLE_BYPASSRLS',
  'ROLE_CREATEROLE',
  'ROLE_CAN_LOGIN',
  'CITUS_ROLE_LOGIN',
  'CITUS_ACTIVITY_VISIBLE',
  'ROLE_CAN_CREATE_TEMP',
  'ROLE_OWNS_TABLE',
  'ROLE_SHARED',
  'OTHER_ROLE_GRANTED',
  'DANGEROUS_GRANT',
  'SECURITY_DEFINER_BYPASS',
  'DEFAULT_TENANT_SETTING',
  'REGISTRY_MISSING',
  'REGISTRY_EXPOSED',
  'DRIFT_NOT_CHECKED',
] as const

/**
 * A finding code, stable across versions. Each is documented in docs/check.md, "Finding
 * codes".
 *
 * @example
 * ```ts
 * import type { Pool } from 'pg'
 * import { checkDatabase, type CheckCode } from 'pg-tenants'
 *
 * declare const pool: Pool
 *
 * const accepted: readonly CheckCode[] = ['TENANT_INDEX_MISSING', 'MATERIALIZED_VIEW'] // reviewed, left as they are
 * const report = await checkDatabase(pool, { ignore: accepted })
 * ```
 */
export type CheckCode = (typeof CHECK_CODES)[number]

/**
 * One problem found in the database.
 *
 * @example
 * ```ts
 * import type { CheckFinding } from 'pg-tenants'
 *
 * export const describeFinding = (f: CheckFinding) => `${f.severity} ${f.code} ${f.object}: ${f.message}\n  fix: ${f.fix}`
 * ```
 */
export interface CheckFinding {
  /** Stable, to branch on or to `ignore`. */
  readonly code: CheckCode
  /** `error`: tenants can see or change each other's rows, or the setup is incomplete.
   * `warning`: a weaker guarantee (existence leaks, unscoped code, speed).
   * `notice`: something the migration cannot enforce and no tenant can use to reach another's
   * rows; reported, but it leaves `ok` true. */
  readonly severity: 'error' | 'warning' | 'notice'
  /** What it is about: `public.todos`, `role "tenants_rls"`, `view public.todo_list`. */
  readonly object: string
  /** One line, plain words: what is wrong and why it matters. */
  readonly message: string
  /** The SQL (or pg-tenants command) that fixes it. */
  readonly fix: string
}

/**
 * The result of {@link checkDatabase}.
 *
 * @example
 * ```ts
 * import type { Pool } from 'pg'
 * import { checkDatabase, type CheckReport } from 'pg-tenants'
 *
 * declare const pool: Pool
 *
 * function summary(report: CheckReport): string {
 *   const errors = report.findings.filter((f) => f.severity === 'error').length
 *   return `${report.tables.length} tenant tables checked: ${report.ok ? 'ok' : `${errors} errors`}`
 * }
 * console.log(summary(await checkDatabase(pool)))
 * ```
 */
export interface CheckReport {
  /** True when there is no finding but notices (after `ignore`). */
  readonly ok: boolean
  /** Every finding, errors, warnings and notices, in the order found (after `ignore`). */
  readonly findings: readonly CheckFinding[]
  /** The tenant tables checked, as `schema.table`. */
  readonly tables: readonly string[]
}

/**
 * Options of {@link checkDatabase}: the app's tenancy options plus what to check.
 *
 * @example
 * ```ts
 * import type { Pool } from 'pg'
 * import { checkDatabase, type CheckOptions } from 'pg-tenants'
 *
 * declare const pool: Pool
 *
 * const options: CheckOptions = {
 *   strategy: 'setting', // the tenancy options the manager gets
 *   tables: [{ schema: 'public', name: 'todos', column: 'tenant', type: 'text' }],
 *   ignore: ['TENANT_INDEX_MISSING'],
 *   onProgress: (done, total, what) => console.error(`${done}/${total} ${what}`),
 * }
 * const report = await checkDatabase(pool, options)
 * ```
 */
export interface CheckOptions extends TenantOptions {
  /** The tenant tables, as `withRls` describes them (a TableSpec; an empty `schema` means
   * `schema`). When absent, tables are discovered: those with a `column` column or with a
   * `pg_tenants_*` policy. When given, discovery still runs for the tables that the tenant role
   * may use but that are not in the list (`TABLE_NOT_DECLARED`). */
  tables?: readonly TableSpec[]
  /** Discovery: the tenant column's name (with `tables`, their columns too). Default `'tenant'`. */
  column?: string
  /** Discovery: only these schemas. Default: every schema but the system ones. */
  schemas?: readonly string[]
  /** Finding codes to leave out of the report (a code that is not a {@link CheckCode} is refused at run time too, for callers without types). */
  ignore?: readonly CheckCode[]
  /** Called as the check goes through tables and (role strategy) tenant roles. */
  onProgress?: (done: number, total: number, what: string) => void
}
