/**
 * bench/chart.svg: a small hand-written SVG horizontal bar chart of the three families of ratios,
 * per driver, strategy and statement count, each row with its target.
 *
 * @module
 */
import { writeFileSync } from 'node:fs'
import { STMTS, TARGET, TARGET_MULTI } from './config.js'
import { ratioText } from './format.js'
import type { PhaseResult } from './result.js'

const escapeXml = (t: string) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')

/** The three families of ratios, with their colours in the chart. */
const FAMILIES = [
  { name: 'scoping alone', detail: 'withTenant on items_plain ÷ db.transaction', colour: '#3b82c4' },
  { name: 'scoping + RLS policies', detail: 'withTenant on items ÷ db.transaction', colour: '#8e5bb5' },
  { name: 'scoping + RLS policies vs the filter by hand', detail: 'withTenant on items ÷ db.transaction with WHERE tenant =', colour: '#2e9e6b' },
] as const

/**
 * One bar per family (FAMILIES) in every row, with the row's target. A miss is written out beside
 * its bar (and outlined), never rounded up.
 */
export function chartSvg(results: readonly PhaseResult[]): string {
  const rows = results.flatMap((r) => [
    { label: `${r.driver} · ${r.strategy} · 1 statement`, values: [r.alone, r.ratio, r.filtered], target: TARGET },
    { label: `${r.driver} · ${r.strategy} · ${STMTS} statements`, values: [r.alone10, r.ratio10, r.filtered10], target: TARGET_MULTI },
  ])
  const W = 900
  const left = 300
  const right = 170
  const top = 64
  const barH = 15
  const inner = 2 // between the bars of a row
  const rowH = FAMILIES.length * barH + (FAMILIES.length - 1) * inner
  const gap = 14
  const plotW = W - left - right
  const max = Math.max(1.2, Math.ceil(Math.max(...rows.flatMap((b) => b.values)) * 10 + 0.5) / 10)
  const x = (v: number) => left + (v / max) * plotW
  const H = top + rows.length * (rowH + gap) + 72 + 22 * FAMILIES.length
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Scope overhead: withTenant throughput ÷ db.transaction throughput (no RLS)</text>`,
  )
  out.push(
    `<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">higher is better; 1.00 = no overhead; dashed line = target (${TARGET} for 1 statement, ${TARGET_MULTI} for ${STMTS})</text>`,
  )
  // Grid and axis.
  const plotBottom = top + rows.length * (rowH + gap) - gap / 2
  for (let v = 0; v <= max + 1e-9; v += 0.2) {
    const gx = x(v).toFixed(1)
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${plotBottom}" stroke="#e3e3e3"/>`)
    out.push(`<text x="${gx}" y="${plotBottom + 16}" text-anchor="middle" fill="#555">${v.toFixed(1)}</text>`)
  }
  out.push(`<text x="${left + plotW / 2}" y="${plotBottom + 36}" text-anchor="middle" fill="#333">throughput ratio (median of per-cycle ratios)</text>`)
  rows.forEach((row, i) => {
    const y = top + i * (rowH + gap)
    out.push(`<text x="${left - 8}" y="${y + rowH / 2 + 4.5}" text-anchor="end">${escapeXml(row.label)}</text>`)
    row.values.forEach((value, f) => {
      const by = y + f * (barH + inner)
      const ok = value >= row.target
      const outline = ok ? '' : ' stroke="#c0392b" stroke-width="1.5"'
      out.push(`<rect x="${left}" y="${by}" width="${(x(value) - left).toFixed(1)}" height="${barH}" fill="${FAMILIES[f]!.colour}"${outline}/>`)
      // The value goes right of both the bar and the target line, so neither hides it.
      out.push(
        `<text x="${(Math.max(x(value), x(row.target)) + 8).toFixed(1)}" y="${by + barH / 2 + 4.5}" font-size="12" ` +
          `font-weight="bold"${ok ? '' : ' fill="#c0392b"'}>${ratioText(value, row.target)}${ok ? ' ✓' : ` ✗ below ${row.target}`}</text>`,
      )
    })
    const tx = x(row.target).toFixed(1)
    out.push(`<line x1="${tx}" y1="${y - 3}" x2="${tx}" y2="${y + rowH + 3}" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 2"/>`)
  })
  const legendTop = plotBottom + 56
  FAMILIES.forEach((fam, f) => {
    const ly = legendTop + f * 22
    out.push(`<rect x="${left - 200}" y="${ly - 10}" width="12" height="12" fill="${fam.colour}"/>`)
    out.push(`<text x="${left - 182}" y="${ly}">${escapeXml(`${fam.name} (${fam.detail})`)}</text>`)
  })
  const ly2 = legendTop + FAMILIES.length * 22
  out.push(
    `<line x1="${left - 200}" y1="${ly2 - 10}" x2="${left - 200}" y2="${ly2 + 2}" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 2"/><text x="${left - 192}" y="${ly2}">target</text>`,
  )
  out.push(
    `<rect x="${left - 130}" y="${ly2 - 10}" width="12" height="12" fill="#ffffff" stroke="#c0392b" stroke-width="1.5"/><text x="${left - 112}" y="${ly2}">outlined, ✗ = below target</text>`,
  )
  out.push('</svg>', '')
  return out.join('\n')
}

/** Writes bench/chart.svg. */
export function writeChart(results: readonly PhaseResult[]): void {
  writeFileSync(new URL('../chart.svg', import.meta.url), chartSvg(results))
}
