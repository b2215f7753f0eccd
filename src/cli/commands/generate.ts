/**
 * `pg-tenants generate`: writes what drizzle-kit cannot emit (roles, grants, the registry, FORCE,
 * the restrictive and admin policies, the tenant index and check) into drizzle-kit's own migration
 * history, as a custom migration exactly like `drizzle-kit generate --custom` writes one: the SQL
 * file, a snapshot copy and a journal entry. `drizzle-kit migrate` then applies everything.
 *
 * Each file it writes starts with a machine-readable line, `-- pg-tenants: {json}`, recording the
 * options and the tables it covered; the next run reads the latest such line and writes only what
 * changed since (nothing at all when nothing did).
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { migrationStatements, sqlComment, tableStatements, type TableSpec } from '../../core/migration.js'
import type { ResolvedOptions } from '../../core/options.js'
import { POLICY_NAMES, tenantCondition } from '../../core/policy.js'
import { qualified, quoteIdent } from '../../core/quote.js'
import { parseFlags, TENANT_OPTION_FLAGS, TENANT_OPTION_HELP, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { EXIT, Interrupted, styleFor, UsageError, type Io } from '../io.js'
import { loadSchemaTables, schemaOptions, schemaSpecs } from '../schema.js'

const FLAGS = {
  schema: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  ...TENANT_OPTION_FLAGS,
} as const

/** drizzle's migrator splits a file on this and runs each part as one statement. */
const BREAKPOINT = '--> statement-breakpoint'
/** The first line of every file this command writes. */
const HEADER = '-- pg-tenants: '
const HEADER_VERSION = 1

/** What a pg-tenants migration records about itself, in its first line. */
interface Header {
  readonly v: typeof HEADER_VERSION
  readonly options: Omit<ResolvedOptions, 'settingKey'>
  readonly tables: readonly TableSpec[]
  /** Tables that left withRls and were kept closed to tenants (see {@link changes}); absent when
   * there are none. A table stays listed while it exists, so that it is closed only once. */
  readonly left?: readonly TableSpec[]
}

interface Journal {
  version: string
  dialect: string
  entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[]
}

interface Snapshot {
  id: string
  prevId: string
  version: string
  tables?: Record<string, { policies?: Record<string, { using?: string; withCheck?: string }> }>
  [key: string]: unknown
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'write the RLS setup drizzle-kit cannot emit as a drizzle-kit custom migration',
  help: `Usage: pg-tenants generate --schema <file> --out <drizzle dir> [--name pg_tenants] [tenancy options]

Run it after drizzle-kit generate. It adds to drizzle-kit's migration folder a custom migration
(SQL file, snapshot and journal entry, as drizzle-kit generate --custom does) with what
drizzle-kit cannot emit: the roles and grants, the registry table, FORCE ROW LEVEL SECURITY, the
restrictive tenant policy, the admin policy, the tenant index and the non-empty check. Then
drizzle-kit migrate applies everything, as the app's login role.

The first run writes the whole setup. Later runs write only what new or changed withRls tables
need, and nothing at all when nothing changed. A table taken out of withRls is never opened:
drizzle-kit turns its row level security off, this turns it on again (the table stays closed to
tenants) and prints a warning saying how to make it shared on purpose.

  --schema <file>             the module that exports your withRls tables (.ts, .js)
  --out <dir>                 drizzle-kit's migration folder (its "out"), e.g. ./drizzle
  --name <name>               the migration's name, default: pg_tenants

${TENANT_OPTION_HELP}

Exit codes: 0 written, or nothing to write; 1 the files could not be written (nothing is left
half-written); 2 bad input (a schema that does not load, no drizzle-kit migrations yet, a withRls
table drizzle-kit has not seen, an unknown strategy, options that differ from the last run);
nothing is written then.

Example:
  npx drizzle-kit generate && npx pg-tenants generate --schema ./src/db/schema.ts --out ./drizzle
  npx drizzle-kit migrate`,

  async run(argv, io) {
    const { values } = parseFlags('generate', argv, FLAGS)
    if (values.schema === undefined) throw new UsageError('Missing --schema <file>: the module that exports your withRls tables.')
    if (values.out === undefined) throw new UsageError("Missing --out <dir>: drizzle-kit's migration folder, e.g. --out ./drizzle.")
    const name = values.name ?? 'pg_tenants'
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      throw new UsageError(`--name ${JSON.stringify(name)}: use letters, digits, _ and - (it becomes the file name).`)
    }
    const flags = tenantOptionsFrom(values)
    const out = resolve(io.cwd, values.out)
    const journal = await readJournal(out, values.out)
    const snapshotFile = await latestSnapshot(out, values.out)
    const snapshot = await readJson<Snapshot>(snapshotFile, 'snapshot')

    const tables = await loadSchemaTables(values.schema, io.cwd)
    const options = schemaOptions(tables, flags)
    const specs = schemaSpecs(tables, options)
    checkDrizzleSaw(specs, tables.map((t) => t.mark.schema), options, snapshot, relative(io.cwd, snapshotFile))

    const previous = await lastHeader(out, journal)
    const { statements, left, newlyLeft } = previous
      ? changes(previous, specs, options, snapshot)
      : { statements: [...migrationStatements(specs, options).up], left: [], newlyLeft: [] }
    if (statements.length === 0) {
      io.stdout.write(`Nothing to write: the withRls tables are as the last pg-tenants migration (${previous?.tag}) left them.\n`)
      return EXIT.ok
    }
    // Ctrl-C before the files are written stops here; once writing began, it is finished (it takes
    // milliseconds) or, should the process exit meanwhile, undone: never half-written.
    if (io.signal?.aborted) throw new Interrupted('Interrupted: nothing was written.')
    const written = await writeMigration(out, journal, snapshot, name, header(options, specs, left), statements)
    for (const table of newlyLeft) warnLeft(io, table, options)
    if (io.signal?.aborted) throw new Interrupted(`Interrupted after ${relative(io.cwd, written)} was written completely; apply it with drizzle-kit migrate.`)
    const what = previous ? `${statements.length} statements for the tables that changed` : `the setup and ${specs.length} tables`
    io.stdout.write(`Wrote ${relative(io.cwd, written)} (${what}). Apply it with drizzle-kit migrate.\n`)
    return EXIT.ok
  },
}

async function readJson<T>(path: string, what: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new UsageError(`Cannot read drizzle-kit's ${what} ${path}: ${reason}`)
  }
}

async function readJournal(out: string, shown: string): Promise<Journal> {
  const path = join(out, 'meta', '_journal.json')
  if (!existsSync(path)) {
    throw new UsageError(`No drizzle-kit migrations in ${shown} (meta/_journal.json is missing): run drizzle-kit generate first, or check --out.`)
  }
  const journal = await readJson<Journal>(path, 'journal')
  if (!Array.isArray(journal.entries)) throw new UsageError(`${path} is not a drizzle-kit journal: check --out.`)
  if (journal.dialect !== 'postgresql') {
    throw new UsageError(`${path} is a ${String(journal.dialect)} journal; pg-tenants needs dialect: 'postgresql'.`)
  }
  return journal
}

/** The snapshot drizzle-kit compares against next: the last file in meta/ by name, as it picks. */
async function latestSnapshot(out: string, shown: string): Promise<string> {
  const files = (await readdir(join(out, 'meta'))).filter((f) => !f.startsWith('_') && f.endsWith('.json')).sort()
  const last = files.at(-1)
  if (!last) throw new UsageError(`No drizzle-kit snapshot in ${shown}/meta: run drizzle-kit generate first.`)
  return join(out, 'meta', last)
}

/**
 * Every withRls table must be in drizzle-kit's latest snapshot, with the policy withRls gives it
 * now: otherwise drizzle-kit generate has not run since the table was added or changed, and this
 * migration would run before the table exists.
 */
function checkDrizzleSaw(
  specs: readonly TableSpec[],
  declaredSchemas: readonly string[],
  options: ResolvedOptions,
  snapshot: Snapshot,
  shown: string,
): void {
  specs.forEach((spec, i) => {
    if (!declaredSchemas[i] && spec.schema !== 'public') {
      throw new UsageError(
        `Table ${spec.name} has no schema, so drizzle-kit creates it in public, not in --db-schema ${spec.schema}: ` +
          `declare it with pgSchema('${spec.schema}').table(...), or drop --db-schema.`,
      )
    }
    const drizzleTable = snapshot.tables?.[`${spec.schema}.${spec.name}`]
    if (!drizzleTable) {
      throw new UsageError(
        `Table ${spec.schema}.${spec.name} is not in drizzle-kit's latest snapshot (${shown}): run drizzle-kit generate first, then this command.`,
      )
    }
    const policy = drizzleTable.policies?.[POLICY_NAMES.access]
    if (policy?.using !== tenantCondition(options, spec.column, spec.type)) {
      throw new UsageError(
        `Table ${spec.schema}.${spec.name} changed since drizzle-kit's latest snapshot (${shown}): run drizzle-kit generate first, then this command.`,
      )
    }
  })
}

/** The latest `-- pg-tenants:` header among the journal's migrations, with its tag. */
async function lastHeader(out: string, journal: Journal): Promise<(Header & { tag: string }) | undefined> {
  let found: (Header & { tag: string }) | undefined
  for (const entry of journal.entries) {
    const path = join(out, `${entry.tag}.sql`)
    if (!existsSync(path)) continue
    const first = (await readFile(path, 'utf8')).split('\n', 1)[0] ?? ''
    if (!first.startsWith(HEADER)) continue
    let parsed: Header
    try {
      parsed = JSON.parse(first.slice(HEADER.length)) as Header
    } catch {
      throw new UsageError(`The first line of ${path} is not valid pg-tenants JSON: restore it as pg-tenants wrote it.`)
    }
    if (
      parsed.v !== HEADER_VERSION ||
      !Array.isArray(parsed.tables) ||
      typeof parsed.options !== 'object' ||
      (parsed.left !== undefined && !Array.isArray(parsed.left))
    ) {
      throw new UsageError(`${path} was written by another version of pg-tenants: upgrade pg-tenants.`)
    }
    found = { ...parsed, tag: entry.tag }
  }
  return found
}

function header(options: ResolvedOptions, specs: readonly TableSpec[], left: readonly TableSpec[]): string {
  const { settingKey: _, ...recorded } = options
  const value: Header = { v: HEADER_VERSION, options: recorded, tables: specs, ...(left.length > 0 ? { left } : {}) }
  return `${HEADER}${JSON.stringify(value)}`
}

const key = (t: TableSpec) => `${t.schema}.${t.name}`
const same = (a: TableSpec, b: TableSpec) => a.column === b.column && a.type === b.type && a.length === b.length

/** What a run writes: the statements, and the tables that left withRls (all, for the header;
 * those that left since the last run, to warn about). */
interface Changes {
  readonly statements: string[]
  readonly left: TableSpec[]
  readonly newlyLeft: TableSpec[]
}

/**
 * What changed since the last pg-tenants migration, as statements: new tables get their part of
 * the setup, changed ones lose the old part and get the new one. Options must not have changed.
 *
 * A table no longer wrapped in withRls but still in drizzle-kit's snapshot is never opened: its
 * drizzle-kit migration turns row level security off (and drops `pg_tenants_access`), while the
 * tenant role keeps its grants, so every tenant could read and write all of its rows. This
 * migration turns it on again: the table stays closed to tenants (only the admin role sees its
 * rows) until the developer makes it shared on purpose, or wraps it again. It is recorded as
 * `left`, so that later runs neither close it again nor forget it.
 */
function changes(previous: Header & { tag: string }, specs: readonly TableSpec[], options: ResolvedOptions, snapshot: Snapshot): Changes {
  const { settingKey: _, ...now } = options
  // The role prefix only reaches the SQL in the role strategy.
  const keys = (Object.keys(now) as (keyof typeof now)[]).filter((k) => k !== 'rolePrefix' || now.strategy === 'role')
  const differ = keys.filter((k) => previous.options[k] !== now[k])
  if (differ.length > 0) {
    const was = differ.map((k) => `${k} ${JSON.stringify(previous.options[k])}`).join(', ')
    const is = differ.map((k) => `${k} ${JSON.stringify(now[k])}`).join(', ')
    throw new UsageError(
      `The last pg-tenants migration (${previous.tag}) used ${was}; this run asks for ${is}. ` +
        'generate does not move a setup between options: pass the same flags and withRls options as then, ' +
        'or write the change yourself (see the README, "Changing options").',
    )
  }
  const before = new Map(previous.tables.map((t) => [key(t), t]))
  const leftBefore = new Map((previous.left ?? []).map((t) => [key(t), t]))
  const covered = new Set([options.schema, ...previous.tables.map((t) => t.schema), ...[...leftBefore.values()].map((t) => t.schema)])
  const statements: string[] = []
  for (const spec of specs) {
    const old = before.get(key(spec))
    const wasLeft = leftBefore.get(key(spec))
    before.delete(key(spec))
    leftBefore.delete(key(spec))
    if (old && same(old, spec)) continue
    // A table wrapped again after it left gets its whole part again: drizzle-kit re-creates only
    // ENABLE and pg_tenants_access, and a hand-written migration may have removed the rest.
    const undo = old ?? (wasLeft && !same(wasLeft, spec) ? wasLeft : undefined)
    if (undo) statements.push(...tableStatements(undo, options).down)
    statements.push(...tableStatements(spec, options, { schemaGrants: !covered.has(spec.schema) }).up)
    covered.add(spec.schema)
  }
  const exists = (t: TableSpec) => snapshot.tables?.[key(t)] !== undefined // else drizzle-kit dropped it
  const newlyLeft = [...before.values()].filter(exists)
  for (const old of newlyLeft) {
    statements.push(
      `${sqlComment(`${qualified(old.schema, old.name)} left withRls: row level security on again, so that it stays closed to tenants`)}\n` +
        `ALTER TABLE ${qualified(old.schema, old.name)} ENABLE ROW LEVEL SECURITY;`,
    )
  }
  return { statements, left: [...newlyLeft, ...[...leftBefore.values()].filter(exists)], newlyLeft }
}

/** What stays in place for a table that left withRls, and how to make it shared on purpose. */
function warnLeft(io: Io, table: TableSpec, options: ResolvedOptions): void {
  const t = qualified(table.schema, table.name)
  const shown = JSON.stringify(`${table.schema}.${table.name}`)
  const roles = `${quoteIdent(options.tenantRole)}, ${quoteIdent(options.adminRole)}`
  const style = styleFor(io.stderr, io.env)
  io.stderr.write(
    `${style.yellow('pg-tenants: warning:')} table ${shown} is no longer wrapped in withRls. drizzle-kit's migration turns its ` +
      'row level security off, while the tenant role keeps its grants (every tenant could then read and write all of its rows); ' +
      'this migration turns it on again, so the table stays closed to tenants: its restrictive and admin policies, FORCE, ' +
      'index, check and grants stay in place, and only the admin role sees its rows. To make it shared on purpose, write a ' +
      `migration of your own (npx drizzle-kit generate --custom) with its part of \`pg-tenants sql --down\` (see the README, ` +
      `"A table that leaves withRls"), plus REVOKE SELECT, INSERT, UPDATE, DELETE ON ${t} FROM ${roles}; if tenants must not ` +
      'use it at all. To keep it tenant-scoped, wrap it in withRls again.\n',
  )
}

/**
 * Writes `<out>/<tag>.sql`, `meta/<prefix>_snapshot.json` (the latest snapshot with a new id, as
 * `drizzle-kit generate --custom` does, so that drizzle-kit's next diff starts from the same
 * schema) and the journal entry. Every file goes to a temporary name first and is renamed into
 * place, the journal last; on any error, whatever was written is removed again.
 */
async function writeMigration(
  out: string,
  journal: Journal,
  snapshot: Snapshot,
  name: string,
  headerLine: string,
  statements: readonly string[],
): Promise<string> {
  const last = journal.entries.at(-1)
  const idx = last === undefined ? 0 : last.idx + 1
  const prefix = prefixFor(idx, last?.tag)
  const tag = `${prefix}_${name}`
  const sqlPath = join(out, `${tag}.sql`)
  const snapshotPath = join(out, 'meta', `${prefix}_snapshot.json`)
  for (const path of [sqlPath, snapshotPath]) {
    if (existsSync(path)) throw new UsageError(`${path} exists already: pass another --name, or remove it.`)
  }

  const note =
    '-- Written by `pg-tenants generate`: the row-level security setup drizzle-kit cannot emit. Do not edit the line above.'
  const sql = `${headerLine}\n${note}\n${statements.join(`\n${BREAKPOINT}\n`)}\n`
  const { id: _id, prevId: _prevId, ...rest } = snapshot
  const copy = { id: randomUUID(), prevId: snapshot.id, ...rest, _meta: { columns: {}, schemas: {}, tables: {} } }
  const entry = { idx, version: snapshot.version, when: Math.max(Date.now(), (last?.when ?? 0) + 1), tag, breakpoints: true }
  const nextJournal = { ...journal, entries: [...journal.entries, entry] }

  const files = [
    { path: sqlPath, text: sql },
    { path: snapshotPath, text: JSON.stringify(copy, null, 2) },
    { path: join(out, 'meta', '_journal.json'), text: JSON.stringify(nextJournal, null, 2) }, // last
  ]
  // Temporary names start with `_`: drizzle-kit takes every other file in meta/ for a snapshot.
  const temp = (path: string) => join(dirname(path), `_pg-tenants-${process.pid}-${basename(path)}.tmp`)
  const [journalFile] = files.slice(-1) as [(typeof files)[number]]
  // The journal is renamed last: until it is, the SQL file and snapshot (which did not exist
  // before, see above) are not a migration yet, and go with the temporary files.
  const undo = () => [...files.map((file) => temp(file.path)), ...files.slice(0, -1).map((file) => file.path)]
  // A second Ctrl-C, the grace after the first, or a SIGTERM exits the process in the middle:
  // 'exit' listeners still run, synchronously. A journal rename already done is kept.
  const undoOnExit = () => {
    let done = false
    try {
      done = readFileSync(journalFile.path, 'utf8') === journalFile.text
    } catch {
      // no journal to read: not done
    }
    for (const path of done ? files.map((file) => temp(file.path)) : undo()) {
      try {
        rmSync(path, { force: true })
      } catch {
        // exiting anyway; the next run names what is in its way
      }
    }
  }
  process.on('exit', undoOnExit)
  try {
    for (const file of files) await writeFile(temp(file.path), file.text, { flag: 'wx' })
    for (const file of files) await rename(temp(file.path), file.path)
  } catch (error) {
    await Promise.allSettled(undo().map((path) => rm(path, { force: true })))
    throw error
  } finally {
    process.off('exit', undoOnExit)
  }
  return sqlPath
}

/** The file prefix drizzle-kit would use next, by the look of the last tag (its `prefix` option:
 * index by default, else timestamp/supabase or unix). */
function prefixFor(idx: number, lastTag: string | undefined): string {
  const digits = /^(\d+)_/.exec(lastTag ?? '')?.[1]
  if (digits?.length === 14) return new Date().toISOString().replace('T', '').replaceAll('-', '').replaceAll(':', '').slice(0, 14)
  if (digits?.length === 10) return String(Math.floor(Date.now() / 1000))
  return String(idx).padStart(4, '0')
}
