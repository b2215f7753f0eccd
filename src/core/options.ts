/**
 * The options shared by the manager and the migration generator, with their defaults, checked
 * once and frozen. Both must agree on every name (roles, setting key, registry table), so both
 * resolve them here.
 *
 * @module
 */
import { TenantError } from './errors.js'

/** How a tenant scope is expressed to PostgreSQL. See the README, "Strategies". */
export type Strategy = 'setting' | 'role'

/** Options of `PostgresManager` and `migrationSql`. */
export interface TenantOptions {
  /** Schema of the registry table and of the default grants. Default `'public'`. */
  schema?: string
  /** `'setting'` (default): one shared role, tenant id in a transaction-local setting.
   * `'role'`: one role per tenant, as the Python original does. */
  strategy?: Strategy
  /** Prefix of per-tenant role names (`role` strategy). Default `'tenant_'`. */
  rolePrefix?: string
  /** The NOLOGIN role tenant work runs as (`setting`), or that every tenant role is a member of
   * (`role`); it holds the table grants. Default `'tenants_rls'`. */
  tenantRole?: string
  /** The NOLOGIN role of `withAdmin` / `newSession`, allowed every row by its own policy.
   * Default `'tenants_admin'`. */
  adminRole?: string
  /** Registry table of the `setting` strategy (in `schema`). Default `'tenant_registry'`. */
  registryTable?: string
}

/** Options after defaults and checks. */
export interface ResolvedOptions {
  readonly schema: string
  readonly strategy: Strategy
  readonly rolePrefix: string
  readonly tenantRole: string
  readonly adminRole: string
  readonly registryTable: string
  /** The transaction-local setting that carries the tenant id (`setting` strategy). */
  readonly settingKey: string
}

/** The custom setting that carries the tenant id. Constant so that policies never drift. */
export const SETTING_KEY = 'pg_tenants.tenant'

/** Resolves and checks options; throws `TenantError('INVALID_OPTIONS')` with a hint. */
export function resolveOptions(options: TenantOptions = {}): ResolvedOptions {
  const {
    schema = 'public',
    strategy = 'setting',
    rolePrefix = 'tenant_',
    tenantRole = 'tenants_rls',
    adminRole = 'tenants_admin',
    registryTable = 'tenant_registry',
  } = options
  if (strategy !== 'setting' && strategy !== 'role') {
    throw new TenantError(
      'INVALID_OPTIONS',
      `Unknown strategy ${JSON.stringify(strategy)}: use 'setting' (default) or 'role'.`,
    )
  }
  for (const [key, value] of Object.entries({ schema, rolePrefix, tenantRole, adminRole, registryTable })) {
    checkName(key, value)
  }
  if (tenantRole === adminRole) {
    throw new TenantError('INVALID_OPTIONS', 'tenantRole and adminRole must be two different roles.')
  }
  if (strategy === 'role') {
    for (const [key, value] of Object.entries({ tenantRole, adminRole })) {
      if (value.startsWith(rolePrefix)) {
        throw new TenantError(
          'INVALID_OPTIONS',
          `${key} ${JSON.stringify(value)} starts with rolePrefix ${JSON.stringify(rolePrefix)} and ` +
            'would be taken for a tenant: pick another name or prefix.',
        )
      }
    }
  }
  return Object.freeze({ schema, strategy, rolePrefix, tenantRole, adminRole, registryTable, settingKey: SETTING_KEY })
}

/**
 * Names from options end up quoted in DDL and inside `DO` blocks; they come from configuration,
 * not from callers, but are still held to a plain shape so that no quoting level can be escaped.
 */
function checkName(key: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,47}$/.test(value)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `Option ${key} must be a plain SQL name (letters, digits, _; at most 48 characters), got ` +
        `${JSON.stringify(value)}.`,
    )
  }
  if (key !== 'schema' && key !== 'registryTable' && /^pg_/i.test(value)) {
    throw new TenantError('INVALID_OPTIONS', `Option ${key}: role names starting with pg_ are reserved by PostgreSQL.`)
  }
}
