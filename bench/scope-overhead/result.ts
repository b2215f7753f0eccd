/**
 * What one phase (a driver and a strategy) measures, and the ratios drawn from its per-cycle
 * throughput: a ratio is the median of the per-cycle ratios, with their range.
 *
 * @module
 */
import type { Strategy } from '../../src/core/options.js'
import { median } from '../interleave.js'
import type { RoundTrips } from './round-trips.js'

export interface Ratio {
  ratio: number
  range: [number, number]
}

export interface PhaseResult {
  driver: 'node-postgres' | 'PGlite'
  strategy: Strategy
  labels: Record<string, string>
  roundTrips: Record<string, RoundTrips>
  tps: Record<string, number[]>
  ratio: number // median per-cycle scoped / plain (drizzle)
  ratioRange: [number, number]
  /** The same, with STMTS selects per transaction (scoped10 / plain10). */
  ratio10: number
  ratio10Range: [number, number]
  /** Scoping alone: withTenant on items_plain ÷ db.transaction on items_plain, 1 and STMTS selects. */
  alone: number
  aloneRange: [number, number]
  alone10: number
  alone10Range: [number, number]
  /** Scoping + RLS ÷ db.transaction with the tenant filter written by hand (the same work without
   * RLS), 1 and STMTS selects. */
  filtered: number
  filteredRange: [number, number]
  filtered10: number
  filtered10Range: [number, number]
  /** node-postgres only (informational): named prepared statements at STMTS selects, withTenant
   * on items ÷ db.transaction on items_plain (both named), and each ÷ the unnamed baseline. */
  prepared10?: (Ratio & { scopedVsUnnamed: number; plainVsUnnamed: number }) | undefined
  /** Median per-cycle raw-variant / rawPlain: the server's cost of scope + RLS, without JS. */
  rawRatios: Record<string, number>
  connects: number
  /** The library's BEGIN+scope message for tenant t3, as captured from the wire ('' on PGlite). */
  message: string
  /** current_user inside withTenant('t3'), and what it should be. */
  scopeUser: { expected: string; actual: string }
}

/** Median and range of the per-cycle ratios tps[a] / tps[b]. */
export function pairRatio(tps: Record<string, number[]>, a: string, b: string): Ratio {
  const ratios = tps[a]!.map((x, r) => x / tps[b]![r]!)
  return { ratio: median(ratios), range: [Math.min(...ratios), Math.max(...ratios)] }
}

/** Median per-cycle scoped/plain ratios, for 1 and STMTS statements per transaction, for both
 * families (scoping + RLS policies on items, scoping alone on items_plain). */
export function ratiosOf(
  tps: Record<string, number[]>,
): Pick<
  PhaseResult,
  | 'ratio'
  | 'ratioRange'
  | 'ratio10'
  | 'ratio10Range'
  | 'alone'
  | 'aloneRange'
  | 'alone10'
  | 'alone10Range'
  | 'filtered'
  | 'filteredRange'
  | 'filtered10'
  | 'filtered10Range'
  | 'prepared10'
> {
  const rls = pairRatio(tps, 'scoped', 'plain')
  const rls10 = pairRatio(tps, 'scoped10', 'plain10')
  const alone = pairRatio(tps, 'scopedPlain', 'plain')
  const alone10 = pairRatio(tps, 'scopedPlain10', 'plain10')
  const filtered = pairRatio(tps, 'scoped', 'filtered')
  const filtered10 = pairRatio(tps, 'scoped10', 'filtered10')
  const prep = tps['scopedPrep10'] && tps['plainPrep10'] ? pairRatio(tps, 'scopedPrep10', 'plainPrep10') : undefined
  return {
    ratio: rls.ratio,
    ratioRange: rls.range,
    ratio10: rls10.ratio,
    ratio10Range: rls10.range,
    alone: alone.ratio,
    aloneRange: alone.range,
    alone10: alone10.ratio,
    alone10Range: alone10.range,
    filtered: filtered.ratio,
    filteredRange: filtered.range,
    filtered10: filtered10.ratio,
    filtered10Range: filtered10.range,
    prepared10: prep && {
      ...prep,
      scopedVsUnnamed: pairRatio(tps, 'scopedPrep10', 'plain10').ratio,
      plainVsUnnamed: pairRatio(tps, 'plainPrep10', 'plain10').ratio,
    },
  }
}

/** Median per-cycle tps of each raw reference ÷ raw pg's plain transaction. */
export function rawRatiosOf(tps: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(
    ['rawLibrary', 'rawDesign'].filter((key) => tps[key]).map((key) => [key, median(tps[key]!.map((x, r) => x / tps['rawPlain']![r]!))]),
  )
}
