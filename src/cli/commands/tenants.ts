/**
 * `pg-tenants tenants list | create <id>… | delete <id>… | run`: tenant management from the
 * shell, with the core engine over node-postgres (no ORM needed), so it does exactly what the
 * app's `listTenants / createTenant / deleteTenant / forEachTenant` do with the same options.
 *
 * @module
 */
import { InvalidTenantId, TenantAlreadyExists, TenantError, TenantNotFound, sqlState } from '../../core/errors.js'
import { TenantEngine } from '../../core/engine.js'
import { guardedClient, type GuardedClient } from '../../core/guard.js'
import { TenantManager } from '../../core/manager.js'
import { qualified } from '../../core/quote.js'
import { tenantIdText, type TenantColumnInfo, type TenantColumnType } from '../../core/tenant-id.js'
import { driverFor } from '../../drivers/detect.js'
import { parseFlags, TENANT_OPTION_FLAGS, tenantOptionHelp, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { DATABASE_FLAGS, DATABASE_HELP, openDatabase, type CliDatabase } from '../db.js'
import { EXIT, Interrupted, oneLine, progressFor, styleFor, UsageError, type Io } from '../io.js'
import { loadSchemaTables, schemaOptions, schemaSpecs } from '../schema.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from '../../core/options.js'
import { readFile } from 'node:fs/promises'
import { resolve as resolvePath } from 'node:path'

const FLAGS = {
  ...DATABASE_FLAGS,
  schema: { type: 'string' },
  ...TENANT_OPTION_FLAGS,
  'id-type': { type: 'string' },
  json: { type: 'boolean' },
  'if-not-exists': { type: 'boolean' },
  'if-exists': { type: 'boolean' },
  sql: { type: 'string' },
  file: { type: 'string' },
  concurrency: { type: 'string' },
} as const

const ID_TYPES: readonly TenantColumnType[] = ['text', 'integer', 'bigint', 'uuid']

const HELP = `Usage:
  pg-tenants tenants list [--json] [flags]
  pg-tenants tenants create <id>... [--if-not-exists] [flags]
  pg-tenants tenants delete <id>... [--if-exists] [flags]
  pg-tenants tenants run --sql <sql> | --file <file.sql> [--concurrency 4] [flags]

Lists, creates or deletes tenants as the app's PostgresManager does (listTenants, createTenant,
deleteTenant): a row in the tenant registry (setting strategy) or a NOLOGIN role
<role-prefix><id> (role strategy). delete removes that row or role, never the tenant's data.
run executes the SQL once per tenant, each in its own tenant scope (as the app's forEachTenant):
for a backfill or a data fix that must go on past one tenant's failure. Row-level security
restricts each run to its tenant; a tenant deleted meanwhile fails (it is not re-created).

Run the pg-tenants migration on the database first (with drizzle-kit: pg-tenants generate, then
drizzle-kit migrate; otherwise the SQL of pg-tenants sql).

The strategy, tenant role and role prefix must be the app's: pass --schema <file> to take them
from its withRls tables (as generate and sql do), or pass them as flags. In the role strategy, a role
prefix is required (--role-prefix, or --schema): with the wrong one, create would make roles
that the app never finds.

Tenant ids are text, as typed: give integer and uuid ids in their text form (42,
3f2504e0-4f89-11d3-9a0c-0305e82c3301) and pass --id-type, so that they are checked and written
as the app writes them (uuids in lower case). Every id is checked before anything is written.
An id that starts with "-" goes after "--": pg-tenants tenants create -- -5

Flags:
${DATABASE_HELP}
  --schema <file>             the module that exports your withRls tables (.ts, .js): strategy,
                              tenant role, role prefix and (without --id-type) the id type
                              come from it
  --json                      list: print a JSON array instead of one id per line
  --if-not-exists             create: skip a tenant that exists instead of failing
  --if-exists                 delete: skip a tenant that does not exist instead of failing
  --id-type <type>            the app's tenant column: text (default), integer, bigint or uuid
  --sql <sql>                 run: the SQL to run in each tenant's scope (several statements
                              allowed, no parameters; current_setting and the tenant role
                              apply as in the app's scopes)
  --file <file.sql>           run: the same, read from a file
  --concurrency <n>           run: tenants at a time, 1 to 64 (default 4)
  -h, --help                  this help

${tenantOptionHelp(false)}

Output:
  list prints one id per line on stdout (an id holding a control character is printed as a
  JSON string; --json is always exact), and the count on stderr when it is a terminal.
  create and delete print one line per tenant ("created acme", "skipped acme (already
  exists)"); on a terminal, a progress bar for 20 ids or more and a summary, on stderr.
  run prints one line per tenant on stdout ("ok acme UPDATE 3", "failed globex: <error>"), in
  tenant order, with a progress bar and a summary on stderr when it is a terminal.

Exit codes:
  0    done (skipped tenants included)
  1    a tenant already existed (create) or did not exist (delete): the other ids were still
       done; or the database refused a statement: the ids after it were not attempted; or run
       failed for one tenant or more (the others were still run)
  2    bad input, nothing written: unknown subcommand or flag, a bad tenant id, an unknown
       strategy, a URL that does not connect, no tenant registry / tenant role for these options
  130  interrupted (Ctrl-C): the tenants done before it stay done

Examples:
  export DATABASE_URL=postgres://app@127.0.0.1:5432/app
  pg-tenants tenants create acme globex
  pg-tenants tenants list --json
  pg-tenants tenants delete acme --if-exists --strategy role --role-prefix crm_t_
  pg-tenants tenants create acme --schema ./src/db/schema.ts --admin-role crm_admin
  pg-tenants tenants run --sql "UPDATE todos SET title = trim(title) WHERE title <> trim(title)"
  pg-tenants tenants create acme --url ./pgdata --as app      (a PGlite data directory; stop the app first)
  xargs pg-tenants tenants create --if-not-exists < tenant-ids.txt`

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values']

export const tenantsCommand: Command = {
  name: 'tenants',
  summary: 'list, create or delete tenants',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags('tenants', argv, FLAGS, true)
    const [action, ...ids] = positionals
    if (action !== 'list' && action !== 'create' && action !== 'delete' && action !== 'run') {
      const what = action === undefined ? 'Missing subcommand' : `Unknown subcommand ${JSON.stringify(action)}`
      throw new UsageError(`${what}: use \`pg-tenants tenants list\`, \`create <id>…\`, \`delete <id>…\` or \`run --sql <sql>\`.`)
    }
    if (action === 'run') return runSql(values, ids, io)
    checkCombination(action, ids, values)
    // Ids are checked by the engine's own rules (a bad one is exit 2) before a connection is made.
    const { options, columns } = await tenancyOf(values, io)
    const texts = action === 'list' ? [] : validIds(resolveOptions(options), columns, ids)
    const db = await openDatabase(values, io)
    try {
      const engine = new TenantEngine(driverFor(db.client), options, columns)
      await checkSetup(db, engine)
      if (action === 'list') return await list(engine, values.json === true, io)
      return await change(engine, action, texts, action === 'create' ? values['if-not-exists'] : values['if-exists'], io)
    } finally {
      await db.end().catch(() => undefined)
    }
  },
}

/** `tenants run`: the SQL in each tenant's scope, with `forEachTenant`. */
async function runSql(values: Values, ids: readonly string[], io: Io): Promise<number> {
  if (ids.length > 0) throw new UsageError(`\`tenants run\` takes no tenant id (got ${JSON.stringify(ids[0])}): it runs for every tenant.`)
  for (const flag of ['json', 'if-not-exists', 'if-exists'] as const) {
    if (values[flag] === true) throw new UsageError(`--${flag} is not a flag of \`tenants run\`.`)
  }
  if ((values.sql === undefined) === (values.file === undefined))
    throw new UsageError('`tenants run` needs the SQL: --sql "<sql>" or --file <file.sql>, one of them.')
  const sql =
    values.sql ??
    (await readFile(resolvePath(io.cwd, values.file!), 'utf8').catch((error: unknown) => {
      throw new UsageError(`Cannot read --file ${JSON.stringify(values.file)}: ${error instanceof Error ? error.message : String(error)}.`)
    }))
  if (sql.trim() === '') throw new UsageError('The SQL of `tenants run` is empty.')
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(`--concurrency ${JSON.stringify(values.concurrency)}: a whole number from 1 to 64.`)
  }
  const { options, columns } = await tenancyOf(values, io)
  const db = await openDatabase(values, io)
  try {
    const engine = new TenantEngine(driverFor(db.client), options, columns)
    await checkSetup(db, engine)
    const manager = new TenantManager<GuardedClient>({ engine, tables: [], client: db.client, bind: (conn, role) => guardedClient(conn, role) })
    const progress = progressFor(io, 2)
    const out = styleFor(io.stdout, io.env)
    const err = styleFor(io.stderr, io.env)
    let result
    try {
      result = await manager.forEachTenant((tx) => (tx.exec ?? tx.query)(sql), {
        concurrency,
        onProgress: (done, total) => {
          if (io.signal?.aborted) throw new Interrupted(`Interrupted: ran for ${done} of ${count(total, 'tenant')}; the others were not started.`)
          progress.update(done, total, '')
        },
      })
    } finally {
      progress.end()
    }
    const lines = [
      ...result.ok.map(({ tenant, value }) => ({ tenant, line: `${out.green('ok')} ${shown(tenant)} ${summary(value)}`.trimEnd(), stream: io.stdout })),
      ...result.failed.map(({ tenant, error }) => ({
        tenant,
        line: `${err.red('failed')} ${shown(tenant)}: ${oneLine(error instanceof Error ? error.message : String(error))}`,
        stream: io.stdout,
      })),
    ].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0))
    for (const { line, stream } of lines) stream.write(line + '\n')
    if (io.stderr.isTTY === true) {
      const parts = [`ran for ${count(result.ok.length, 'tenant')}`]
      if (result.failed.length > 0) parts.push(err.red(`${result.failed.length} failed`))
      io.stderr.write(err.dim(parts.join(', ')) + '\n')
    }
    return result.failed.length > 0 ? EXIT.failure : EXIT.ok
  } finally {
    await db.end().catch(() => undefined)
  }
}

/** What a run answered, as `UPDATE 3`: the last statement's command tag and row count. */
function summary(value: unknown): string {
  const results = (Array.isArray(value) ? value : [value]) as ({ command?: unknown; rowCount?: unknown; affectedRows?: unknown; rows?: unknown[] } | null)[]
  const last = results.at(-1)
  if (last === undefined || last === null) return ''
  const n =
    typeof last.rowCount === 'number'
      ? last.rowCount
      : typeof last.affectedRows === 'number'
        ? last.affectedRows
        : Array.isArray(last.rows)
          ? last.rows.length
          : undefined
  return [typeof last.command === 'string' ? last.command : '', n === undefined ? '' : String(n)].filter(Boolean).join(' ')
}

function checkCombination(action: 'list' | 'create' | 'delete', ids: string[], values: Values): void {
  const misplaced = (
    [
      ['json', 'list'],
      ['if-not-exists', 'create'],
      ['if-exists', 'delete'],
    ] as const
  ).find(([flag, owner]) => values[flag] === true && action !== owner)
  if (misplaced) {
    throw new UsageError(`--${misplaced[0]} is a flag of \`tenants ${misplaced[1]}\`, not of \`tenants ${action}\`.`)
  }
  const runFlag = (['sql', 'file', 'concurrency'] as const).find((flag) => values[flag] !== undefined)
  if (runFlag !== undefined) throw new UsageError(`--${runFlag} is a flag of \`tenants run\`, not of \`tenants ${action}\`.`)
  if (action === 'list' && ids.length > 0) {
    throw new UsageError(`\`tenants list\` takes no tenant id (got ${JSON.stringify(ids[0])}): use --json to filter with jq.`)
  }
  if (action !== 'list' && ids.length === 0) {
    throw new UsageError(`\`tenants ${action}\` needs at least one tenant id: pg-tenants tenants ${action} acme.`)
  }
}

/** The options and tenant id columns: from the flags, or with --schema from the withRls tables
 * as well. In the role strategy, a prefix must have been said: the default one would quietly
 * make roles the app (with a prefix of its own) never finds. */
async function tenancyOf(values: Values, io: Io): Promise<{ options: TenantOptions; columns: TenantColumnInfo[] }> {
  const flags = tenantOptionsFrom(values)
  if (values.schema !== undefined) {
    const tables = await loadSchemaTables(values.schema, io.cwd)
    const options = schemaOptions(tables, flags)
    const columns =
      values['id-type'] !== undefined ? columnsFrom(values['id-type']) : schemaSpecs(tables, options).map(({ type, length }) => ({ type, length }))
    return { options, columns }
  }
  if (flags.strategy === 'role' && flags.rolePrefix === undefined) {
    throw new UsageError(
      "The role strategy needs the app's role prefix (each tenant is a role <prefix><id>): pass --role-prefix " +
        '(--role-prefix tenant_ for the default), or --schema <file> to take it from your withRls tables.',
    )
  }
  return { options: flags, columns: columnsFrom(values['id-type']) }
}

function columnsFrom(idType: string | undefined): TenantColumnInfo[] {
  if (idType === undefined) return []
  const type = ID_TYPES.find((t) => t === idType)
  if (!type) {
    throw new UsageError(`Unknown --id-type ${JSON.stringify(idType)}: use ${ID_TYPES.join(', ')} (the app's tenant column type).`)
  }
  return [{ type }]
}

/** Every id checked (by the core's rules) before anything is sent; canonical, without duplicates. */
function validIds(options: ResolvedOptions, columns: readonly TenantColumnInfo[], ids: readonly string[]): string[] {
  const texts = new Set<string>()
  for (const id of ids) {
    try {
      texts.add(tenantIdText(id, options, columns))
    } catch (error) {
      if (error instanceof InvalidTenantId) throw new UsageError(`${error.message.replace(/\.$/, '')}. Nothing was written.`)
      throw error
    }
  }
  return [...texts]
}

/** The two ways to run the migration, for the messages that ask for it. */
const HOW_TO_MIGRATE =
  'with drizzle-kit: npx pg-tenants generate --schema <file> --out <drizzle dir> && npx drizzle-kit migrate; otherwise the SQL of npx pg-tenants sql --schema <file>'

/** A registry (setting) or tenant role (role) that is not there means the migration was not run
 * or the flags differ from the app's options: say which, before anything is attempted. */
async function checkSetup(db: CliDatabase, engine: TenantEngine): Promise<void> {
  const o = engine.options
  if (o.strategy === 'setting') {
    const { rows } = await db.query('SELECT to_regclass($1) IS NOT NULL AS ok', [qualified(o.schema, o.registryTable)])
    if (rows[0]?.['ok'] !== true) {
      throw new UsageError(
        `No tenant registry ${o.schema}.${o.registryTable} in this database: run the pg-tenants migration first ` +
          `(${HOW_TO_MIGRATE}), or pass the app's options (--strategy, --db-schema, --registry-table).`,
      )
    }
    return
  }
  const { rows } = await db.query('SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS ok', [o.tenantRole])
  if (rows[0]?.['ok'] !== true) {
    throw new UsageError(
      `No tenant role ${o.tenantRole} on this server: run the pg-tenants migration (role strategy) first ` +
        `(${HOW_TO_MIGRATE}), or pass the app's options (--strategy, --tenant-role).`,
    )
  }
}

async function list(engine: TenantEngine, json: boolean, io: Io): Promise<number> {
  const ids = [...(await engine.listTenants())].sort()
  if (json) {
    io.stdout.write(JSON.stringify(ids) + '\n')
  } else {
    io.stdout.write(ids.map((id) => shown(id) + '\n').join(''))
  }
  if (io.stderr.isTTY === true) {
    const style = styleFor(io.stderr, io.env)
    io.stderr.write(style.dim(`${count(ids.length, 'tenant')} (${engine.options.strategy} strategy)`) + '\n')
  }
  return EXIT.ok
}

/** An id as one line of output: as it is, unless a control character would break the line. */
function shown(id: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for: they would break the line
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(id) ? JSON.stringify(id) : id
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

async function change(engine: TenantEngine, action: 'create' | 'delete', ids: readonly string[], skipQuietly: boolean | undefined, io: Io): Promise<number> {
  const out = styleFor(io.stdout, io.env)
  const err = styleFor(io.stderr, io.env)
  const progress = progressFor(io)
  const done = action === 'create' ? 'created' : 'deleted'
  let changed = 0
  let skipped = 0
  let failed = 0
  try {
    for (const [index, id] of ids.entries()) {
      if (io.signal?.aborted) {
        throw new Interrupted(`Interrupted: ${done} ${changed} of ${count(ids.length, 'tenant')}; the other ${ids.length - index} were not attempted.`)
      }
      progress.update(index, ids.length, id)
      try {
        await (action === 'create' ? engine.createTenant(id) : engine.deleteTenant(id))
        changed++
        progress.print(io.stdout, `${out.green(done)} ${shown(id)}`)
      } catch (error) {
        const absent = action === 'create' ? error instanceof TenantAlreadyExists : error instanceof TenantNotFound
        if (!absent) throw stopped(error, action, changed, ids.length)
        const state = action === 'create' ? 'already exists' : 'does not exist'
        if (skipQuietly) {
          skipped++
          progress.print(io.stdout, `${out.yellow('skipped')} ${shown(id)} (${state})`)
        } else {
          failed++
          const flag = action === 'create' ? '--if-not-exists' : '--if-exists'
          progress.print(io.stderr, `${err.red('pg-tenants:')} tenant ${JSON.stringify(id)} ${state}; pass ${flag} to skip it.`)
        }
      }
    }
    progress.update(ids.length, ids.length, '')
  } finally {
    progress.end()
  }
  if (io.stderr.isTTY === true && ids.length > 1) {
    const parts = [`${done} ${count(changed, 'tenant')}`]
    if (skipped > 0) parts.push(`${skipped} skipped`)
    if (failed > 0) parts.push(err.red(`${failed} failed`))
    io.stderr.write(err.dim(parts.join(', ')) + '\n')
  }
  return failed > 0 ? EXIT.failure : EXIT.ok
}

/** A database error that stops the run, on one line, with how far the run got and a hint for
 * the usual cause; `main` reports it (exit 1). */
function stopped(error: unknown, action: 'create' | 'delete', changed: number, total: number): unknown {
  const privilege = action === 'create' ? 'INSERT' : 'DELETE'
  const hint =
    sqlState(error) === '42501' && !(error instanceof TenantError)
      ? ` (the URL's user needs CREATEROLE for the role strategy, ${privilege} on the registry for the setting strategy)`
      : ''
  if (changed === 0 && hint === '') return error
  const message = (error instanceof Error ? oneLine(error.message) : String(error)).replace(/\.$/, '')
  const verb = action === 'create' ? 'created' : 'deleted'
  const progress = changed > 0 ? `; ${verb} ${changed} of ${total} before it, the rest were not attempted` : ''
  return new Error(`${message}${hint}${progress}.`, { cause: error })
}
