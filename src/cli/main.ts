/**
 * `pg-tenants <command>`: dispatch, the command list, and the one place where errors become exit
 * codes and one-line messages.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import type { Command } from './command.js'
import { COMMANDS } from './commands.js'
import { EXIT, styleFor, UsageError, type Io } from './io.js'

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined
    io.stdout.write((topic ? topic.help : usage(io, commands)) + '\n')
    return EXIT.ok
  }
  const style = styleFor(io.stderr, io.env)
  const command = commands.find((c) => c.name === name)
  try {
    if (!command) {
      throw new UsageError(`Unknown command ${JSON.stringify(name)}: run \`pg-tenants --help\` for the list.`)
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(command.help + '\n')
      return EXIT.ok
    }
    return await command.run(rest, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${style.red('pg-tenants:')} ${error.message}\n`)
      return EXIT.usage
    }
    const message = error instanceof Error ? error.message : String(error)
    const code = error instanceof TenantError ? ` [${error.code}]` : ''
    io.stderr.write(`${style.red('pg-tenants:')} ${message}${code}\n`)
    return EXIT.failure
  }
}

function usage(io: Io, commands: readonly Command[]): string {
  const style = styleFor(io.stdout, io.env)
  const width = Math.max(0, ...commands.map((c) => c.name.length))
  const list = commands.map((c) => `  ${style.bold(c.name.padEnd(width))}  ${c.summary}`).join('\n')
  return `Usage: pg-tenants <command> [flags]

Commands:
${list}

Run \`pg-tenants <command> --help\` for a command's flags.

Exit codes: 0 done (check: nothing found), 1 failure (check: findings), 2 bad input (nothing written).`
}
