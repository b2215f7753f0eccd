/**
 * What every CLI command writes to and reads from, so that commands run the same in a terminal
 * and in-process from a test: the two output streams, the environment and the working directory.
 * Also the exit codes, the bad-input error, colour and the progress indicator.
 *
 * @module
 */

/** A stream a command writes to; `isTTY` decides colour and progress. */
export interface Output {
  write(text: string): unknown
  readonly isTTY?: boolean | undefined
}

/** The outside world of a command run. */
export interface Io {
  readonly stdout: Output
  readonly stderr: Output
  readonly env: Readonly<Record<string, string | undefined>>
  /** Relative paths (--schema, --out) are resolved against it. */
  readonly cwd: string
}

/** Exit codes, documented in the README. */
export const EXIT = {
  /** Done; for `check`: nothing found. */
  ok: 0,
  /** `check` found something, or a command failed against the database. */
  failure: 1,
  /** Bad input: unknown command or flag, a schema file that does not load, a URL that does not
   * connect, an unknown strategy. Nothing was written. */
  usage: 2,
} as const

/** Bad input. Its message is one line that says what to do; the command exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** ANSI styling that is a no-op unless the stream is a TTY (NO_COLOR and FORCE_COLOR honoured). */
export interface Style {
  readonly enabled: boolean
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
}

export function styleFor(out: Output, env: Io['env']): Style {
  const forced = env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0'
  const enabled = forced || (out.isTTY === true && env['NO_COLOR'] === undefined && env['TERM'] !== 'dumb')
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text)
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
  }
}

/** A one-line progress indicator on stderr, drawn only when stderr is a TTY and there is enough
 * work to be worth it; otherwise every call is a no-op. */
export interface Progress {
  update(done: number, total: number, what: string): void
  /** Clears the line. */
  end(): void
}

export function progressFor(io: Io, minimum = 20): Progress {
  if (io.stderr.isTTY !== true) return { update() {}, end() {} }
  let drawn = false
  let last = 0
  return {
    update(done, total, what) {
      if (total < minimum) return
      const now = Date.now()
      if (done < total && now - last < 80) return
      last = now
      const width = 24
      const filled = Math.round((done / Math.max(total, 1)) * width)
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled)
      io.stderr.write(`\r\x1b[2K[${bar}] ${done}/${total} ${what.slice(0, 40)}`)
      drawn = true
    },
    end() {
      if (drawn) io.stderr.write('\r\x1b[2K')
      drawn = false
    },
  }
}
