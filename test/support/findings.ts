/**
 * The two assertions every check test is built of: "this breakage is found, and its fixes mend
 * it" and "the check is clean". Shared by the check test files.
 */
import { expect } from 'vitest'
import type { CheckCode, CheckReport } from '../../src/index.js'

/** Each finding on two lines, for an assertion's message. */
export const describeFindings = (report: CheckReport): string =>
  report.findings.map((x) => `${x.severity} ${x.code} ${x.object}: ${x.message}\n    fix: ${x.fix}`).join('\n')

export interface FindingAsserts {
  /** Breaks something (`breakSql`, as the superuser), expects `code` (on `object` when given),
   * applies the fixes (and `after`) as the superuser, and expects a clean check again. */
  readonly expectFinding: (breakSql: string, code: CheckCode, object?: string, after?: string) => Promise<CheckReport['findings'][number][]>
  readonly expectClean: () => Promise<void>
}

export function findingAsserts(options: {
  readonly check: () => Promise<CheckReport>
  readonly superExec: (sql: string) => Promise<unknown>
  /** Which findings' fixes to apply (default: all of them). */
  readonly fixes?: (finding: CheckReport['findings'][number]) => boolean
}): FindingAsserts {
  const { check, superExec, fixes = () => true } = options
  async function expectClean() {
    const report = await check()
    expect(report.findings, describeFindings(report)).toEqual([])
    expect(report.ok).toBe(true)
  }
  async function expectFinding(breakSql: string, code: CheckCode, object?: string, after?: string) {
    await expectClean()
    await superExec(breakSql)
    const report = await check()
    expect(report.ok).toBe(false)
    const hits = report.findings.filter((x) => x.code === code && (object === undefined || x.object === object))
    expect(hits.length, `${code} in:\n${describeFindings(report)}`).toBeGreaterThan(0)
    for (const hit of hits) {
      expect(hit.message).not.toContain('\n')
      expect(hit.fix.length).toBeGreaterThan(0)
    }
    for (const hit of report.findings.filter(fixes)) await superExec(hit.fix)
    if (after) await superExec(after)
    await expectClean()
    return hits
  }
  return { expectFinding, expectClean }
}
