/**
 * The tenant condition every policy uses, and the names of the policies. One place, so that the
 * migration, drizzle-kit's view of a table and `check`'s drift detection can never disagree.
 *
 * Shape (measured in DESIGN.md §3): the tenant is read once per statement through a sub-select
 * (an InitPlan, so the tenant index is used), and a missing or empty value yields NULL, which
 * matches no row: fail closed.
 *
 * @module
 */
import type { ResolvedOptions } from './options.js'
import { quoteIdent, quoteLiteral } from './quote.js'
import type { TenantColumnType } from './tenant-id.js'

/**
 * Names of the three policies pg-tenants puts on a tenant table.
 *
 * @example
 * ```ts
 * import type { Pool } from 'pg'
 * import { POLICY_NAMES } from 'pg-tenants'
 *
 * declare const pool: Pool
 *
 * const { rows } = await pool.query('SELECT schemaname, tablename, policyname FROM pg_policies WHERE policyname = ANY($1)', [
 *   Object.values(POLICY_NAMES),
 * ])
 * ```
 */
export const POLICY_NAMES = {
  /** RESTRICTIVE, to the tenant role: the tenant condition, ANDed with any other policy. */
  isolation: 'pg_tenants_isolation',
  /** PERMISSIVE, to public: the same condition, the grant of access itself. To public so that it
   * needs no role to exist (drizzle-kit creates it with the table); the condition is true for
   * our tenant roles only, so it gives no other role a row, and the RESTRICTIVE policy still
   * binds the tenant role. */
  access: 'pg_tenants_access',
  /** PERMISSIVE, to the admin role: every row. */
  admin: 'pg_tenants_admin',
} as const

/** The SQL type a tenant id is cast to in a policy. */
export function sqlType(type: TenantColumnType): string {
  return type === 'varchar' ? 'text' : type
}

/** The expression that yields the current tenant id, typed like the column, or NULL outside a
 * scope and for every role but ours: the tenant role itself (`setting`), or a role with the
 * tenant prefix that is a member of the tenant role (`role`). So a policy `TO public` with this
 * condition still hands no row to a reporting role, or to PUBLIC, that has a grant on the table
 * and sets `pg_tenants.tenant` itself. Read once per statement (an InitPlan). */
export function currentTenantExpression(options: ResolvedOptions, type: TenantColumnType): string {
  const cast = sqlType(type)
  const tenantRole = quoteLiteral(options.tenantRole)
  // Citus refuses sub-selects in policies on distributed tables; a plain CASE of STABLE functions
  // is still evaluated once per index scan, so the tenant index serves it (docs/scale-out.md).
  const wrap = (expression: string) => (options.citus ? `(${expression})` : `(SELECT ${expression})`)
  if (options.strategy === 'setting') {
    return wrap(`CASE WHEN current_user = ${tenantRole} THEN nullif(current_setting(${quoteLiteral(options.settingKey)}, true), '')::${cast} END`)
  }
  // current_user is a `name` (collation "C"): compared as-is with a text column it cannot use
  // the column's index, so the text is re-collated (DESIGN.md §3, "role mode trap").
  const prefix = quoteLiteral(options.rolePrefix)
  const start = [...options.rolePrefix].length + 1
  const suffix = `substr(current_user::text, ${start})`
  const typed = cast === 'text' ? `${suffix} COLLATE "default"` : `${suffix}::${cast}`
  // Not the login itself (current_user <> session_user): a login named with the prefix is no tenant.
  // Except on Citus, whose workers are reached by logging in as the tenant role itself.
  const notLogin = options.citus ? '' : ' AND current_user <> session_user'
  return wrap(`CASE WHEN starts_with(current_user::text, ${prefix})${notLogin} AND pg_has_role(current_user, ${tenantRole}, 'MEMBER') THEN ${typed} END`)
}

/** True only for the admin role itself (`SET ROLE` in an admin scope), not for its members. */
export function adminCondition(options: ResolvedOptions): string {
  return `current_user = ${quoteLiteral(options.adminRole)}`
}

/** `"column" = <current tenant>` */
export function tenantCondition(options: ResolvedOptions, column: string, type: TenantColumnType): string {
  return `${quoteIdent(column)} = ${currentTenantExpression(options, type)}`
}

/** One of the three policies, as data: what the migration writes and `check` compares with. */
export interface PolicyDefinition {
  readonly name: string
  /** PERMISSIVE (true) or RESTRICTIVE. */
  readonly permissive: boolean
  /** Always `ALL`. */
  readonly command: 'ALL'
  /** Role names, unquoted; `public` stands for PUBLIC. */
  readonly roles: readonly string[]
  readonly using: string
  readonly withCheck: string
}

/**
 * The three policies of a tenant table whose tenant column is `column`, as data.
 *
 * @example
 * ```ts nocheck
 * const policies = tenantPolicies(resolveOptions(), 'tenant', 'text')
 * policies.map((p) => createPolicySql(p, '"public"."todos"'))
 * ```
 */
export function tenantPolicies(options: ResolvedOptions, column: string, type: TenantColumnType): readonly PolicyDefinition[] {
  const cond = tenantCondition(options, column, type)
  const policy = (name: string, permissive: boolean, role: string, using: string): PolicyDefinition =>
    Object.freeze({ name, permissive, command: 'ALL', roles: Object.freeze([role]), using, withCheck: using })
  return Object.freeze([
    // The same condition in both, bound to our roles though this one is TO the tenant role: two
    // equal conditions are planned as one (measured: a plain one here cost 5–10% with RLS).
    // Citus re-creates every policy as PERMISSIVE on its shards, so there it is PERMISSIVE
    // everywhere (what the shards hold is what `check` compares with), and no policy relies on it.
    policy(POLICY_NAMES.isolation, options.citus, options.tenantRole, cond),
    // TO public, so that a migration tool can create this policy before the roles exist
    // (drizzle-kit emits it from the table definition); the condition names our roles itself.
    policy(POLICY_NAMES.access, true, 'public', cond),
    // The login is a member of the admin role: outside any scope, only the RESTRICTIVE isolation
    // policy keeps it from every row. With no RESTRICTIVE policy (Citus), the admin policy binds
    // its role itself, as the tenant condition does: true only inside an admin scope.
    policy(POLICY_NAMES.admin, true, options.adminRole, options.citus ? adminCondition(options) : 'true'),
  ])
}

/** `CREATE POLICY` for `policy` on `table` (already quoted); `roles` replaces its role list. */
export function createPolicySql(policy: PolicyDefinition, table: string, roles: readonly string[] = policy.roles): string {
  const to = roles.map((r) => (r === 'public' ? 'public' : quoteIdent(r))).join(', ')
  return `CREATE POLICY ${policy.name} ON ${table} AS ${policy.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${policy.command} TO ${to}\n  USING (${policy.using})\n  WITH CHECK (${policy.withCheck});`
}

/** `DROP POLICY IF EXISTS` for `policy` on `table` (already quoted). */
export function dropPolicySql(policy: PolicyDefinition, table: string): string {
  return `DROP POLICY IF EXISTS ${policy.name} ON ${table};`
}
