/**
 * What every CLI command writes to and reads from, so that commands run the same in a terminal
 * and in-process from a test: the two output streams, the environment, the working directory and
 * an abort signal (Ctrl-C). Also the exit codes, the bad-input error, colour and the progress
 * indicator.
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
  /** Aborted on the first Ctrl-C. A command that writes in many steps stops at the next safe
   * point (between two tenants, two tables) and says how far it got; `main` waits briefly for
   * that, then exits with {@link EXIT.interrupted} anyway. */
  readonly signal?: AbortSignal | undefined
}

/** Exit codes, documented in docs/cli.md ("Exit codes"). */
export const EXIT = {
  /** Done; for `check`: nothing found. */
  ok: 0,
  /** `check` found something, or a command failed against the database (for `tenants`: a tenant
   * that already existed on create, or did not exist on delete). */
  failure: 1,
  /** Bad input: unknown command or flag, a bad tenant id, a schema file that does not load, a
   * URL that does not connect, an unknown strategy, options that do not match the database.
   * Nothing was written. */
  usage: 2,
  /** Stopped by Ctrl-C (SIGINT); what was done before it stays done. */
  interrupted: 130,
} as const

/** Bad input. Its message is one line that says what to do; the command exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** Thrown by a command that stopped because {@link Io.signal} was aborted. `main` exits 130. */
export class Interrupted extends Error {
  override readonly name = 'Interrupted'
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

/** Writes `pg-tenants: <message>` as one line on stderr (the prefix red on a TTY). Every error
 * a command reports goes through here, so that all of them look the same. */
export function writeError(io: Io, message: string): void {
  io.stderr.write(`${styleFor(io.stderr, io.env).red('pg-tenants:')} ${oneLine(message)}\n`)
}

/** The first non-empty line of `text`, trimmed: error messages must stay one line. */
export function oneLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .find((line) => line !== '') ?? ''
  )
}

/** A one-line progress indicator on stderr, drawn only when stderr is a TTY and there is enough
 * work to be worth it; otherwise every call is a no-op (and `print` just writes). */
export interface Progress {
  update(done: number, total: number, what: string): void
  /** Writes a whole line to `out` above the indicator: clears it, writes, redraws it. */
  print(out: Output, line: string): void
  /** Clears the line. */
  end(): void
}

export function progressFor(io: Io, minimum = 20): Progress {
  if (io.stderr.isTTY !== true) {
    return { update() {}, print: (out, line) => void out.write(line + '\n'), end() {} }
  }
  let drawn = ''
  let last = 0
  const clear = () => {
    if (drawn) io.stderr.write('\r\x1b[2K')
  }
  return {
    update(done, total, what) {
      if (total < minimum) return
      const now = Date.now()
      if (drawn && done < total && now - last < 80) return
      last = now
      const width = 24
      const filled = Math.round((done / Math.max(total, 1)) * width)
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled)
      // Ids may hold control characters; the indicator must stay on its one line.
      drawn = `[${bar}] ${done}/${total} ${JSON.stringify(what.slice(0, 40)).slice(1, -1)}`
      io.stderr.write(`\r\x1b[2K${drawn}`)
    },
    print(out, line) {
      clear()
      out.write(line + '\n')
      if (drawn) io.stderr.write(drawn)
    },
    end() {
      clear()
      drawn = ''
    },
  }
}
