/**
 * Tenant ids: what a caller may pass, and the one canonical text form that reaches the database
 * (as a setting value, a role name suffix or a registry key). Everything here runs before any SQL
 * is sent, so a bad id never costs a round trip and never reaches SQL text.
 *
 * @module
 */
import { InvalidTenantId } from './errors.js'
import type { ResolvedOptions } from './options.js'

/**
 * A tenant id as callers pass it: text or uuid as a string, integer kinds as number or bigint.
 *
 * @example
 * ```ts
 * import type { TenantId } from 'pg-tenants'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * export async function onboard(id: TenantId): Promise<void> {
 *   await manager.createTenant(id)
 * }
 * await onboard('acme') // a text tenant column (or a uuid string for a uuid one)
 * await onboard(42n) // an integer or bigint tenant column: a number or a bigint
 * ```
 */
export type TenantId = string | number | bigint

/**
 * Column types a tenant column may have.
 *
 * @example
 * ```ts
 * import type { TableSpec, TenantColumnType } from 'pg-tenants'
 *
 * const type: TenantColumnType = 'uuid'
 * export const projects: TableSpec = { schema: 'public', name: 'projects', column: 'org_id', type }
 * ```
 */
export type TenantColumnType = 'text' | 'varchar' | 'integer' | 'bigint' | 'uuid'

/**
 * What the manager knows about the tenant columns of its tables.
 *
 * @example
 * ```ts
 * import { canonicalTenantId, type TenantColumnInfo } from 'pg-tenants/adapter'
 *
 * const columns: TenantColumnInfo[] = [{ type: 'varchar', length: 8 }, { type: 'text' }]
 * canonicalTenantId('acme', columns) // 'acme'
 * canonicalTenantId('acme-corp-eu', columns) // throws InvalidTenantId: the tenant column is varchar(8)
 * ```
 */
export interface TenantColumnInfo {
  /** The column's type. */
  readonly type: TenantColumnType
  /** Maximum length in characters, for `varchar(n)`. */
  readonly length?: number | undefined
}

/**
 * Longest tenant id accepted by the `setting` strategy, in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { MAX_TENANT_ID_BYTES } from 'pg-tenants'
 *
 * export const fitsSettingStrategy = (id: string) => new TextEncoder().encode(id).length <= MAX_TENANT_ID_BYTES // 1024
 * ```
 */
export const MAX_TENANT_ID_BYTES = 1024

/** PostgreSQL truncates identifiers to this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const INTEGER_TEXT = /^-?[0-9]+$/
const INT4 = { min: -(2n ** 31n), max: 2n ** 31n - 1n }
const INT8 = { min: -(2n ** 63n), max: 2n ** 63n - 1n }

const encoder = new TextEncoder()

/** UTF-8 length of a string, in bytes. */
export function byteLength(text: string): number {
  return encoder.encode(text).length
}

/**
 * Validates a tenant id against every tenant column the manager knows of and returns its
 * canonical text form. Throws {@link InvalidTenantId}.
 *
 * @param id what the caller passed.
 * @param columns the tenant columns the id must fit.
 * @param maxBytes the byte budget for the canonical form (smaller for the `role` strategy, whose
 *   role names PostgreSQL would silently truncate).
 *
 * @example
 * ```ts
 * import { canonicalTenantId } from 'pg-tenants/adapter'
 *
 * canonicalTenantId(42n, [{ type: 'bigint' }]) // '42'
 * canonicalTenantId('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', [{ type: 'uuid' }]) // 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
 * canonicalTenantId('acme', [{ type: 'varchar', length: 3 }]) // throws InvalidTenantId
 * ```
 */
export function canonicalTenantId(id: unknown, columns: readonly TenantColumnInfo[], maxBytes: number = MAX_TENANT_ID_BYTES): string {
  const text = baseText(id)
  for (const column of columns) checkColumn(id, text, column)
  const bytes = byteLength(text)
  if (bytes > maxBytes) {
    throw new InvalidTenantId(id, `it is ${bytes} bytes long; the limit here is ${maxBytes} bytes`)
  }
  return columns.some((c) => c.type === 'uuid') ? text.toLowerCase() : text
}

function baseText(id: unknown): string {
  if (typeof id === 'string') {
    if (id.length === 0) throw new InvalidTenantId(id, 'it is empty')
    if (id.includes('\0')) throw new InvalidTenantId(id, 'it contains a NUL byte')
    if (!id.isWellFormed()) throw new InvalidTenantId(id, 'it contains a lone UTF-16 surrogate')
    return id
  }
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id)) {
      throw new InvalidTenantId(id, 'numbers must be safe integers (use a bigint or a string)')
    }
    return String(id)
  }
  if (typeof id === 'bigint') return String(id)
  throw new InvalidTenantId(id, `expected a string, number or bigint, got ${typeof id}`)
}

function checkColumn(id: unknown, text: string, column: TenantColumnInfo): void {
  switch (column.type) {
    case 'text':
    case 'varchar':
      if (typeof id !== 'string') {
        throw new InvalidTenantId(id, `the tenant column is ${column.type}: pass a string`)
      }
      if (column.length !== undefined && [...id].length > column.length) {
        throw new InvalidTenantId(id, `the tenant column is varchar(${column.length})`)
      }
      return
    case 'uuid':
      if (typeof id !== 'string' || !UUID.test(id)) {
        throw new InvalidTenantId(id, 'the tenant column is uuid: pass a uuid string')
      }
      return
    case 'integer':
    case 'bigint': {
      if (!INTEGER_TEXT.test(text)) {
        throw new InvalidTenantId(id, `the tenant column is ${column.type}: pass an integer`)
      }
      const value = BigInt(text)
      const range = column.type === 'integer' ? INT4 : INT8
      if (value < range.min || value > range.max || String(value) !== text) {
        throw new InvalidTenantId(id, `it does not fit the ${column.type} tenant column`)
      }
      return
    }
  }
}

/**
 * The canonical text of a tenant id for a manager with these options and tenant columns, or
 * `InvalidTenantId`: a pure function, so that a CLI or an adapter can check ids before it has a
 * connection. The `role` strategy's budget is what is left of a role name after the prefix.
 *
 * @example
 * ```ts
 * import { resolveOptions, tenantIdText } from 'pg-tenants/adapter'
 *
 * tenantIdText('acme', resolveOptions({ strategy: 'role' }), [{ type: 'text' }]) // 'acme'
 * ```
 */
export function tenantIdText(id: unknown, options: Pick<ResolvedOptions, 'strategy' | 'rolePrefix'>, columns: readonly TenantColumnInfo[]): string {
  const budget = options.strategy === 'role' ? MAX_IDENTIFIER_BYTES - byteLength(options.rolePrefix) : MAX_TENANT_ID_BYTES
  return canonicalTenantId(id, columns, budget)
}
