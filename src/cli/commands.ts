/**
 * The CLI's commands, in the order `pg-tenants --help` lists them.
 *
 * @module
 */
import type { Command } from './command.js'
import { tenantsCommand } from './commands/tenants.js'

export const COMMANDS: readonly Command[] = [tenantsCommand]
