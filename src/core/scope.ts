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
export type Scope = { readonly kind: 'tenant'; readonly text: string } | { readonly kind: 'admin' }

/** A statement that takes the transaction's snapshot, so that `SET TRANSACTION` is refused after
 * it (see {@link scopeStatements}). */
const SNAPSHOT = 'SELECT'

/** Column name that marks the registry check's row in the prelude's results. */
const FOUND = 'pg_tenants_found'

/**
 * The statements that follow `BEGIN` to scope a transaction. With `checked`, the same message
 * also proves the tenant exists: the `setting` strategy only sets the tenant when the registry
 * lists it (so an unknown tenant stays fail-closed), the `role` strategy looks the role up as a
 * plain member of the tenant group (and `SET ROLE` to a missing role fails anyway).
 *
 * With `modes` (the scope's transaction options, as SQL), the statements end with a `SELECT`,
 * which takes the transaction's snapshot: PostgreSQL refuses `SET TRANSACTION` (25001) only once
 * one is taken, and `SET` statements take none, so without it the caller's `SET TRANSACTION READ
 * WRITE` would turn a read-only scope read-write. Without modes it is left out: a bare `SELECT`
 * costs ~40 µs a transaction (measured on node-postgres), there is no mode to protect, and the
 * checked variants run a `SELECT` anyway.
 */
export function scopeStatements(o: ResolvedOptions, scope: Scope, checked: boolean, modes = ''): string {
  const snapshot = modes === '' ? '' : `; ${SNAPSHOT}`
  if (scope.kind === 'admin') return `SET LOCAL ROLE ${quoteIdent(o.adminRole)}${snapshot}`
  if (o.strategy === 'role') {
    const role = o.rolePrefix + scope.text
    // A role with the right name is a tenant only when it belongs to the tenant group and has no
    // power to bypass row-level security: roles are cluster-wide, anyone may have made one. On
    // Citus, tenant roles log in (to the workers, from the coordinator).
    const check = checked
      ? `SELECT 1 AS ${FOUND} FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid ` +
        `JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = ${quoteLiteral(role)} ` +
        `AND g.rolname = ${quoteLiteral(o.tenantRole)} AND NOT r.rolsuper AND NOT r.rolbypassrls${o.citus ? '' : ' AND NOT r.rolcanlogin'}; `
      : ''
    return checked ? `${check}SET LOCAL ROLE ${quoteIdent(role)}` : `SET LOCAL ROLE ${quoteIdent(role)}${snapshot}`
  }
  const value = quoteLiteral(scope.text)
  if (o.citus) return citusSettingStatements(o, value, checked, snapshot)
  const setTenant = checked
    ? `SELECT set_config(${quoteLiteral(o.settingKey)}, id, true) AS ${FOUND} FROM ${qualified(o.schema, o.registryTable)} WHERE id = ${value}`
    : `SET LOCAL ${o.settingKey} = ${value}`
  return `${setTenant}; SET LOCAL ROLE ${quoteIdent(o.tenantRole)}${checked ? '' : snapshot}`
}

/**
 * The `setting` strategy on Citus. Citus sends the tenant setting to the workers only with
 * `citus.propagate_set_commands = 'local'`, and then it replays the text of the statement each
 * `SET LOCAL` came in on every worker connection of the transaction: for a multi-statement
 * message, the whole message (a `BEGIN` there warns on each worker, a registry lookup fails: the
 * registry is not on the workers). Inside a `DO` block the text of each `SET` is that statement
 * alone, so the scope still costs one message (measured in docs/scale-out.md: no slower than three
 * bare `SET`s). Checked, the block reads the registry once and raises {@link UNREGISTERED} when
 * the tenant is not there, before any `SET`: a second read could miss a tenant the first one saw
 * (deleted in between), and the scope would open with no tenant set, where a worker connection
 * may still hold a tenant from a session-level `set_config` of earlier SQL.
 */
function citusSettingStatements(o: ResolvedOptions, value: string, checked: boolean, snapshot: string): string {
  const registry = qualified(o.schema, o.registryTable)
  const check = checked
    ? `IF NOT EXISTS (SELECT FROM ${registry} WHERE id = ${value}) THEN RAISE EXCEPTION USING ERRCODE = '${UNREGISTERED}', ` +
      `MESSAGE = 'pg-tenants: the tenant is not in the registry'; END IF; `
    : ''
  const sets = `SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ${o.settingKey} = ${value}; SET LOCAL ROLE ${quoteIdent(o.tenantRole)};`
  const block = dollarQuoted(`BEGIN ${check}${sets} END`)
  return `DO ${block}${checked ? `; SELECT 1 AS ${FOUND}` : snapshot}`
}

/** The SQLSTATE of the Citus scope's registry check when the tenant is not listed. */
const UNREGISTERED = 'PGT01'

/** True when a checked Citus scope found no such tenant in the registry. */
export function isUnregisteredTenant(error: unknown): boolean {
  return (error as { code?: unknown })?.code === UNREGISTERED
}

/** `body` between dollar quotes whose tag does not occur in it (a tenant id may hold a `$`). */
function dollarQuoted(body: string): string {
  let tag = '$pgt$'
  for (let n = 1; body.includes(tag.slice(0, -1)); n++) tag = `$pgt${n}$`
  return `${tag}${body}${tag}`
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

/** What a setup error's message can name, when the engine could read it (see
 * {@link SETUP_FACTS_SQL}). */
export interface SetupFacts {
  /** The login (`current_user` outside a scope). */
  readonly login: string
  /** The roles the `pg_tenants_isolation` and `pg_tenants_admin` policies in this database are
   * for: the names the migration was run with. */
  readonly policyRoles: readonly string[]
}

/** Reads {@link SetupFacts}, outside any scope, after a scope failed to open for a setup error. */
export const SETUP_FACTS_SQL = `SELECT current_user::text AS login, ARRAY(
  SELECT DISTINCT r.rolname::text FROM pg_policy p JOIN pg_roles r ON r.oid = ANY (p.polroles)
  WHERE p.polname IN ('pg_tenants_isolation', 'pg_tenants_admin') ORDER BY 1)::text[] AS policy_roles`

/** True for the errors {@link explainSetupError} explains: worth reading {@link SetupFacts} for. */
export function isSetupError(error: unknown, o: ResolvedOptions): boolean {
  return explainSetupError(error, o) !== error
}

const MIGRATE_HINT =
  'run the migration against this database first, as this login (drizzle-kit: `npx pg-tenants generate --schema <file> --out <drizzle dir> && npx drizzle-kit migrate`; otherwise migrationSql(tables).up)'

/** Turns "the migration was not run" (or "was run with other names, or by another login") errors
 * into a SETUP_MISSING that says who must run what. `facts`, when the engine could read them,
 * name the login and the role names the migration used. */
export function explainSetupError(error: unknown, o: ResolvedOptions, facts?: SetupFacts): unknown {
  const e = error as { code?: unknown; message?: unknown }
  const message = typeof e?.message === 'string' ? e.message : ''
  const login = facts ? `"${facts.login}"` : 'the login'
  const registry = `${o.schema}.${o.registryTable}`
  const setup = (text: string) => new TenantError('SETUP_MISSING', text, { cause: error })
  if (e?.code === '42P01' && message.includes(o.registryTable)) {
    return setup(`The tenant registry ${registry} does not exist: ${MIGRATE_HINT}.`)
  }
  if (e?.code === '22023' && /role .* does not exist/s.test(message)) {
    const ours = [o.tenantRole, o.adminRole]
    const others = facts?.policyRoles.filter((r) => !ours.includes(r)) ?? []
    if (others.length > 0) {
      return setup(
        `${message}, but the pg-tenants policies in this database are for ${others.map((r) => `"${r}"`).join(', ')}: ` +
          `the manager's options (tenantRole ${JSON.stringify(o.tenantRole)}, adminRole ${JSON.stringify(o.adminRole)}) differ from the ` +
          "migration's. Give the manager the options the migration was run with.",
      )
    }
    return setup(`${message}: ${MIGRATE_HINT}.`)
  }
  if (e?.code === '42501' && /permission denied to set role/.test(message)) {
    const role = /set role "?([^"]+)"?/.exec(message)?.[1] ?? o.tenantRole
    const ours = [o.tenantRole, o.adminRole]
    const others = facts?.policyRoles.filter((r) => !ours.includes(r)) ?? []
    if (others.length > 0 && !facts?.policyRoles.some((r) => ours.includes(r))) {
      // Granting the role named would join a role this database's policies do not use (maybe
      // another database's): the names differ from the migration's.
      return setup(
        `${message}, and the pg-tenants policies in this database are for ${others.map((r) => `"${r}"`).join(', ')}, not for the manager's ` +
          `roles (tenantRole ${JSON.stringify(o.tenantRole)}, adminRole ${JSON.stringify(o.adminRole)}): give the manager the options the migration was run with.`,
      )
    }
    return setup(
      `${message}: ${login} is not a member of it, so no scope can open; most likely the migration was run by another ` +
        `login (a superuser, say). Run the migration as ${login} (it grants itself the roles), or as a superuser: ` +
        `GRANT "${role}" TO ${facts ? login : '<login>'} WITH INHERIT FALSE, SET TRUE (PostgreSQL 16+; a plain GRANT on 15).`,
    )
  }
  if (e?.code === '42501' && message.includes(`permission denied for table ${o.registryTable}`)) {
    return setup(
      `${message}: ${login} checks tenants in the registry ${registry} as a scope opens, and creates and deletes them there. ` +
        `Run the migration as ${login} (the registry is then its own), or as the registry's owner: ` +
        `GRANT SELECT, INSERT, DELETE ON ${qualified(o.schema, o.registryTable)} TO ${facts ? login : '<login>'}.`,
    )
  }
  return error
}
