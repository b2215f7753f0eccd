/**
 * How the report and the chart write figures.
 *
 * @module
 */
import type { RoundTrips } from './round-trips.js'
import type { PhaseResult } from './result.js'

export function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

/** A throughput, rounded, with thousands separators. */
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/** Round trips per transaction, with the ReadyForQuery count when it differs. */
export const rt = (x: RoundTrips | undefined) => (x === undefined ? 'n/a' : x.queries === x.ready ? String(x.queries) : `${x.queries} (${x.ready} RFQ)`)

/** `setting` on node-postgres, `PGlite, setting` on PGlite (the tag in printed lines). */
export const tagOf = (r: PhaseResult) => (r.driver === 'PGlite' ? `PGlite, ${r.strategy}` : r.strategy)

/** Two decimals, or three when two would round a miss up to the target (0.949 is not 0.95). */
export const ratioText = (v: number, target: number) => (v < target && v.toFixed(2) === target.toFixed(2) ? v.toFixed(3) : v.toFixed(2))

export const verdictOf = (x: number, target: number) => (x >= target ? `>= ${target} OK` : `BELOW TARGET ${target}`)

/** A range of ratios, two decimals each: `0.62–0.77`. */
export const rangeText = (range: readonly [number, number]) => `${range[0].toFixed(2)}–${range[1].toFixed(2)}`
