/**
 * The error family of pg-tenants. Every error has a stable string `code` to branch on, a message
 * that says what to do, and — when the database said no — the driver's error as `cause`, so that
 * its SQLSTATE (for example `42501` for a write that row-level security rejected) stays reachable.
 *
 * @module
 */

/**
 * Every code a {@link TenantError} can carry. Each is documented in docs/errors.md, "Error codes".
 *
 * @example
 * ```ts
 * import { TenantError, type TenantErrorCode } from 'pg-tenants'
 *
 * const STATUS: Partial<Record<TenantErrorCode, number>> = { TENANT_NOT_FOUND: 404, INVALID_TENANT_ID: 400, NESTED_SCOPE: 500 }
 *
 * export function httpStatus(error: unknown): number {
 *   return error instanceof TenantError ? (STATUS[error.code] ?? 500) : 500
 * }
 * ```
 */
export type TenantErrorCode =
  | 'TENANT_NOT_FOUND'
  | 'TENANT_ALREADY_EXISTS'
  | 'INVALID_TENANT_ID'
  | 'INVALID_OPTIONS'
  | 'UNSUPPORTED_CLIENT'
  | 'SESSION_CLOSED'
  | 'TRANSACTION_ABORTED'
  | 'SETUP_MISSING'
  | 'ISOLATION_FAILED'
  | 'NESTED_SCOPE'
  | 'TENANT_HAS_OBJECTS'
  | 'UNSUPPORTED_OPERATION'
  | 'NO_TENANT_CONTEXT'

/**
 * Base class of every error thrown by pg-tenants.
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import { TenantError } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * export async function countTodos(tenant: string) {
 *   try {
 *     return await manager.withTenant(tenant, (tx) => tx.execute(sql`select count(*) from todos`), { createIfMissing: false })
 *   } catch (error) {
 *     if (error instanceof TenantError && error.code === 'TENANT_NOT_FOUND') return undefined
 *     throw error
 *   }
 * }
 * ```
 */
export class TenantError extends Error {
  /** `'TenantError'`; each subclass sets its own class name. */
  override name = 'TenantError'
  /** What went wrong, stable across versions: the value to branch on. */
  readonly code: TenantErrorCode

  /**
   * @param code the error's {@link TenantErrorCode}.
   * @param message what happened and what to do about it.
   * @param options `cause`: the driver error behind it, if any.
   */
  constructor(code: TenantErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/**
 * The tenant does not exist (and the call did not ask to create it). Code `'TENANT_NOT_FOUND'`.
 *
 * @example
 * ```ts
 * import { TenantNotFound } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * try {
 *   await manager.deleteTenant('acme')
 * } catch (error) {
 *   if (!(error instanceof TenantNotFound)) throw error
 *   console.log(`${error.tenant} was already gone`)
 * }
 * ```
 */
export class TenantNotFound extends TenantError {
  /** `'TenantNotFound'`. */
  override name = 'TenantNotFound'
  /** The tenant id, as text. */
  readonly tenant: string

  constructor(tenant: string, options?: { cause?: unknown }) {
    super(
      'TENANT_NOT_FOUND',
      `Tenant ${JSON.stringify(tenant)} does not exist. Create it with manager.createTenant(id), ` + 'or pass { createIfMissing: true }.',
      options,
    )
    this.tenant = tenant
  }
}

/**
 * `createTenant` was called for a tenant that already exists. Code `'TENANT_ALREADY_EXISTS'`.
 *
 * @example
 * ```ts
 * import { TenantAlreadyExists } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * try {
 *   await manager.createTenant('acme')
 * } catch (error) {
 *   if (!(error instanceof TenantAlreadyExists)) throw error
 * }
 * ```
 */
export class TenantAlreadyExists extends TenantError {
  /** `'TenantAlreadyExists'`. */
  override name = 'TenantAlreadyExists'
  /** The tenant id, as text. */
  readonly tenant: string

  constructor(tenant: string, options?: { cause?: unknown }) {
    super(
      'TENANT_ALREADY_EXISTS',
      `Tenant ${JSON.stringify(tenant)} already exists. Use it as it is, or delete it first with ` + 'manager.deleteTenant(id).',
      options,
    )
    this.tenant = tenant
  }
}

/**
 * A tenant id was rejected before any SQL was sent. `reason` says why. Code `'INVALID_TENANT_ID'`.
 *
 * @example
 * ```ts
 * import { InvalidTenantId } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * try {
 *   await manager.createTenant('')
 * } catch (error) {
 *   if (error instanceof InvalidTenantId) console.error(error.reason) // 'it is empty'
 *   else throw error
 * }
 * ```
 */
export class InvalidTenantId extends TenantError {
  /** `'InvalidTenantId'`. */
  override name = 'InvalidTenantId'
  /** Why the id was refused, in words (`it is empty`, `the tenant column is uuid: pass a uuid string`). */
  readonly reason: string

  constructor(id: unknown, reason: string) {
    super('INVALID_TENANT_ID', `Invalid tenant id ${describe(id)}: ${reason}.`)
    this.reason = reason
  }
}

function describe(id: unknown): string {
  if (typeof id === 'bigint') return `${id}n`
  if (typeof id === 'string') {
    const shown = id.length > 80 ? `${id.slice(0, 80)}…` : id
    return JSON.stringify(shown)
  }
  try {
    return String(JSON.stringify(id) ?? typeof id)
  } catch {
    return typeof id
  }
}

/**
 * Walks an error and its `cause` chain for a PostgreSQL SQLSTATE.
 *
 * @example
 * ```ts
 * import { sqlState } from 'pg-tenants'
 *
 * declare const error: unknown
 * if (sqlState(error) === '42501') console.error('permission denied: a missing grant, or a row-level security policy')
 * ```
 */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 10 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code
    // Prisma's own codes (P2010, …) look like SQLSTATEs: its errors carry `clientVersion`.
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !('clientVersion' in current)) return code
    current = next(current)
  }
  return undefined
}

/**
 * True when the error (or its cause) is a write that row-level security rejected: PostgreSQL's
 * `insufficient_privilege` (42501) for a row that a policy's WITH CHECK refused ("new row violates
 * row-level security policy"). False for the other 42501s, such as a missing grant ("permission
 * denied for table"), and for a `TenantError` (a setup problem pg-tenants explained, whatever its
 * cause): check `sqlState(error) === '42501'` for every "permission denied".
 *
 * @example
 * ```ts
 * import { sql } from 'drizzle-orm'
 * import { isRlsViolation } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * try {
 *   await manager.withTenant('acme', (tx) => tx.execute(sql`insert into todos (title, tenant) values ('x', 'globex')`))
 * } catch (error) {
 *   if (!isRlsViolation(error)) throw error
 *   console.error('acme cannot write a row of globex')
 * }
 * ```
 */
export function isRlsViolation(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 10 && current !== null && typeof current === 'object'; depth++) {
    if (current instanceof TenantError) return false
    const { code, message, routine } = current as { code?: unknown; message?: unknown; routine?: unknown }
    if (code === '42501') {
      // The server function that raised it, which is not translated (lc_messages); the message
      // only when a driver does not pass it on.
      if (typeof routine === 'string' && routine !== '') return routine === 'ExecWithCheckOptions'
      return typeof message === 'string' && message.includes('row-level security')
    }
    current = next(current)
  }
  return false
}

/** The error inside `error`: its `cause`, or for Prisma's errors the driver adapter's error in
 * `meta.driverAdapterError` (whose `cause` holds the SQLSTATE). */
function next(error: object): unknown {
  const { cause, meta } = error as { cause?: unknown; meta?: { driverAdapterError?: unknown } | null }
  return cause ?? (typeof meta === 'object' && meta !== null ? meta.driverAdapterError : undefined)
}
