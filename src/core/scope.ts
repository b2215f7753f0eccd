/**
 * Tenant and admin scopes: the statements that open one, and the unit of work around them.
 *
 * Security model (DESIGN.md §2): all state is transaction-local (`SET LOCAL`, `set_config(…,
 * true)`), so it ends with the transaction; the work runs as a role that is neither superuser nor
 * BYPASSRLS nor owner; and the scoping statements ride in the same simple-query message as
 * `BEGIN`, so a scope costs no round trip of its own. A connection whose state is in doubt (our
 * own ROLLBACK or COMMIT failed) is destroyed, never returned to the pool.
 *
 * @module
 */
import type { StatementResult } from './driver.js'
import { TenantError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { qualified, quoteIdent, quoteLiteral } from './quote.js'

/** What a unit of work is scoped to. `text` is the validated, canonical tenant id. */
export type Scope =
  | { readonly kind: 'tenant'; readonly text: string }
  | { readonly kind: 'admin' }

/** Column name that marks the registry check's row in the prelude's results. */
const FOUND = 'pg_tenants_found'

/**
 * The statements that follow `BEGIN` to scope a transaction. With `checked`, the same message
 * also proves the tenant exists: the `setting` strategy only sets the tenant when the registry
 * lists it (so an unknown tenant stays fail-closed), the `role` strategy looks the role up as a
 * plain member of the tenant group (and `SET ROLE` to a missing role fails anyway).
 */
export function scopeStatements(o: ResolvedOptions, scope: Scope, checked: boolean): string {
  if (scope.kind === 'admin') return `SET LOCAL ROLE ${quoteIdent(o.adminRole)}`
  if (o.strategy === 'role') {
    const role = o.rolePrefix + scope.text
    // A role with the right name is a tenant only when it belongs to the tenant group and has no
    // power to bypass row-level security: roles are cluster-wide, anyone may have made one.
    const check = checked
      ? `SELECT 1 AS ${FOUND} FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid ` +
        `JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = ${quoteLiteral(role)} ` +
        `AND g.rolname = ${quoteLiteral(o.tenantRole)} AND NOT r.rolsuper AND NOT r.rolbypassrls; `
      : ''
    return `${check}SET LOCAL ROLE ${quoteIdent(role)}`
  }
  const value = quoteLiteral(scope.text)
  const setTenant = checked
    ? `SELECT set_config(${quoteLiteral(o.settingKey)}, id, true) AS ${FOUND} FROM ${qualified(o.schema, o.registryTable)} WHERE id = ${value}`
    : `SET LOCAL ${o.settingKey} = ${value}`
  return `${setTenant}; SET LOCAL ROLE ${quoteIdent(o.tenantRole)}`
}

/** True when the prelude's results show that the registry lists the tenant (`setting`,
 * checked). */
export function tenantFound(results: readonly StatementResult[]): boolean {
  return results.some((r) => r.rows.some((row) => FOUND in row))
}

/** `SET ROLE` to a role that does not exist: 22023 "role … does not exist". */
export function isMissingRole(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown }
  return e?.code === '22023' && typeof e.message === 'string' && /role .* does not exist/s.test(e.message)
}

/** Turns "the migration was not run" errors into a hint that says so. */
export function explainSetupError(error: unknown, o: ResolvedOptions): unknown {
  const e = error as { code?: unknown; message?: unknown }
  const message = typeof e?.message === 'string' ? e.message : ''
  if (e?.code === '42P01' && message.includes(o.registryTable)) {
    return new TenantError(
      'SETUP_MISSING',
      `The tenant registry ${o.schema}.${o.registryTable} does not exist: run migrationSql(tables).up ` +
        '(or your migrations) against this database first.',
      { cause: error },
    )
  }
  if (e?.code === '22023' && /role .* does not exist/s.test(message)) {
    return new TenantError(
      'SETUP_MISSING',
      `${message}: run migrationSql(tables).up (or your migrations) against this database first.`,
      { cause: error },
    )
  }
  if (e?.code === '42501' && /permission denied to set role/.test(message)) {
    return new TenantError(
      'SETUP_MISSING',
      `${message}: the login role must be a member of it. Run migrationSql(tables).up as the login ` +
        'role, or GRANT the role TO the login role (WITH SET TRUE on PostgreSQL 16+).',
      { cause: error },
    )
  }
  return error
}
