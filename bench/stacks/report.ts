/**
 * The report: one row per stack and strategy (round trips, the plain transaction's throughput,
 * the four ratios), printed and written as bench/STACKS.md.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { fmt, pad, rangeText, ratioText } from '../scope-overhead/format.js'
import type { RoundTrips } from '../scope-overhead/round-trips.js'
import type { Ratio } from '../scope-overhead/result.js'
import * as c from './config.js'
import { tpsOf, type PatternResult, type StackResult } from './measure.js'

/** The installed version of a package, or `?`. */
export function versionOf(pkg: string): string {
  try {
    const file = new URL(`../../node_modules/${pkg}/package.json`, import.meta.url)
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

export interface RunInfo {
  readonly pgVersion: string
  readonly seconds: number
  readonly loadAtStart: number
}

/** The machine and the run, in one paragraph. */
function environment({ pgVersion, seconds, loadAtStart }: RunInfo): string {
  const versions = ['pg', 'postgres', 'kysely', 'kysely-postgres-js', 'drizzle-orm', '@prisma/client', '@prisma/adapter-pg']
    .map((p) => `${p} ${versionOf(p)}`)
    .join(', ')
  return (
    `PostgreSQL ${pgVersion} on loopback, PGlite ${versionOf('@electric-sql/pglite')} in-memory; Node ${process.version}, ${versions}; ` +
    `${process.platform}/${process.arch}, ${cpus()[0]?.model.trim() ?? '?'}, ${availableParallelism()} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. ` +
    `One connection per stack; ${c.ROUNDS} cycles × ${c.ROUND_MS} ms per variant, interleaved in 10 ms blocks (warm-up ${c.WARMUP_MS} ms); ` +
    `${c.TENANTS} tenants × ${c.ROWS_PER_TENANT} rows; run took ${seconds.toFixed(0)} s; ` +
    `1-minute load average ${loadAtStart.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`
  )
}

const trips = (x: RoundTrips) => String(x.queries)
/** `3 = 3` on the network; `5 vs 3 calls` into PGlite. */
const tripsCell = (r: StackResult, scoped: 'rls' | 'rls10', plain: 'plain' | 'plain10') =>
  r.embedded ? `${trips(r.roundTrips[scoped])} vs ${trips(r.roundTrips[plain])} calls` : `${trips(r.roundTrips[scoped])} = ${trips(r.roundTrips[plain])}`
const ratioCell = (x: Ratio, target?: number) =>
  `${target === undefined ? x.ratio.toFixed(2) : ratioText(x.ratio, target)} [${rangeText(x.range)}]${target !== undefined && x.ratio < target ? ' BELOW' : ''}`

const HEADER = [
  'stack',
  'strategy',
  'round trips, 1 select',
  `${c.STMTS} selects`,
  'plain tx/s',
  'scoping alone, 1',
  `with RLS, 1 (≥ ${c.TARGET})`,
  `scoping alone, ${c.STMTS}`,
  `with RLS, ${c.STMTS} (≥ ${c.TARGET})`,
  'µs added, 1',
  `µs added, ${c.STMTS}`,
]
const WIDTHS = [25, 8, 21, 16, 10, 18, 24, 18, 24, 11, 11]

function rowOf(r: StackResult): string[] {
  return [
    r.stack,
    r.strategy,
    tripsCell(r, 'rls', 'plain'),
    tripsCell(r, 'rls10', 'plain10'),
    fmt(tpsOf(r, 'plain')),
    ratioCell(r.ratios.alone),
    ratioCell(r.ratios.rls, c.TARGET),
    ratioCell(r.ratios.alone10),
    ratioCell(r.ratios.rls10, c.TARGET),
    `${r.addedUs.alone.toFixed(0)} / ${r.addedUs.rls.toFixed(0)}`,
    `${r.addedUs.alone10.toFixed(0)} / ${r.addedUs.rls10.toFixed(0)}`,
  ]
}

/** The row of a pattern measured beside a stack's scope: its round trips `vs` the plain transaction's. */
function patternRowOf(r: StackResult, p: PatternResult): string[] {
  return [
    p.label,
    r.strategy,
    `${trips(p.roundTrips.xrls)} vs ${trips(r.roundTrips.plain)}`,
    `${trips(p.roundTrips.xrls10)} vs ${trips(r.roundTrips.plain10)}`,
    fmt(tpsOf(r, 'plain')),
    ratioCell(p.ratios.alone),
    ratioCell(p.ratios.rls),
    ratioCell(p.ratios.alone10),
    ratioCell(p.ratios.rls10),
    `${p.addedUs.alone.toFixed(0)} / ${p.addedUs.rls.toFixed(0)}`,
    `${p.addedUs.alone10.toFixed(0)} / ${p.addedUs.rls10.toFixed(0)}`,
  ]
}

/** What the pattern's row says, in a line per strategy. */
function patternVerdict(r: StackResult, p: PatternResult): string[] {
  const t = (x: RoundTrips) => trips(x)
  return [
    `- ${p.label} (${r.strategy}), in the same run: ${t(p.roundTrips.xrls)} round trips for one query vs ${t(r.roundTrips.plain)} ` +
      `(withTenant ${t(r.roundTrips.rls)}), ${t(p.roundTrips.xrls10)} vs ${t(r.roundTrips.plain10)} for ${c.STMTS} (a transaction each); ` +
      `with RLS ${p.ratios.rls.ratio.toFixed(2)} at 1 select (withTenant ${r.ratios.rls.ratio.toFixed(2)}), ` +
      `${p.ratios.rls10.ratio.toFixed(2)} at ${c.STMTS} (withTenant ${r.ratios.rls10.ratio.toFixed(2)}).`,
    ...(p.note === undefined ? [] : [`  Inside \`$transaction(async tx => tx.item.findUnique(…))\`, on a pool of two: ${p.note}.`]),
  ]
}

/** What the columns mean, under the table. */
const EXPLANATION = [
  `Each ratio is withTenant throughput ÷ the stack's own plain transaction with as many selects, on one connection,`,
  `the median of per-cycle ratios [their range]. "Scoping alone": withTenant on \`items_plain\` (no RLS), the baseline's own table;`,
  `"with RLS": withTenant on \`items\` (FORCE ROW LEVEL SECURITY, the library's policies). Round trips: withTenant on \`items\` = the`,
  'plain transaction, counted per transaction (node-postgres: `client.query` calls and ReadyForQuery messages; postgres.js: queries',
  'given to its `debug` hook and ReadyForQuery messages read off its socket; PGlite: calls into the WASM backend, its own BEGIN and COMMIT',
  'included). `plain tx/s` is the plain transaction with 1 select. "µs added" is what withTenant adds to a transaction, scoping alone /',
  `with RLS (median per-cycle difference of the mean times): unlike a ratio, it does not depend on how fast the stack's own`,
  `transaction is. Target: ${c.TARGET} with RLS, reported, not failed.`,
  "prisma: each select is the model API's `tx.item.findUnique({ where: { id }, select: { id: true, tenant: true } })` (the tests' generated client,",
  'PrismaPg\'s `schema` option naming the table\'s schema); "scoping alone" and the plain transaction read `pgt_stacks_prisma.items`, a copy of',
  "`items_plain` (same rows, indexes and constraint), because a model names one table. Its plain transaction is Prisma's own",
  '`prisma.$transaction(async tx => …)` on a client built with a plain `PrismaPg` over a pool of its own (so 2 connections in that phase).',
  '"prisma, extension pattern" is the client extension peers publish (prisma/prisma-client-extensions, row-level-security), made per unit of',
  'work: every model call becomes `` $transaction([$executeRaw`SELECT set_config(…)`, query(args)]) `` on that plain client, the statement also',
  "setting the role our policies bind (`set_config('role', …)`, same round trip); its 10 selects are 10 such transactions. Its ratios are",
  "against the same plain transaction, its rows checked like every phase's.",
]

export function report(results: readonly StackResult[], run: RunInfo): { text: string; markdown: string } {
  const rows = results.flatMap((r) => [rowOf(r), ...(r.pattern ? [patternRowOf(r, r.pattern)] : [])])
  const lines = [
    HEADER.map((h, i) => pad(h, WIDTHS[i]!)).join(' '),
    WIDTHS.map((w) => '-'.repeat(w)).join(' '),
    ...rows.map((cells) => cells.map((cell, i) => pad(cell, WIDTHS[i]!)).join(' ')),
  ]
  const problems = results.flatMap((r) => r.problems.map((p) => `FAILED (${r.stack}, ${r.strategy}): ${p}`))
  const below = results.flatMap((r) =>
    (['rls', 'rls10'] as const)
      .filter((k) => r.ratios[k].ratio < c.TARGET)
      .map((k) => `${r.stack} ${r.strategy} ${k === 'rls' ? '1 select' : `${c.STMTS} selects`}: ${ratioText(r.ratios[k].ratio, c.TARGET)}`),
  )
  const verdict = [
    problems.length === 0
      ? '- round trips: every scope costs what the plain transaction costs (PGlite: 2 calls more, as documented); every scope ran as its tenant role and saw only its rows.'
      : '',
    ...problems.map((p) => `- ${p}`),
    ...results.flatMap((r) => (r.pattern ? patternVerdict(r, r.pattern) : [])),
    below.length === 0 ? `- with RLS: every ratio ≥ ${c.TARGET}.` : `- with RLS below ${c.TARGET} (reported, not failed): ${below.join('; ')}.`,
  ].filter(Boolean)
  const env = environment(run)
  const markdown = [
    '# Stacks benchmark',
    '',
    `Generated by \`npm run bench\` (\`tsx bench/stacks.ts\`) on ${new Date().toISOString()}.`,
    '',
    env + '.',
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
    ...EXPLANATION,
    '',
    ...verdict,
    '',
  ].join('\n')
  return { text: [env, '', ...lines, '', ...verdict].join('\n'), markdown }
}

/** Writes bench/STACKS.md. */
export function writeStacks(markdown: string): void {
  writeFileSync(new URL('../STACKS.md', import.meta.url), markdown)
}
