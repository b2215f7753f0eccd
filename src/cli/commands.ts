/**
 * The CLI's commands, in the order `pg-tenants --help` lists them.
 *
 * @module
 */
import type { Command } from './command.js'
import { checkCommand } from './commands/check.js'
import { demoCommand } from './commands/demo.js'
import { generateCommand } from './commands/generate.js'
import { prismaMigrationCommand } from './commands/prisma-migration.js'
import { sqlCommand } from './commands/sql.js'
import { tenantsCommand } from './commands/tenants.js'

export const COMMANDS: readonly Command[] = [sqlCommand, generateCommand, prismaMigrationCommand, tenantsCommand, checkCommand, demoCommand]
