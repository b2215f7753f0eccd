/**
 * The README's two code tables against the source: every `TenantErrorCode` has a row under
 * "Errors", and every `CHECK_CODES` entry a row under "Checking a live database", in the order
 * of the list. No database is involved.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CHECK_CODES } from '../src/index.js'

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The README section under `## title`, up to the next `## `. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`)
  expect(start, `README section "${title}"`).toBeGreaterThan(-1)
  const end = README.indexOf('\n## ', start + 1)
  return README.slice(start, end === -1 ? undefined : end)
}

/** The codes of a table's first column: rows that start with | `CODE` |. */
function tableCodes(text: string): string[] {
  return [...text.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!)
}

describe('README', () => {
  it('lists every TenantErrorCode under "Errors", each with what to do', () => {
    const source = readFileSync(new URL('../src/core/errors.ts', import.meta.url), 'utf8')
    const union = /export type TenantErrorCode =([^;]*?)\n\n/s.exec(source)?.[1] ?? ''
    const codes = [...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1]!)
    expect(codes).toContain('NESTED_SCOPE')
    const errors = section('Errors')
    expect(tableCodes(errors)).toEqual(codes)
    for (const line of errors.split('\n').filter((l) => /^\| `[A-Z_]+` \|/.test(l))) {
      // code | class | when | what to do: four filled cells.
      expect(line.split(' | ').filter((cell) => cell.trim() !== '').length, line).toBeGreaterThanOrEqual(4)
    }
  })

  it('lists every check code under "Checking a live database", in the order of CHECK_CODES', () => {
    expect(tableCodes(section('Checking a live database'))).toEqual([...CHECK_CODES])
  })
})
