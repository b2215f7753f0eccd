/**
 * The workload the benchmarks share: which tenant a seeded row belongs to, which keys a
 * transaction reads, and the check that an answer is the right one.
 *
 * @module
 */

/** Keys over `rows` seeded rows, row `id` belonging to tenant `t${id % tenants}`. */
export interface KeyWalk {
  /** The tenant that owns row `id`. */
  readonly tenantOf: (id: number) => string
  /** The key transaction `i` reads: a deterministic walk over all keys (7919 is prime, coprime with the row counts used). */
  readonly keyAt: (i: number) => number
  /** The j-th key of transaction `i` when it reads several: all of the same tenant as `keyAt(i)`. */
  readonly keyOf: (i: number, j: number) => number
}

export function keyWalk(rows: number, tenants: number): KeyWalk {
  const keyAt = (i: number) => 1 + ((i * 7919) % rows)
  return {
    tenantOf: (id) => `t${id % tenants}`,
    keyAt,
    keyOf: (i, j) => 1 + ((keyAt(i) - 1 + j * tenants * 37) % rows),
  }
}

/** Throws when a transaction got a wrong answer: a benchmark of wrong results measures nothing. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`wrong result: ${what}`)
}
