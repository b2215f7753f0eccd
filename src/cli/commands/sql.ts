/**
 * `pg-tenants sql`: prints the migration SQL (`up`, or `down`) for the schema's `withRls` tables,
 * for any migration tool that takes plain SQL files: one statement at a time, separated by
 * drizzle's `--> statement-breakpoint` lines (comments to psql and to every other tool), so that
 * the same text also works as a drizzle custom migration, whose migrator sends each part alone
 * (PGlite refuses several commands in one prepared statement).
 *
 * @module
 */
import { migrationStatements } from '../../core/migration.js'
import { parseFlags, TENANT_OPTION_FLAGS, TENANT_OPTION_HELP, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { EXIT, UsageError } from '../io.js'
import { BREAKPOINT } from '../kit-folder.js'
import { loadSchemaTables, schemaOptions, schemaSpecs } from '../schema.js'

const FLAGS = {
  schema: { type: 'string' },
  down: { type: 'boolean' },
  ...TENANT_OPTION_FLAGS,
} as const

export const sqlCommand: Command = {
  name: 'sql',
  summary: "print the RLS migration SQL (up or down) for the schema's withRls tables",
  help: `Usage: pg-tenants sql --schema <file> [--down] [tenancy options]

Prints the SQL that makes the schema's withRls tables tenant-scoped: roles, grants, the registry
table, ENABLE and FORCE row level security, the three policies, the tenant index and the non-empty
check, and the grants of the --shared tables. It is idempotent; --down prints the SQL that removes
it again (never a row of data). Run it as the app's login role (it grants the roles to
CURRENT_USER). Statements are separated by "--> statement-breakpoint" lines: comments to psql and
most tools, and the split drizzle's migrator needs, so the output also works pasted into a drizzle
custom migration (npx drizzle-kit generate --custom), on PGlite too.

  --schema <file>             the module that exports your withRls tables (.ts, .js)
  --down                      print the down migration instead of up

${TENANT_OPTION_HELP}

Exit codes: 0 printed, 2 bad input (a schema that does not load, an unknown strategy, flags
that do not match the withRls tables); nothing is printed on stdout then.

Example:
  npx pg-tenants sql --schema ./src/db/schema.ts > migrations/001_rls.sql
  npx pg-tenants sql --schema ./src/db/schema.ts --down > migrations/001_rls.down.sql
  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f migrations/001_rls.sql`,

  async run(argv, io) {
    const { values } = parseFlags('sql', argv, FLAGS)
    if (values.schema === undefined) throw new UsageError('Missing --schema <file>: the module that exports your withRls tables.')
    const flags = tenantOptionsFrom(values)
    const tables = await loadSchemaTables(values.schema, io.cwd)
    const options = schemaOptions(tables, flags)
    const { up, down } = migrationStatements(schemaSpecs(tables, options), options)
    io.stdout.write(`${(values.down === true ? down : up).join(`\n${BREAKPOINT}\n`)}\n`)
    return EXIT.ok
  },
}
