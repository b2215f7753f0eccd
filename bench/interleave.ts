/**
 * The one way the benchmarks compare variants: interleaved in short blocks.
 *
 * Within a cycle the variants take turns, each running transactions for a block of about
 * `blockMs` (10 ms, a few dozen transactions), the order rotating every turn; only the time spent
 * inside transactions counts. A burst of load or the scheduler moving the server backend to the
 * other CPU thus lands on every variant alike: timing whole rounds of one variant (250 ms each)
 * instead gave per-cycle ratios anywhere between 0.5 and 1.3 for the same pair on a 2-CPU
 * machine. Blocks rather than single transactions, because an application runs the same kind of
 * transaction over and over: alternating a different variant every transaction keeps the server's
 * code paths cold and penalises whichever variant has the larger one (here, row-level security:
 * 0.70 instead of ~0.80 at one statement per transaction).
 *
 * @module
 */
import { performance } from 'node:perf_hooks'

/** One variant: runs one transaction for `key` (the same key for every variant in a turn). */
export type Run = (key: number) => Promise<unknown>

export interface InterleaveOptions {
  /** Warm-up per variant before measuring, in ms. */
  readonly warmupMs: number
  /** Cycles; each gives one figure per variant (so a ratio has a median and a range). */
  readonly rounds: number
  /** Wall time of a cycle, per variant, in ms. */
  readonly roundMs: number
  /** How long a variant runs before the next one takes its turn, in ms (default 10). */
  readonly blockMs?: number
}

export const median = (xs: readonly number[]): number => {
  const a = [...xs].sort((x, y) => x - y)
  const m = a.length >> 1
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2
}

let cursor = 0

/** Mean milliseconds per transaction of every variant, one figure per cycle. */
export async function interleave(variants: Readonly<Record<string, Run>>, options: InterleaveOptions): Promise<Record<string, number[]>> {
  const keys = Object.keys(variants)
  const runs = keys.map((k) => variants[k]!)
  const blockMs = options.blockMs ?? 10
  for (const run of runs) {
    const end = performance.now() + options.warmupMs
    do await run(cursor++)
    while (performance.now() < end)
  }
  const ms: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]))
  const n = runs.length
  let turn = 0
  for (let r = 0; r < options.rounds; r++) {
    const spent = new Array<number>(n).fill(0)
    const done = new Array<number>(n).fill(0)
    const end = performance.now() + options.roundMs * n
    const start = cursor
    do {
      for (let j = 0; j < n; j++) {
        const i = (j + turn) % n
        // Every variant walks the same keys: its own count from the cycle's first key.
        let key = start + done[i]!
        const t0 = performance.now()
        let now = t0
        do {
          await runs[i]!(key++)
          now = performance.now()
        } while (now - t0 < blockMs)
        spent[i]! += now - t0
        done[i] = key - start
      }
      turn++
    } while (performance.now() < end)
    cursor = start + Math.max(...done)
    keys.forEach((k, i) => ms[k]!.push(spent[i]! / done[i]!))
  }
  return ms
}

/** Transactions per second, per cycle, from `interleave`'s milliseconds per transaction. */
export const perSecond = (ms: readonly number[]): number[] => ms.map((x) => 1000 / x)

/** Throughput of `a` ÷ throughput of `b`: the median of the per-cycle ratios, and their range. */
export function throughputRatio(ms: Readonly<Record<string, readonly number[]>>, a: string, b: string): { ratio: number; range: [number, number] } {
  const ratios = ms[a]!.map((x, r) => ms[b]![r]! / x)
  return { ratio: median(ratios), range: [Math.min(...ratios), Math.max(...ratios)] }
}
