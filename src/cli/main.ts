/**
 * `pg-tenants <command>`: dispatch, the command list, `--version` and `help`, and the one place
 * where errors become exit codes and one-line messages.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sqlState, TenantError } from '../core/errors.js'
import type { Command } from './command.js'
import { COMMANDS } from './commands.js'
import { EXIT, Interrupted, oneLine, styleFor, UsageError, writeError, type Io } from './io.js'

/** How long a command gets, after Ctrl-C, to stop at a safe point and say how far it got. */
const INTERRUPT_GRACE_MS = 2_000

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv
  try {
    if (name === undefined) {
      io.stderr.write(usage(io, commands) + '\n')
      return EXIT.usage
    }
    if (name === '--help' || name === '-h') {
      io.stdout.write(usage(io, commands) + '\n')
      return EXIT.ok
    }
    if (name === '--version' || name === '-v') {
      io.stdout.write(version() + '\n')
      return EXIT.ok
    }
    if (name === 'help') {
      const topic = rest[0]
      if (topic === undefined || topic === '--help' || topic === '-h') {
        io.stdout.write(usage(io, commands) + '\n')
        return EXIT.ok
      }
      io.stdout.write(find(commands, topic).help + '\n')
      return EXIT.ok
    }
    if (name.startsWith('-')) {
      throw new UsageError(`Unknown option ${name}: flags go after the command, e.g. \`pg-tenants tenants list --url …\`. Run \`pg-tenants --help\`.`)
    }
    const command = find(commands, name)
    const flags = rest.slice(0, rest.includes('--') ? rest.indexOf('--') : rest.length)
    if (flags.includes('--help') || flags.includes('-h')) {
      io.stdout.write(command.help + '\n')
      return EXIT.ok
    }
    return await untilInterrupted(command.run(rest, io), io.signal)
  } catch (error) {
    return report(error, io)
  }
}

function find(commands: readonly Command[], name: string): Command {
  const command = commands.find((c) => c.name === name)
  if (command) return command
  const names = commands.map((c) => c.name).join(', ')
  throw new UsageError(`Unknown command ${JSON.stringify(name)}: the commands are ${names || '(none)'}. Run \`pg-tenants --help\`.`)
}

/** The command's own result; after Ctrl-C, at most {@link INTERRUPT_GRACE_MS} more of waiting. */
async function untilInterrupted(run: Promise<number>, signal: AbortSignal | undefined): Promise<number> {
  if (!signal) return run
  run.catch(() => undefined) // it may be left behind below; its error must not go unhandled
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined
  const interrupted = new Promise<never>((_, reject) => {
    onAbort = () => {
      timer = setTimeout(() => reject(new Interrupted('Interrupted.')), INTERRUPT_GRACE_MS)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  interrupted.catch(() => undefined)
  try {
    return await Promise.race([run, interrupted])
  } finally {
    if (timer) clearTimeout(timer)
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

/** One line on stderr and the exit code; the stack only with PG_TENANTS_DEBUG=1. */
function report(error: unknown, io: Io): number {
  const debug = io.env['PG_TENANTS_DEBUG'] === '1'
  let code: number
  let message: string
  if (error instanceof UsageError) {
    code = EXIT.usage
    message = error.message
  } else if (error instanceof Interrupted) {
    code = EXIT.interrupted
    message = error.message
  } else {
    code = EXIT.failure
    const text = error instanceof Error ? oneLine(error.message) || error.name : oneLine(String(error))
    const tag = error instanceof TenantError ? error.code : sqlState(error)
    const hint = debug || error instanceof TenantError ? '' : ' (PG_TENANTS_DEBUG=1 shows the stack)'
    message = `${text}${tag ? ` [${tag}]` : ''}${hint}`
  }
  writeError(io, message)
  if (debug && error instanceof Error) io.stderr.write(`${stackOf(error)}\n`)
  return code
}

function stackOf(error: Error): string {
  const parts = [error.stack ?? String(error)]
  let cause: unknown = error.cause
  for (let depth = 0; depth < 5 && cause !== undefined; depth++) {
    // A cause that is not an Error is shown as String() shows it, never inspected: an object could
    // be a connection config with its password.
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- [object Object] is the safe answer for an object
    const shown = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)
    parts.push(`Caused by: ${shown}`)
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return parts.join('\n')
}

/** The version in pg-tenants' own package.json: the nearest one above this file, in the
 * sources (src/cli/) as in the bundle (dist/). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 6; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (manifest.name === 'pg-tenants' && typeof manifest.version === 'string') return manifest.version
    } catch {
      // no package.json here: look one level up
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return 'unknown'
}

function usage(io: Io, commands: readonly Command[]): string {
  const style = styleFor(io.stdout, io.env)
  const width = Math.max(0, ...commands.map((c) => c.name.length))
  const list = commands.map((c) => `  ${style.bold(c.name.padEnd(width))}  ${c.summary}`).join('\n')
  return `Usage: pg-tenants <command> [flags]

Commands:
${list}

  pg-tenants help <command>   a command's usage, flags, exit codes and an example (or: <command> --help)
  pg-tenants --version        the version

Environment: DATABASE_URL (the database when --url is not given), NO_COLOR / FORCE_COLOR,
PG_TENANTS_DEBUG=1 (stack traces).

Exit codes: 0 done (check: nothing found), 1 failure (check: findings), 2 bad input (nothing
written), 130 interrupted (Ctrl-C).`
}
