/**
 * `pg-tenants prisma-migration`: writes the RLS setup as a Prisma migration folder
 * (`<out>/<timestamp>_pg_tenants/migration.sql`), which `prisma migrate deploy` (or `dev`) applies
 * after the migration that creates the tables. Prisma's schema cannot say roles, grants, policies
 * or FORCE ROW LEVEL SECURITY; the tenant tables are given with `--table`.
 *
 * @module
 */
import { existsSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { TenantError } from '../../core/errors.js'
import type { TenantTable } from '../../core/manager.js'
import type { TenantColumnType } from '../../core/tenant-id.js'
import { prismaMigration } from '../../prisma/migration.js'
import { parseFlags, TENANT_OPTION_FLAGS, tenantOptionHelp, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { EXIT, UsageError } from '../io.js'

const FLAGS = {
  out: { type: 'string' },
  table: { type: 'string', multiple: true },
  name: { type: 'string' },
  ...TENANT_OPTION_FLAGS,
} as const

const TYPES: readonly string[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']

/** `[schema.]table[:column]=type`, type one of text, varchar, varchar(n), integer, bigint, uuid. */
export function parseTable(text: string): TenantTable {
  const match = /^(?:([A-Za-z_][A-Za-z0-9_$]*)\.)?([A-Za-z_][A-Za-z0-9_$]*)(?::([A-Za-z_][A-Za-z0-9_$]*))?=([a-z]+)(?:\((\d+)\))?$/.exec(text)
  if (match === null || !TYPES.includes(match[4]!) || (match[5] !== undefined && match[4] !== 'varchar')) {
    throw new UsageError(
      `--table ${JSON.stringify(text)}: write [schema.]table[:column]=type, type one of text, varchar(n), integer, bigint, uuid (e.g. --table todos=text, --table crm.deals:org_id=uuid).`,
    )
  }
  const [, schema, name, column, type, length] = match
  return {
    name: name!,
    type: type as TenantColumnType,
    ...(schema === undefined ? {} : { schema }),
    ...(column === undefined ? {} : { column }),
    ...(length === undefined ? {} : { length: Number(length) }),
  }
}

export const prismaMigrationCommand: Command = {
  name: 'prisma-migration',
  summary: 'write the RLS setup as a Prisma migration folder, for prisma migrate',
  help: `Usage: pg-tenants prisma-migration --table <table>=<type> [--table …] [--out prisma/migrations] [--name pg_tenants] [tenancy options]

Writes <out>/<timestamp>_<name>/migration.sql with what Prisma's schema cannot say: the roles and
grants, the registry table, ENABLE and FORCE row level security, the restrictive tenant policy,
the admin policy, the tenant index and the non-empty check. Run it after the migration that
creates the tables (prisma migrate dev --create-only, or your first migration); prisma migrate
deploy then applies it once, in order, as the app's login role. The SQL is idempotent.

  --table <spec>              a tenant table: [schema.]table[:column]=type, type one of text,
                              varchar(n), integer, bigint, uuid; the SQL names (@@map), column
                              default tenant; repeat it for each table
  --out <dir>                 Prisma's migrations folder, default: prisma/migrations
  --name <name>               the folder's name after the timestamp, default: pg_tenants

${tenantOptionHelp(false)}

Exit codes: 0 written; 1 the folder could not be written; 2 bad input (no --table, a bad table
or option); nothing is written then.

Example:
  npx prisma migrate dev --name init
  npx pg-tenants prisma-migration --table todos=text --table projects:org_id=uuid
  npx prisma migrate deploy`,

  async run(argv, io) {
    const { values } = parseFlags('prisma-migration', argv, FLAGS)
    const specs = values.table ?? []
    if (specs.length === 0) throw new UsageError('Missing --table <table>=<type>: name each tenant table, e.g. --table todos=text.')
    const tables = specs.flatMap((s) => s.split(',')).map((s) => parseTable(s.trim()))
    let migration
    try {
      migration = prismaMigration({ ...tenantOptionsFrom(values), tables, ...(values.name === undefined ? {} : { name: values.name }) })
    } catch (error) {
      if (error instanceof TenantError) throw new UsageError(error.message)
      throw error
    }
    const out = resolve(io.cwd, values.out ?? 'prisma/migrations')
    const folder = join(out, migration.folder)
    if (existsSync(folder)) throw new UsageError(`${relative(io.cwd, folder)} exists already: wait a second, or pass another --name.`)
    // Written under a temporary name and renamed into place: prisma migrate never sees half a folder.
    const temporary = join(out, `.${migration.folder}.tmp`)
    try {
      await mkdir(temporary, { recursive: true })
      await writeFile(join(temporary, 'migration.sql'), migration.sql, { flag: 'wx' })
      await rename(temporary, folder)
    } catch (error) {
      await rm(temporary, { recursive: true, force: true })
      io.stderr.write(`pg-tenants prisma-migration: could not write ${relative(io.cwd, folder)}: ${(error as Error).message}\n`)
      return EXIT.failure
    }
    io.stdout.write(`${relative(io.cwd, join(folder, 'migration.sql'))}\n`)
    return EXIT.ok
  },
}
