/**
 * Runs the CLI in-process with a fake Io that captures both streams, for the CLI tests; and
 * bundles the bin as tsup does, for the tests that spawn it.
 */
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import type { Command } from '../../src/cli/command.js'
import type { Io } from '../../src/cli/io.js'
import { main } from '../../src/cli/main.js'

/**
 * The bin bundled as tsup bundles it into `outdir` (packages external, split: the demo's chunk
 * keeps its imports of the optional peers to itself); returns the path of its `cli.js`.
 */
export async function bundleBin(outdir: string): Promise<string> {
  const { build } = await import('esbuild')
  await build({
    entryPoints: { cli: fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url)) },
    outdir,
    bundle: true,
    splitting: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  })
  return join(outdir, 'cli.js')
}

/** `test/.tmp`, git-ignored; inside the repo so that a schema module written there resolves drizzle-orm. */
export const TEST_TMP = fileURLToPath(new URL('../.tmp', import.meta.url))

/** A fresh directory `test/.tmp/<prefix>XXXXXX`, creating `test/.tmp` first (a clean checkout has none). */
export function makeTempDir(prefix: string): string {
  mkdirSync(TEST_TMP, { recursive: true })
  return mkdtempSync(join(TEST_TMP, prefix))
}

/** What a run printed and returned. */
export interface Run {
  code: number
  out: string
  err: string
}

export interface FakeIoOptions {
  /** Relative paths resolve against it. */
  cwd: string
  /** Both streams look like a terminal. Default false. */
  tty?: boolean
  env?: Record<string, string>
  signal?: AbortSignal
}

/** A fake Io capturing both streams. */
export function fakeIo(options: FakeIoOptions): { io: Io; out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const io: Io = {
    stdout: { write: (text: string) => (out += text), isTTY: options.tty ?? false },
    stderr: { write: (text: string) => (err += text), isTTY: options.tty ?? false },
    env: options.env ?? {},
    cwd: options.cwd,
    signal: options.signal,
  }
  return { io, out: () => out, err: () => err }
}

/** `pg-tenants <argv>` in-process. */
export async function runCli(argv: readonly string[], options: FakeIoOptions, commands?: readonly Command[]): Promise<Run> {
  const fake = fakeIo(options)
  const code = await main(argv, fake.io, commands)
  return { code, out: fake.out(), err: fake.err() }
}

/** Exit 2 with one line on stderr and nothing on stdout. */
export function expectUsageError(run: Run, pattern: RegExp): void {
  expect(run.err).toMatch(pattern)
  expect(run.code).toBe(2)
  expect(run.out).toBe('')
  expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
  expect(run.err).toMatch(/^pg-tenants: /)
}
