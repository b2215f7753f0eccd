/**
 * The CLI's commands, in the order `pg-tenants --help` lists them.
 *
 * @module
 */
import type { Command } from './command.js'

export const COMMANDS: readonly Command[] = []
