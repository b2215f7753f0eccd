/**
 * One phase: a stack and a strategy, on the stack's one connection. It checks that the scope
 * runs as the tenant role and sees only the tenant's rows (and the plain transaction, as the
 * owner, none of `items`), counts round trips, then measures the variants' throughput
 * interleaved (bench/interleave.ts). A stack with a peer's published pattern (Prisma's client
 * extension) has that pattern's variants in the same run, checked and counted the same way.
 *
 * @module
 */
import type { Strategy } from '../../src/core/options.js'
import { interleave, median, throughputRatio } from '../interleave.js'
import { check } from '../lib/workload.js'
import type { RoundTrips } from '../scope-overhead/round-trips.js'
import type { Ratio } from '../scope-overhead/result.js'
import type { Variant } from '../scope-overhead/variants.js'
import * as c from './config.js'
import type { BenchStack, PatternStack, Row, Table } from './stack.js'

/** The variants: withTenant on items (RLS), on items_plain (scoping alone), and the plain
 * transaction on items_plain, each with 1 and STMTS selects. */
export const VARIANT_KEYS = ['rls', 'alone', 'plain', 'rls10', 'alone10', 'plain10'] as const
export type VariantKey = (typeof VARIANT_KEYS)[number]

/** The ratios, each withTenant ÷ the plain transaction with as many selects. */
export const RATIOS = {
  alone: ['alone', 'plain'],
  rls: ['rls', 'plain'],
  alone10: ['alone10', 'plain10'],
  rls10: ['rls10', 'plain10'],
} as const satisfies Record<string, readonly [VariantKey, VariantKey]>
export type RatioKey = keyof typeof RATIOS

/** A pattern's variants (x…: the pattern in place of withTenant), against the same plain transaction. */
export const PATTERN_KEYS = ['xrls', 'xalone', 'xrls10', 'xalone10'] as const
export type PatternKey = (typeof PATTERN_KEYS)[number]
const PATTERN_RATIOS = {
  alone: ['xalone', 'plain'],
  rls: ['xrls', 'plain'],
  alone10: ['xalone10', 'plain10'],
  rls10: ['xrls10', 'plain10'],
} as const satisfies Record<RatioKey, readonly [PatternKey, VariantKey]>

/** A pattern measured beside the scope: its round trips, its ratios against the stack's plain transaction. */
export interface PatternResult {
  readonly label: string
  readonly roundTrips: Readonly<Record<PatternKey, RoundTrips>>
  readonly ratios: Readonly<Record<RatioKey, Ratio>>
  readonly addedUs: Readonly<Record<RatioKey, number>>
  /** The pattern's one-off observation (`PatternStack.note`). */
  readonly note?: string | undefined
}

export interface StackResult {
  readonly stack: c.StackName
  readonly strategy: Strategy
  /** PGlite: calls into the WASM backend, not network round trips. */
  readonly embedded: boolean
  readonly roundTrips: Readonly<Record<VariantKey, RoundTrips>>
  /** Mean milliseconds per transaction, one figure per cycle. */
  readonly ms: Readonly<Record<VariantKey, number[]>>
  readonly ratios: Readonly<Record<RatioKey, Ratio>>
  /** What withTenant adds to a transaction, in µs: the median per-cycle difference of the same pairs. */
  readonly addedUs: Readonly<Record<RatioKey, number>>
  /** Why the run must fail (round trips, a scope that did not apply, a reconnect); empty when none. */
  readonly problems: readonly string[]
  readonly pattern?: PatternResult | undefined
}

/**
 * Calls a scope costs beyond the plain transaction: none on the network stacks (the scope rides
 * in the BEGIN and COMMIT messages), two into PGlite (the scoping, and the session reset before
 * PGlite's own COMMIT: docs/benchmarks.md). Anything else fails the run.
 */
export const extraCalls = (embedded: boolean) => (embedded ? 2 : 0)

function variantsOf(stack: BenchStack, pattern: PatternStack | undefined): Variant[] {
  const one = (i: number) => [c.keyAt(i)]
  const ten = (i: number) => Array.from({ length: c.STMTS }, (_, j) => c.keyOf(i, j))
  const variant = (
    key: VariantKey | PatternKey,
    label: string,
    keysOf: (i: number) => number[],
    run: (tenant: string, keys: number[]) => Promise<Row[]>,
  ): Variant => ({
    key,
    label,
    run: async (i) => {
      const keys = keysOf(i)
      const tenant = c.tenantOf(keys[0]!)
      const rows = await run(tenant, keys)
      check(rows.length === keys.length && rows.every((r, j) => r.id === keys[j] && r.tenant === tenant), `${label}, transaction ${i}`)
    },
  })
  const scoped = (table: Table) => (tenant: string, keys: number[]) => stack.scoped(tenant, table, keys)
  const plain = (_: string, keys: number[]) => stack.plain(keys)
  const x = (table: Table) => (tenant: string, keys: number[]) => pattern!.scoped(tenant, table, keys)
  const patterns = pattern
    ? [
        variant('xrls', `${pattern.label}, items (RLS)`, one, x('items')),
        variant('xalone', `${pattern.label}, items_plain`, one, x('items_plain')),
        variant('xrls10', `${pattern.label}, items (RLS), ${c.STMTS} selects`, ten, x('items')),
        variant('xalone10', `${pattern.label}, items_plain, ${c.STMTS} selects`, ten, x('items_plain')),
      ]
    : []
  return [
    variant('rls', 'withTenant, items (RLS)', one, scoped('items')),
    variant('alone', 'withTenant, items_plain', one, scoped('items_plain')),
    variant('plain', 'plain transaction, items_plain', one, plain),
    variant('rls10', `withTenant, items (RLS), ${c.STMTS} selects`, ten, scoped('items')),
    variant('alone10', `withTenant, items_plain, ${c.STMTS} selects`, ten, scoped('items_plain')),
    variant('plain10', `plain transaction, items_plain, ${c.STMTS} selects`, ten, plain),
    ...patterns,
  ]
}

/** Round trips per transaction of every variant, in the steady state (after RT_WARMUP). */
async function roundTripsOf(variants: readonly Variant[], stack: BenchStack): Promise<Record<VariantKey | PatternKey, RoundTrips>> {
  const out: Partial<Record<VariantKey | PatternKey, RoundTrips>> = {}
  const { counter } = stack
  for (const v of variants) {
    for (let i = 0; i < c.RT_WARMUP; i++) await v.run(i)
    counter.queries = 0
    counter.ready = 0
    for (let i = 0; i < c.RT_SAMPLE; i++) await v.run(c.RT_WARMUP + i)
    out[v.key as VariantKey | PatternKey] = { queries: counter.queries / c.RT_SAMPLE, ready: counter.ready / c.RT_SAMPLE }
  }
  return out as Record<VariantKey | PatternKey, RoundTrips>
}

/** What makes a phase fail: a scope that did not switch role or saw other rows, the owner seeing
 * rows (it would be bypassing RLS), round trips that differ, a connection reopened. */
async function scopeProblems(stack: BenchStack, strategy: Strategy): Promise<string[]> {
  const problems: string[] = []
  const inScope = await stack.probe('t3')
  const role = c.scopeRoleOf(strategy, 't3')
  if (inScope.user !== role) problems.push(`withTenant('t3') ran as ${inScope.user}, not ${role}`)
  if (inScope.tenants.length !== c.ROWS_PER_TENANT || inScope.tenants.some((t) => t !== 't3')) {
    problems.push(`withTenant('t3') saw ${inScope.tenants.length} rows of items, not t3's ${c.ROWS_PER_TENANT} alone`)
  }
  const outside = await stack.probe(undefined)
  if (outside.user !== c.OWNER) problems.push(`the plain transaction ran as ${outside.user}, not the owner ${c.OWNER}`)
  if (outside.tenants.length !== 0) problems.push(`the plain transaction saw ${outside.tenants.length} rows of items (FORCE RLS, no tenant: none)`)
  if (stack.pattern) {
    // The pattern must pass RLS honestly too: as the tenant role, t3's rows and no other.
    const seen = await stack.pattern.probe('t3')
    const label = `${stack.pattern.label} for 't3'`
    if (seen.user !== role) problems.push(`${label} ran as ${seen.user}, not ${role}`)
    if (seen.tenants.length !== c.ROWS_PER_TENANT || seen.tenants.some((t) => t !== 't3')) {
      problems.push(`${label} saw ${seen.tenants.length} rows of items, not t3's ${c.ROWS_PER_TENANT} alone`)
    }
  }
  return problems
}

function roundTripProblems(roundTrips: Record<VariantKey, RoundTrips>, embedded: boolean): string[] {
  const extra = extraCalls(embedded)
  const problems: string[] = []
  for (const [scoped, plain] of [
    ['rls', 'plain'],
    ['alone', 'plain'],
    ['rls10', 'plain10'],
    ['alone10', 'plain10'],
  ] as const) {
    const a = roundTrips[scoped]
    const b = roundTrips[plain]
    if (a.queries !== a.ready || b.queries !== b.ready || a.queries !== b.queries + extra) {
      const rfq = (x: RoundTrips) => `${x.queries} calls, ${x.ready} ReadyForQuery`
      problems.push(`round trips: ${scoped} ${rfq(a)} vs ${plain} ${rfq(b)}${extra ? ` (expected ${extra} more calls into PGlite)` : ''}`)
    }
  }
  return problems
}

type Pairs = Record<RatioKey, readonly [string, string]>
const ratiosOf = (ms: Record<string, number[]>, pairs: Pairs) =>
  Object.fromEntries(Object.entries(pairs).map(([k, [a, b]]) => [k, throughputRatio(ms, a, b)])) as Record<RatioKey, Ratio>
const addedUsOf = (ms: Record<string, number[]>, pairs: Pairs) =>
  Object.fromEntries(Object.entries(pairs).map(([k, [a, b]]) => [k, 1000 * median(ms[a]!.map((x, r) => x - ms[b]![r]!))])) as Record<RatioKey, number>

export async function measure(name: c.StackName, strategy: Strategy, stack: BenchStack, embedded: boolean): Promise<StackResult> {
  const problems = await scopeProblems(stack, strategy)
  const variants = variantsOf(stack, stack.pattern)
  const roundTrips = await roundTripsOf(variants, stack)
  problems.push(...roundTripProblems(roundTrips, embedded))
  const ms = (await interleave(Object.fromEntries(variants.map((v) => [v.key, v.run])), {
    warmupMs: c.WARMUP_MS,
    rounds: c.ROUNDS,
    roundMs: c.ROUND_MS,
  })) as Record<VariantKey | PatternKey, number[]>
  const connections = stack.connections ?? 1
  if (stack.counter.connects !== connections) {
    problems.push(`${stack.counter.connects} connections opened, not ${connections}: one was destroyed and replaced`)
  }
  let pattern: PatternResult | undefined
  if (stack.pattern) {
    const trips = Object.fromEntries(PATTERN_KEYS.map((k) => [k, roundTrips[k]])) as Record<PatternKey, RoundTrips>
    for (const [k, x] of Object.entries(trips)) {
      if (x.queries !== x.ready) problems.push(`round trips: ${stack.pattern.label} ${k}: ${x.queries} calls, ${x.ready} ReadyForQuery`)
    }
    const note = await stack.pattern.note?.()
    pattern = { label: stack.pattern.label, roundTrips: trips, ratios: ratiosOf(ms, PATTERN_RATIOS), addedUs: addedUsOf(ms, PATTERN_RATIOS), note }
  }
  return { stack: name, strategy, embedded, roundTrips, ms, ratios: ratiosOf(ms, RATIOS), addedUs: addedUsOf(ms, RATIOS), problems, pattern }
}

/** Median transactions per second of a variant. */
export const tpsOf = (r: StackResult, key: VariantKey) => 1000 / median(r.ms[key])
