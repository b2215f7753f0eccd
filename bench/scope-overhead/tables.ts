/**
 * The report's two tables, as aligned text for the console and as markdown for RESULTS.md: every
 * variant's round trips and throughput, then the three families side by side.
 *
 * @module
 */
import { median } from '../interleave.js'
import { STMTS, TARGET, TARGET_MULTI } from './config.js'
import { fmt, pad, rangeText, ratioText, rt } from './format.js'
import type { PhaseResult } from './result.js'

/** Lines for the console and for the markdown file, written in step. */
export interface Section {
  readonly lines: string[]
  readonly md: string[]
}

/** One row per variant: round trips, tx/s, and tx/s ÷ the db.transaction of its statement count. */
export function variantTable(results: readonly PhaseResult[]): Section {
  const lines: string[] = []
  const md: string[] = []
  const header = ['strategy', 'variant', 'round trips', 'tx/s (median)', 'min–max', 'vs db.transaction']
  const widths = [16, 46, 12, 14, 16, 17]
  lines.push(header.map((h, i) => pad(h, widths[i]!, i >= 2)).join(' '))
  lines.push(widths.map((w) => '-'.repeat(w)).join(' '))
  md.push(`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i >= 2 ? '---:' : '---')).join('|')}|`)
  for (const r of results) {
    for (const key of Object.keys(r.labels)) {
      const xs = r.tps[key]!
      const base = key.endsWith('10') ? 'plain10' : 'plain'
      const rel = median(xs.map((x, i) => x / r.tps[base]![i]!))
      const cells = [
        r.driver === 'PGlite' ? `${r.strategy} (PGlite)` : r.strategy,
        r.labels[key]!,
        r.driver === 'PGlite' ? `${rt(r.roundTrips[key])} calls` : rt(r.roundTrips[key]),
        fmt(median(xs)),
        `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`,
        rel.toFixed(2),
      ]
      lines.push(cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join(' '))
      md.push(`| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`)
    }
  }
  lines.push('')
  md.push('')
  return { lines, md }
}

/** The two families side by side: per driver, strategy and statement count, each ÷ the same
 * db.transaction on items_plain, each with its verdict. */
export function familyTable(results: readonly PhaseResult[]): Section {
  const lines: string[] = []
  const md: string[] = []
  const cell = (v: number, range: [number, number], target: number) => `${ratioText(v, target)} [${rangeText(range)}] ${v >= target ? 'OK' : 'BELOW'}`
  const sideHeader = [
    'driver',
    'strategy',
    'statements',
    'target',
    'scoping alone (items_plain)',
    'scoping + RLS policies (items)',
    'scoping + RLS ÷ WHERE tenant by hand',
  ]
  const sideWidths = [13, 8, 22, 6, 30, 30, 36]
  lines.push(
    'withTenant ÷ db.transaction on items_plain (last column: ÷ db.transaction filtering by tenant by hand), median of per-cycle ratios [per-cycle range]:',
  )
  lines.push(sideHeader.map((h, i) => pad(h, sideWidths[i]!)).join(' '))
  lines.push(sideWidths.map((w) => '-'.repeat(w)).join(' '))
  md.push(
    '**Scoping alone, scoping + RLS policies, and RLS vs the filter by hand** (each ÷ a `db.transaction` on `items_plain` in the same cycle; median of per-cycle ratios, per-cycle range in brackets).',
    '"Scoping alone" is `withTenant` on `items_plain`, the baseline\'s own table where no policy applies: what the library itself costs',
    '(the BEGIN message with the scope, the role switch, the registry check, the ORM binding).',
    '"Scoping + RLS policies" is `withTenant` on `items` under FORCE ROW LEVEL SECURITY: the same plus what PostgreSQL pays to plan the',
    'policies into every unnamed statement (measured alone, inside the server, by bench/policy-cost.ts).',
    '"Scoping + RLS ÷ WHERE tenant by hand" compares the same `withTenant` on `items` with what an application without RLS',
    'runs for the same rows: `db.transaction` on `items_plain` with `WHERE id = $1 AND tenant = $2` written in every query.',
    'The named-prepared row is informational (no target): both sides use named statements, so the plan cache spares the re-planning.',
    '',
    `| ${sideHeader.join(' | ')} |`,
    '|---|---|---|---:|---:|---:|---:|',
  )
  const sideRow = (cells: string[]) => {
    lines.push(cells.map((c, i) => pad(c, sideWidths[i]!)).join(' '))
    md.push(`| ${cells.join(' | ')} |`)
  }
  for (const r of results) {
    sideRow([
      r.driver,
      r.strategy,
      '1',
      String(TARGET),
      cell(r.alone, r.aloneRange, TARGET),
      cell(r.ratio, r.ratioRange, TARGET),
      cell(r.filtered, r.filteredRange, TARGET),
    ])
    sideRow([
      r.driver,
      r.strategy,
      String(STMTS),
      String(TARGET_MULTI),
      cell(r.alone10, r.alone10Range, TARGET_MULTI),
      cell(r.ratio10, r.ratio10Range, TARGET_MULTI),
      cell(r.filtered10, r.filtered10Range, TARGET_MULTI),
    ])
    if (r.prepared10) {
      const p = r.prepared10
      sideRow([r.driver, r.strategy, `${STMTS}, named prepared`, '—', '—', `${p.ratio.toFixed(2)} [${rangeText(p.range)}] vs named baseline`, '—'])
    }
  }
  lines.push('')
  md.push('')
  return { lines, md }
}
