/**
 * The shape of a CLI command. Each lives in `commands/` and is listed in `commands.ts`.
 *
 * @module
 */
import type { Io } from './io.js'

export interface Command {
  /** As typed: `sql`, `generate`, `tenants`, `check`. */
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** The whole `--help` text: usage, flags, exit codes, an example. */
  readonly help: string
  /** Runs with the arguments after the command name. Returns the exit code (see `EXIT`); throws
   * `UsageError` for bad input. */
  run(argv: readonly string[], io: Io): Promise<number>
}
