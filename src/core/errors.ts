/**
 * The error family of pg-tenants. Every error has a stable string `code` to branch on, a message
 * that says what to do, and — when the database said no — the driver's error as `cause`, so that
 * its SQLSTATE (for example `42501` for a write that row-level security rejected) stays reachable.
 *
 * @module
 */

/** Every code a {@link TenantError} can carry. Documented in the README under "Errors". */
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

/**
 * Base class of every error thrown by pg-tenants.
 *
 * @example
 * ```ts
 * try {
 *   await manager.withTenant(id, work, { createIfMissing: false })
 * } catch (error) {
 *   if (error instanceof TenantError && error.code === 'TENANT_NOT_FOUND') return notFound()
 *   throw error
 * }
 * ```
 */
export class TenantError extends Error {
  override name = 'TenantError'
  readonly code: TenantErrorCode

  constructor(code: TenantErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** The tenant does not exist (and the call did not ask to create it). */
export class TenantNotFound extends TenantError {
  override name = 'TenantNotFound'
  readonly tenant: string

  constructor(tenant: string, options?: { cause?: unknown }) {
    super(
      'TENANT_NOT_FOUND',
      `Tenant ${JSON.stringify(tenant)} does not exist. Create it with manager.createTenant(id), ` +
        'or pass { createIfMissing: true }.',
      options,
    )
    this.tenant = tenant
  }
}

/** `createTenant` was called for a tenant that already exists. */
export class TenantAlreadyExists extends TenantError {
  override name = 'TenantAlreadyExists'
  readonly tenant: string

  constructor(tenant: string, options?: { cause?: unknown }) {
    super(
      'TENANT_ALREADY_EXISTS',
      `Tenant ${JSON.stringify(tenant)} already exists. Use it as it is, or delete it first with ` +
        'manager.deleteTenant(id).',
      options,
    )
    this.tenant = tenant
  }
}

/** A tenant id was rejected before any SQL was sent. `reason` says why. */
export class InvalidTenantId extends TenantError {
  override name = 'InvalidTenantId'
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
 * const rejectedByRls = sqlState(error) === '42501'
 * ```
 */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 10 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** True when the error (or its cause) is a write that row-level security rejected: PostgreSQL's
 * `insufficient_privilege` (42501) for a row that a policy's WITH CHECK refused ("new row violates
 * row-level security policy"). False for the other 42501s, such as a missing grant ("permission
 * denied for table"), and for a `TenantError` (a setup problem pg-tenants explained, whatever its
 * cause): check `sqlState(error) === '42501'` for every "permission denied". */
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
    current = (current as { cause?: unknown }).cause
  }
  return false
}
