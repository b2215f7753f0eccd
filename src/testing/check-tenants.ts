/**
 * The two throwaway tenants of an isolation check: ids that fit every tenant column involved
 * and cannot collide with real tenants or with a concurrent check.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import type { TableSpec } from '../core/migration.js'
import type { TenantId } from '../core/tenant-id.js'

/** A pair of throwaway tenants, as canonical text (what scopes and the registry use). */
export interface CheckTenants {
  readonly a: string
  readonly b: string
}

/**
 * Picks two fresh tenant ids valid for every given tenant column: uuids when a column is uuid,
 * large random integers when one is integer or bigint, else `pgt-check-<random>-a` / `-b`.
 * Integers are kept as digit strings, which text and integer columns alike accept.
 */
export function checkTenants(specs: readonly TableSpec[]): CheckTenants {
  const types = new Set(specs.map((s) => s.type))
  const numeric = types.has('integer') || types.has('bigint')
  if (types.has('uuid') && numeric) {
    throw new TenantError('INVALID_OPTIONS', 'No tenant id fits both a uuid and an integer tenant column: check these tables in separate calls.')
  }
  if (types.has('uuid')) return distinct(() => crypto.randomUUID())
  if (numeric) {
    // integer: within int4 but far from small hand-made ids; bigint only: beyond int4, still a
    // safe integer so that `mode: 'number'` columns read it back exactly.
    const [low, span] = types.has('integer') ? [1_000_000_000, 1_147_483_647] : [2 ** 40, 2 ** 52]
    return distinct(() => String(low + Math.floor(Math.random() * span)))
  }
  const random = crypto.randomUUID().slice(0, 8)
  return { a: `pgt-check-${random}-a`, b: `pgt-check-${random}-b` }
}

function distinct(make: () => string): CheckTenants {
  const a = make()
  let b = make()
  while (b === a) b = make()
  return { a, b }
}

/** The tenant id as a value of the table's tenant column, for the caller's row builder and for
 * comparisons: a number for integer, a bigint for a `mode: 'bigint'` bigint, text otherwise. */
export function columnValue(text: string, spec: TableSpec, bigintMode: boolean): TenantId {
  if (spec.type === 'integer') return Number(text)
  if (spec.type === 'bigint') return bigintMode ? BigInt(text) : Number(text)
  return text
}
