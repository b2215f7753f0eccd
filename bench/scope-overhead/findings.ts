/**
 * The report's findings: per phase, its round trips (which must be equal), its ratios against
 * their targets and its warnings; then one verdict for the run.
 *
 * @module
 */
import { STMTS, TARGET, TARGET_MULTI } from './config.js'
import { rangeText, ratioText, rt, tagOf, verdictOf } from './format.js'
import type { PhaseResult } from './result.js'
import type { Section } from './tables.js'

/** The ratio lines of a phase, for both drivers. */
function familyLines(r: PhaseResult): string[] {
  const multi = `, ${STMTS} statements`
  const line = (statements: string, family: string, v: number, range: [number, number], target: number) =>
    `throughput ratio (${tagOf(r)}${statements}), ${family}: ${ratioText(v, target)} [per-cycle ${rangeText(range)}] ${verdictOf(v, target)}`
  return [
    line('', 'scoping alone', r.alone, r.aloneRange, TARGET),
    line('', 'scoping + RLS policies', r.ratio, r.ratioRange, TARGET),
    line(multi, 'scoping alone', r.alone10, r.alone10Range, TARGET_MULTI),
    line(multi, 'scoping + RLS policies', r.ratio10, r.ratio10Range, TARGET_MULTI),
    line('', 'scoping + RLS ÷ WHERE tenant by hand', r.filtered, r.filteredRange, TARGET),
    line(multi, 'scoping + RLS ÷ WHERE tenant by hand', r.filtered10, r.filtered10Range, TARGET_MULTI),
  ]
}

/** A PGlite phase: its calls into PGlite instead of round trips. */
function pgliteLines(r: PhaseResult): string[] {
  const tag = tagOf(r)
  const n = r.roundTrips
  return [
    `calls into PGlite (${tag}): scoped ${rt(n['scoped'])} (items_plain: ${rt(n['scopedPlain'])}), plain ${rt(n['plain'])} ` +
      `(${STMTS} statements: ${rt(n['scoped10'])} (items_plain: ${rt(n['scopedPlain10'])}) vs ${rt(n['plain10'])}; embedded: no network round trips)`,
    ...familyLines(r),
    r.scopeUser.actual === r.scopeUser.expected ? '' : `WARNING (${tag}): withTenant ran as ${r.scopeUser.actual}, expected ${r.scopeUser.expected}`,
  ].filter(Boolean)
}

/** Whether the scoped variants on both tables cost exactly the round trips of db.transaction. */
function roundTripsEqual(r: PhaseResult): { equal: boolean; equal10: boolean } {
  const same = (a: string, b: string) => {
    const x = r.roundTrips[a]!
    const y = r.roundTrips[b]!
    return x.queries === y.queries && x.ready === y.ready && x.queries === x.ready
  }
  return {
    equal: same('scoped', 'plain') && same('scopedPlain', 'plain'),
    equal10: same('scoped10', 'plain10') && same('scopedPlain10', 'plain10'),
  }
}

/** A node-postgres phase: round trips, ratios, the named-prepared pair, the raw references, warnings. */
function nodePostgresLines(r: PhaseResult, { equal, equal10 }: { equal: boolean; equal10: boolean }): string[] {
  const tag = tagOf(r)
  const n = r.roundTrips
  const rtLine =
    `round trips (${tag}): scoped ${rt(n['scoped'])} (items_plain: ${rt(n['scopedPlain'])}), plain ${rt(n['plain'])} ` +
    `(${equal ? 'equal' : 'NOT EQUAL'}); ${STMTS} statements: scoped ${rt(n['scoped10'])} (items_plain: ${rt(n['scopedPlain10'])}), ` +
    `plain ${rt(n['plain10'])} (${equal10 ? 'equal' : 'NOT EQUAL'})`
  const p = r.prepared10
  const preparedLine =
    p === undefined
      ? ''
      : `named prepared statements (${tag}, ${STMTS} statements, informational): withTenant on items ÷ db.transaction on items_plain, both named: ` +
        `${p.ratio.toFixed(2)} [per-cycle ${rangeText(p.range)}]; ÷ the unnamed db.transaction: scoped ${p.scopedVsUnnamed.toFixed(2)}, plain ${p.plainVsUnnamed.toFixed(2)}`
  const serverLine =
    `server side (${tag}, raw pg vs raw plain): library's scope message ${r.rawRatios['rawLibrary']!.toFixed(2)}` +
    (r.rawRatios['rawDesign'] === undefined ? '' : `, DESIGN.md message (no registry check) ${r.rawRatios['rawDesign'].toFixed(2)}`)
  const userLine =
    r.scopeUser.actual === r.scopeUser.expected
      ? ''
      : `WARNING (${tag}): withTenant ran as ${r.scopeUser.actual}, expected ${r.scopeUser.expected}: the scope ` +
        'did not drop privileges (SET LOCAL ROLE), so these numbers do not measure the designed scope'
  const connLine = r.connects === 1 ? '' : `connections opened (${tag}): ${r.connects} (expected 1: something was destroyed)`
  return [rtLine, ...familyLines(r), preparedLine, serverLine, userLine, connLine].filter(Boolean)
}

/** Every ratio below its target, as `tag (what: ratio < target)`. */
function belowTarget(results: readonly PhaseResult[]): string[] {
  return results.flatMap((r) =>
    [
      { v: r.alone, target: TARGET, what: `1 statement, scoping alone` },
      { v: r.ratio, target: TARGET, what: `1 statement, scoping + RLS` },
      { v: r.alone10, target: TARGET_MULTI, what: `${STMTS} statements, scoping alone` },
      { v: r.ratio10, target: TARGET_MULTI, what: `${STMTS} statements, scoping + RLS` },
      { v: r.filtered, target: TARGET, what: `1 statement, scoping + RLS ÷ WHERE tenant by hand` },
      { v: r.filtered10, target: TARGET_MULTI, what: `${STMTS} statements, scoping + RLS ÷ WHERE tenant by hand` },
    ]
      .filter((x) => x.v < x.target)
      .map((x) => `${tagOf(r)} (${x.what}: ${ratioText(x.v, x.target)} < ${x.target})`),
  )
}

/**
 * The findings of every phase and the verdict. `ok` is false only when the round trips differ on
 * node-postgres or a scope did not switch to the tenant role; throughput below target is
 * reported, not failed (it depends on the machine).
 */
export function findings(results: readonly PhaseResult[]): Section & { ok: boolean } {
  const lines: string[] = []
  const md: string[] = []
  const add = (l: string) => {
    lines.push(l)
    md.push(`- ${l}`)
  }
  let rtOk = true
  const unscoped = results.filter((r) => r.scopeUser.actual !== r.scopeUser.expected).map(tagOf)
  for (const r of results) {
    if (r.driver === 'PGlite') {
      pgliteLines(r).forEach(add)
      continue
    }
    const equal = roundTripsEqual(r)
    if (!equal.equal || !equal.equal10) rtOk = false
    nodePostgresLines(r, equal).forEach(add)
    lines.push(`library's scope message (${tagOf(r)}): ${r.message}`)
    md.push(`- library's scope message (${tagOf(r)}): \`${r.message}\``)
  }
  const slow = belowTarget(results)
  const verdict =
    (rtOk ? 'verdict: round trips equal on node-postgres (a scope costs no extra round trip)' : 'verdict: FAIL — a scope costs extra round trips') +
    `; throughput ${slow.length === 0 ? `>= target for every driver, strategy, statement count and family (${TARGET} for 1, ${TARGET_MULTI} for ${STMTS})` : `below target for: ${slow.join(', ')}`}` +
    (unscoped.length === 0 ? '' : `; FAIL — no role switch in: ${unscoped.join(', ')}`)
  add(verdict)
  return { lines, md, ok: rtOk && unscoped.length === 0 }
}
