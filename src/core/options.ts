/**
 * The options shared by the manager and the migration generator, with their defaults, checked
 * once and frozen. Both must agree on every name (roles, setting key, registry table), so both
 * resolve them here.
 *
 * @module
 */
import { TenantError } from './errors.js'

/**
 * How a tenant scope is expressed to PostgreSQL. See docs/strategies.md.
 *
 * @example
 * ```ts
 * import type { Strategy, TenantOptions } from 'pg-tenants'
 *
 * const strategy: Strategy = process.env.TENANT_STRATEGY === 'role' ? 'role' : 'setting'
 * export const tenancy: TenantOptions = { strategy } // the same options for the manager, the migration and check
 * ```
 */
export type Strategy = 'setting' | 'role'

/**
 * What the tenant role may do on a shared table (one that is not tenant-scoped): read it
 * (`SELECT`), write it (`SELECT, INSERT, UPDATE, DELETE`, and its own sequences), or nothing
 * (every privilege revoked: the way to close a table an older setup granted).
 *
 * @example
 * ```ts
 * import type { SharedAccess, TenantOptions } from 'pg-tenants'
 *
 * const plans: SharedAccess = 'read'
 * export const tenancy: TenantOptions = { sharedTables: { plans, audit_log: 'write', legacy_exports: 'none' } }
 * ```
 */
export type SharedAccess = 'read' | 'write' | 'none'

/**
 * A shared table as declared in {@link TenantOptions.sharedTables}, resolved.
 *
 * @example
 * ```ts
 * import type { SharedTable, TenantOptions } from 'pg-tenants'
 *
 * const plans: SharedTable = { schema: 'public', name: 'plans', access: 'read' }
 * export const tenancy: TenantOptions = { sharedTables: [plans] } // the same as { sharedTables: { plans: 'read' } }
 * ```
 */
export interface SharedTable {
  /** The table's schema, unquoted. */
  readonly schema: string
  /** The table's name, unquoted. */
  readonly name: string
  /** What the tenant role may do on it. */
  readonly access: SharedAccess
}

/**
 * Options of `PostgresManager` and `migrationSql` (and of the CLI, `checkDatabase` and the other
 * migration functions): every one of them must get the same values, since all must agree on
 * every name.
 *
 * @example
 * ```ts
 * import type { TenantOptions } from 'pg-tenants'
 *
 * export const tenancy: TenantOptions = { strategy: 'setting', sharedTables: { plans: 'read' } }
 * ```
 */
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
  /** The tables that are not tenant-scoped but that tenant scopes may use, and how: keys are
   * `table` (in `schema`) or `schema.table`. The migration grants the tenant role these and the
   * tenant tables, nothing else; `check` reports any other table it can reach. Default none.
   *
   * The resolved form (a list of {@link SharedTable}) is accepted too.
   *
   * @example
   * ```ts
   * import type { TenantOptions } from 'pg-tenants'
   *
   * export const options: TenantOptions = { sharedTables: { plans: 'read', 'billing.invoices_archive': 'none' } }
   * ```
   */
  sharedTables?: Readonly<Record<string, SharedAccess>> | readonly SharedTable[]
  /** Let the migration take over a tenant or admin role that already exists and is used by
   * another database, or has members other than the migrating login. Default false: the
   * migration refuses, because roles belong to the whole server and a shared role lets one
   * database's login into another's tenants. */
  adoptRoles?: boolean
  /** The tenant tables are distributed on Citus (docs/scale-out.md). Default false. The policies
   * take a shape Citus keeps on every shard (no sub-select; PERMISSIVE only, each bound to the role
   * it is for, since Citus re-creates RESTRICTIVE policies as PERMISSIVE), scopes also set
   * `citus.propagate_set_commands` so the tenant reaches the workers, the registry check goes in a
   * message of its own, and the tenant and admin roles are LOGIN roles (Citus connects to the
   * workers as the current role). Use it on the manager, the migration and the CLI (`--citus`)
   * alike. */
  citus?: boolean
}

/**
 * Options after defaults and checks (see {@link resolveOptions}), frozen.
 *
 * @example
 * ```ts
 * import type { ResolvedOptions } from 'pg-tenants'
 * import { resolveOptions } from 'pg-tenants/adapter'
 *
 * const options: ResolvedOptions = resolveOptions({ strategy: 'role', sharedTables: { plans: 'read' } })
 * console.log(options.rolePrefix, options.settingKey) // tenant_ pg_tenants.tenant
 * console.log(options.sharedTables) // [ { schema: 'public', name: 'plans', access: 'read' } ]
 * ```
 */
export interface ResolvedOptions {
  /** {@link TenantOptions.schema}, default `'public'`. */
  readonly schema: string
  /** {@link TenantOptions.strategy}, default `'setting'`. */
  readonly strategy: Strategy
  /** {@link TenantOptions.rolePrefix}, default `'tenant_'`. */
  readonly rolePrefix: string
  /** {@link TenantOptions.tenantRole}, default `'tenants_rls'`. */
  readonly tenantRole: string
  /** {@link TenantOptions.adminRole}, default `'tenants_admin'`. */
  readonly adminRole: string
  /** {@link TenantOptions.registryTable}, default `'tenant_registry'`. */
  readonly registryTable: string
  /** The declared shared tables, sorted by schema and name. */
  readonly sharedTables: readonly SharedTable[]
  /** {@link TenantOptions.adoptRoles}, default false. */
  readonly adoptRoles: boolean
  /** {@link TenantOptions.citus}, default false. */
  readonly citus: boolean
  /** The transaction-local setting that carries the tenant id (`setting` strategy). */
  readonly settingKey: string
}

/**
 * The custom setting that carries the tenant id. Constant so that policies never drift.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import { SETTING_KEY } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * // In a scope of the `setting` strategy, the tenant id is in this transaction-local setting.
 * await manager.withTenant('acme', (tx) => tx.execute(sql`select current_setting(${SETTING_KEY}, true) as tenant`)) // tenant: 'acme'
 * ```
 */
export const SETTING_KEY = 'pg_tenants.tenant'

/**
 * Resolves and checks options; throws `TenantError('INVALID_OPTIONS')` with a hint.
 *
 * @example
 * ```ts
 * import { resolveOptions } from 'pg-tenants/adapter'
 *
 * const options = resolveOptions({ strategy: 'role' })
 * console.log(options.rolePrefix, options.tenantRole) // tenant_ tenants_rls
 * ```
 */
export function resolveOptions(options: TenantOptions = {}): ResolvedOptions {
  const {
    schema = 'public',
    strategy = 'setting',
    rolePrefix = 'tenant_',
    tenantRole = 'tenants_rls',
    adminRole = 'tenants_admin',
    registryTable = 'tenant_registry',
    sharedTables = {},
    adoptRoles = false,
    citus = false,
  } = options
  if (strategy !== 'setting' && strategy !== 'role') {
    throw new TenantError('INVALID_OPTIONS', `Unknown strategy ${JSON.stringify(strategy)}: use 'setting' (default) or 'role'.`)
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
  if (typeof adoptRoles !== 'boolean') {
    throw new TenantError('INVALID_OPTIONS', `Option adoptRoles must be true or false, got ${JSON.stringify(adoptRoles)}.`)
  }
  if (typeof citus !== 'boolean') {
    throw new TenantError('INVALID_OPTIONS', `Option citus must be true or false, got ${JSON.stringify(citus)}.`)
  }
  const shared = resolveShared(sharedTables, schema)
  return Object.freeze({ schema, strategy, rolePrefix, tenantRole, adminRole, registryTable, sharedTables: shared, adoptRoles, citus, settingKey: SETTING_KEY })
}

const ACCESS: readonly SharedAccess[] = ['read', 'write', 'none']

/** `{ 'plans': 'read', 'billing.x': 'none' }` → sorted, checked SharedTables. A key's first `.`
 * separates the schema; names are quoted wherever they reach SQL. */
function resolveShared(sharedTables: unknown, schema: string): readonly SharedTable[] {
  if (typeof sharedTables !== 'object' || sharedTables === null) {
    throw new TenantError('INVALID_OPTIONS', `Option sharedTables must be an object such as { plans: 'read' }, got ${JSON.stringify(sharedTables)}.`)
  }
  // The list form names schema and table apart, so a table name may hold a dot there.
  const entries: [Partial<SharedTable>, unknown, string][] = Array.isArray(sharedTables)
    ? sharedTables.map(
        (t: Partial<SharedTable> | null) => [{ schema: t?.schema, name: t?.name }, t?.access, JSON.stringify(t)] as [Partial<SharedTable>, unknown, string],
      )
    : Object.entries(sharedTables as Record<string, unknown>).map(([key, access]) => {
        const dot = key.indexOf('.')
        const table = dot < 0 ? { schema, name: key } : { schema: key.slice(0, dot), name: key.slice(dot + 1) }
        return [table, access, JSON.stringify(key)] as [Partial<SharedTable>, unknown, string]
      })
  const out: SharedTable[] = []
  for (const [table, access, shown] of entries) {
    if (!(ACCESS as readonly unknown[]).includes(access)) {
      throw new TenantError('INVALID_OPTIONS', `sharedTables ${shown} must be 'read', 'write' or 'none', got ${JSON.stringify(access)}.`)
    }
    const { schema: s, name } = table
    // eslint-disable-next-line no-control-regex -- control characters are what it refuses
    if (typeof s !== 'string' || typeof name !== 'string' || s === '' || name === '' || /[\u0000-\u001f\u007f$]/.test(s + name)) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `sharedTables ${shown} must name a table as "table" or "schema.table" (or { schema, name, access }), without control characters or $.`,
      )
    }
    if ([s, name].some((part) => part.length > 1 && part.startsWith('"') && part.endsWith('"'))) {
      throw new TenantError(
        'INVALID_OPTIONS',
        `sharedTables ${shown}: write names as they are, unquoted (public.plans, not "public".plans); pg-tenants quotes them.`,
      )
    }
    if (out.some((t) => t.schema === s && t.name === name)) {
      throw new TenantError('INVALID_OPTIONS', `sharedTables names ${s}.${name} twice.`)
    }
    out.push(Object.freeze({ schema: s, name, access: access as SharedAccess }))
  }
  out.sort((a, b) => (a.schema === b.schema ? (a.name < b.name ? -1 : 1) : a.schema < b.schema ? -1 : 1))
  return Object.freeze(out)
}

/**
 * Names from options end up quoted in DDL and inside `DO` blocks; they come from configuration,
 * not from callers, but are still held to a plain shape so that no quoting level can be escaped.
 */
function checkName(key: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,47}$/.test(value)) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `Option ${key} must be a plain SQL name (letters, digits, _; at most 48 characters), got ` + `${JSON.stringify(value)}.`,
    )
  }
  if (key !== 'schema' && key !== 'registryTable' && /^pg_/i.test(value)) {
    throw new TenantError('INVALID_OPTIONS', `Option ${key}: role names starting with pg_ are reserved by PostgreSQL.`)
  }
}
