/**
 * `pg-tenants generate`: writes what drizzle-kit cannot emit (roles, grants, the registry, FORCE,
 * the restrictive and admin policies, the tenant index and check, the shared tables' grants) into
 * drizzle-kit's own migration history, as a custom migration exactly like `drizzle-kit generate
 * --custom` writes one: the SQL file, a snapshot copy and a journal entry. `drizzle-kit migrate`
 * then applies everything.
 *
 * Each file it writes starts with a machine-readable line, `-- pg-tenants: {json}`, recording the
 * options and the tables it covered; the next run reads the latest such line and writes only what
 * changed since (nothing at all when nothing did).
 *
 * @module
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { migrationStatements, sharedTableStatements, sqlComment, tableStatements, type TableSpec } from '../../core/migration.js'
import type { ResolvedOptions, SharedTable } from '../../core/options.js'
import { POLICY_NAMES, tenantCondition, tenantPolicies } from '../../core/policy.js'
import { qualified, quoteIdent } from '../../core/quote.js'
import type { TenantColumnType } from '../../core/tenant-id.js'
import { parseFlags, TENANT_OPTION_FLAGS, TENANT_OPTION_HELP, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { EXIT, Interrupted, styleFor, UsageError, type Io } from '../io.js'
import { BREAKPOINT, latestSnapshot, readJournal, readJson, snapshotOf, writeEdits, writeMigration, type Journal, type Snapshot } from '../kit-folder.js'
import { retypeEdits, type PendingFile, type PolicyTable, type Retypes } from '../kit-retype.js'
import { loadSchemaTables, schemaOptions, schemaSpecs } from '../schema.js'

const FLAGS = {
  schema: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  all: { type: 'boolean' },
  ...TENANT_OPTION_FLAGS,
} as const

/** The first line of every file this command writes. */
const HEADER = '-- pg-tenants: '
const HEADER_VERSION = 1

/** What a pg-tenants migration records about itself, in its first line. Headers written before
 * `sharedTables`, `adoptRoles` and `citus` existed lack them: read as none, false and false. */
interface Header {
  readonly v: typeof HEADER_VERSION
  readonly options: Omit<ResolvedOptions, 'settingKey'>
  readonly tables: readonly TableSpec[]
  /** Tables that left withRls and were kept closed to tenants (see {@link changes}); absent when
   * there are none. A table stays listed while it exists, so that it is closed only once. */
  readonly left?: readonly TableSpec[]
}

/** The last header, where it is in the journal. */
interface Previous extends Header {
  readonly tag: string
  readonly index: number
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'write the RLS setup drizzle-kit cannot emit as a drizzle-kit custom migration',
  help: `Usage: pg-tenants generate --schema <file> --out <drizzle dir> [--name pg_tenants] [--all] [tenancy options]

Run it after drizzle-kit generate. It adds to drizzle-kit's migration folder a custom migration
(SQL file, snapshot and journal entry, as drizzle-kit generate --custom does) with what
drizzle-kit cannot emit: the roles and grants, the registry table, FORCE ROW LEVEL SECURITY, the
restrictive tenant policy, the admin policy, the tenant index and the non-empty check, and the
grants of the --shared tables. Then drizzle-kit migrate applies everything, as the app's login
role.

The first run writes the whole setup. Later runs write only what changed: new or changed
withRls tables (a table drizzle-kit dropped and created again counts as new), and the grants of
shared tables declared, changed or no longer declared (revoked); nothing at all when nothing
changed. A table taken out of withRls is never opened: drizzle-kit turns its row level security
off, this turns it on again (the table stays closed to tenants) and prints a warning saying how
to make it shared on purpose.

A tenant column whose type changes (varchar(40) to varchar(80)): PostgreSQL cannot alter a
column that policies use, so this command edits drizzle-kit's pending migration (the one after
the last pg-tenants migration): it drops the table's pg-tenants policies right before the ALTER
and puts them back right after it, and says so on stderr. drizzle-kit migrate runs all pending
migrations in one transaction: no session sees the table without them.

Run drizzle-kit generate first: a withRls table (or shared table) drizzle-kit has not seen yet,
or that changed or left withRls since its latest snapshot, is refused (exit 2).

  --schema <file>             the module that exports your withRls tables (.ts, .js)
  --out <dir>                 drizzle-kit's migration folder (its "out"), e.g. ./drizzle
  --name <name>               the migration's name, default: pg_tenants
  --all                       after what changed, write the whole setup again (it is
                              idempotent): to repair a database that drifted (pg-tenants check)

${TENANT_OPTION_HELP}

Exit codes: 0 written, or nothing to write; 1 the files could not be written (nothing is left
half-written); 2 bad input (a schema that does not load, no drizzle-kit migrations yet, a withRls
or shared table drizzle-kit has not seen, an unknown strategy, options that differ from the last
run); nothing is written then.

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
    const shown = relative(io.cwd, snapshotFile)
    checkDrizzleSaw(
      specs,
      tables.map((t) => t.mark.schema),
      options,
      snapshot,
      shown,
    )

    const previous = await lastHeader(out, journal)
    const declared = options.sharedTables.filter((t) => !previous || sharedChanged(previous.options.sharedTables, t))
    checkSharedExist(declared, snapshot, shown)
    const result: Changes = previous
      ? await changesSince(previous, { out, journal, snapshot, shown }, specs, options, values.all === true)
      : { statements: [...migrationStatements(specs, options).up], left: [], newlyLeft: [], edits: [] }
    const { statements, left, newlyLeft, edits } = result
    if (statements.length === 0 && edits.length > 0) {
      // Only tables that left withRls change type: their policies are put back in drizzle-kit's
      // file itself, and there is nothing for a migration of ours.
      if (io.signal?.aborted) throw new Interrupted('Interrupted: nothing was written.')
      await writeEdits(edits)
      for (const edit of edits) reportEdit(io, edit.path)
      io.stdout.write(`Nothing else to write: the withRls and shared tables are as the last pg-tenants migration (${previous?.tag}) left them.\n`)
      return EXIT.ok
    }
    if (statements.length === 0) {
      io.stdout.write(`Nothing to write: the withRls and shared tables are as the last pg-tenants migration (${previous?.tag}) left them.\n`)
      return EXIT.ok
    }
    // Ctrl-C before the files are written stops here; once writing began, it is finished (it takes
    // milliseconds) or, should the process exit meanwhile, undone: never half-written.
    if (io.signal?.aborted) throw new Interrupted('Interrupted: nothing was written.')
    const note = '-- Written by `pg-tenants generate`: the row-level security setup drizzle-kit cannot emit. Do not edit the line above.'
    const sql = `${header(options, specs, left)}\n${note}\n${statements.join(`\n${BREAKPOINT}\n`)}\n`
    const written = await writeMigration(out, journal, snapshot, name, sql, edits)
    for (const edit of edits) reportEdit(io, edit.path)
    for (const table of newlyLeft) warnLeft(io, table, options)
    if (io.signal?.aborted) throw new Interrupted(`Interrupted after ${relative(io.cwd, written)} was written completely; apply it with drizzle-kit migrate.`)
    const what = !previous
      ? `the setup and ${specs.length} tables`
      : values.all === true
        ? `the whole setup again, ${specs.length} tables`
        : `${statements.length} statements for what changed`
    io.stdout.write(`Wrote ${relative(io.cwd, written)} (${what}). Apply it with drizzle-kit migrate.\n`)
    return EXIT.ok
  },
}

/**
 * Every withRls table must be in drizzle-kit's latest snapshot, with the policy withRls gives it
 * now and its tenant column's type: otherwise drizzle-kit generate has not run since the table was
 * added or changed, and this migration would run before the table exists (or before the change,
 * which would then undo this one's work).
 */
function checkDrizzleSaw(specs: readonly TableSpec[], declaredSchemas: readonly string[], options: ResolvedOptions, snapshot: Snapshot, shown: string): void {
  specs.forEach((spec, i) => {
    if (!declaredSchemas[i] && spec.schema !== 'public') {
      throw new UsageError(
        `Table ${spec.name} has no schema, so drizzle-kit creates it in public, not in --db-schema ${spec.schema}: ` +
          `declare it with pgSchema('${spec.schema}').table(...), or drop --db-schema.`,
      )
    }
    const drizzleTable = snapshot.tables?.[key(spec)]
    if (!drizzleTable) {
      throw new UsageError(`Table ${key(spec)} is not in drizzle-kit's latest snapshot (${shown}): run drizzle-kit generate first, then this command.`)
    }
    const policy = drizzleTable.policies?.[POLICY_NAMES.access]
    const columns = drizzleTable.columns
    const column = columns?.[spec.column]
    if (policy?.using !== tenantCondition(options, spec.column, spec.type) || (columns && column?.type !== kitType(spec))) {
      throw new UsageError(`Table ${key(spec)} changed since drizzle-kit's latest snapshot (${shown}): run drizzle-kit generate first, then this command.`)
    }
  })
}

/** A tenant column's type as drizzle-kit's snapshot writes it. */
function kitType(spec: Pick<TableSpec, 'type' | 'length'>): string {
  return spec.type === 'varchar' && spec.length !== undefined ? `varchar(${spec.length})` : spec.type
}

/** The tenant column type of a snapshot's column type, for a table whose mark is gone. */
function typeOfKit(type: string | undefined): { type: TenantColumnType; length?: number } | undefined {
  const varchar = /^varchar(?:\((\d+)\))?$/.exec(type ?? '')
  if (varchar) return varchar[1] === undefined ? { type: 'varchar' } : { type: 'varchar', length: Number(varchar[1]) }
  const plain = (['text', 'integer', 'bigint', 'uuid'] as const).find((t) => t === type)
  return plain && { type: plain }
}

/** Shared tables declared `read` or `write` must be in drizzle-kit's latest snapshot: a grant on a
 * table that does not exist yet fails the migration, and every migration after it. (`none` of a
 * table that is gone revokes nothing.) */
function checkSharedExist(shared: readonly SharedTable[], snapshot: Snapshot, shown: string): void {
  const missing = shared.find((t) => t.access !== 'none' && snapshot.tables?.[key(t)] === undefined)
  if (missing) {
    throw new UsageError(
      `Shared table ${key(missing)} is not in drizzle-kit's latest snapshot (${shown}): run drizzle-kit generate first, ` +
        'then this command; or check --shared.',
    )
  }
}

/** The latest `-- pg-tenants:` header among the journal's migrations, with its tag and place. */
async function lastHeader(out: string, journal: Journal): Promise<Previous | undefined> {
  let found: Previous | undefined
  for (const [index, entry] of journal.entries.entries()) {
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
      parsed.options === null ||
      (parsed.options.sharedTables !== undefined && !Array.isArray(parsed.options.sharedTables)) ||
      (parsed.left !== undefined && !Array.isArray(parsed.left))
    ) {
      throw new UsageError(`${path} was written by another version of pg-tenants: upgrade pg-tenants.`)
    }
    const options = {
      ...parsed.options,
      sharedTables: parsed.options.sharedTables ?? [],
      adoptRoles: parsed.options.adoptRoles ?? false,
      citus: parsed.options.citus ?? false,
    }
    found = { ...parsed, options, tag: entry.tag, index }
  }
  return found
}

function header(options: ResolvedOptions, specs: readonly TableSpec[], left: readonly TableSpec[]): string {
  const { settingKey: _, ...recorded } = options
  const value: Header = { v: HEADER_VERSION, options: recorded, tables: specs, ...(left.length > 0 ? { left } : {}) }
  return `${HEADER}${JSON.stringify(value)}`
}

const key = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`
const same = (a: TableSpec, b: TableSpec) => a.column === b.column && a.type === b.type && a.length === b.length

/**
 * The tables of the last pg-tenants migration that a drizzle-kit snapshot since then lacks:
 * drizzle-kit dropped them. One that is back was created anew, bare (drizzle-kit gives it ENABLE
 * and pg_tenants_access only), so it needs its whole part again, like a new table.
 */
async function droppedSince(out: string, journal: Journal, previous: Previous, latest: Snapshot): Promise<Set<string>> {
  const keys = [...previous.tables, ...(previous.left ?? [])].map(key)
  const dropped = new Set<string>()
  for (const entry of journal.entries.slice(previous.index + 1)) {
    const snapshot = await snapshotOf(out, entry)
    for (const k of keys) if (snapshot && snapshot.tables?.[k] === undefined) dropped.add(k)
  }
  for (const k of keys) if (latest.tables?.[k] === undefined) dropped.add(k)
  return dropped
}

/** drizzle-kit's migrations after the last pg-tenants one: not applied yet, unless someone ran
 * drizzle-kit migrate between the two generate commands. */
async function pendingKitFiles(out: string, journal: Journal, previous: Previous): Promise<PendingFile[]> {
  const files: PendingFile[] = []
  for (const entry of journal.entries.slice(previous.index + 1)) {
    const path = join(out, `${entry.tag}.sql`)
    if (!existsSync(path)) continue
    const text = await readFile(path, 'utf8')
    if (!text.startsWith(HEADER)) files.push({ entry, path, text })
  }
  return files
}

/** The tables that have pg-tenants policies now, on which column, and which of those policies to
 * put back after a change of that column's type: all three on a withRls table (with its new
 * type), the restrictive and admin ones on a table that left withRls (with the type drizzle-kit's
 * snapshot gives the column). */
function policyTables(
  previous: Previous,
  specs: readonly TableSpec[],
  options: ResolvedOptions,
  snapshot: Snapshot,
  dropped: ReadonlySet<string>,
): PolicyTable[] {
  const now = new Map(specs.map((spec) => [key(spec), spec]))
  const out: PolicyTable[] = []
  for (const old of [...previous.tables, ...(previous.left ?? [])]) {
    if (dropped.has(key(old))) continue
    const spec = now.get(key(old))
    const t = qualified(old.schema, old.name)
    if (spec) {
      const refuse =
        spec.column === old.column
          ? undefined
          : `A pending drizzle-kit migration changes the type of ${t}.${quoteIdent(old.column)}, which its pg-tenants policies use, ` +
            `while withRls moves the tenant column to ${quoteIdent(spec.column)}: do one at a time. Put the old tenant column back in ` +
            'withRls, run drizzle-kit generate and this command (the type change), then move the tenant column and run both again.'
      out.push({ table: old, policies: tenantPolicies(options, spec.column, spec.type), ...(refuse ? { refuse } : {}) })
      continue
    }
    const column = typeOfKit(snapshot.tables?.[key(old)]?.columns?.[old.column]?.type) ?? old
    const kept = tenantPolicies(options, old.column, column.type).filter((p) => p.name !== POLICY_NAMES.access)
    out.push({ table: old, policies: kept })
  }
  return out
}

/** drizzle-kit's folder, as a run read it. */
interface Folder {
  readonly out: string
  readonly journal: Journal
  /** The latest snapshot, and its path as shown in messages. */
  readonly snapshot: Snapshot
  readonly shown: string
}

/** {@link changes} since the last pg-tenants migration, after reading what drizzle-kit did since
 * (the tables it dropped, its pending migrations); with `all`, the whole setup again after them. */
async function changesSince(previous: Previous, folder: Folder, specs: readonly TableSpec[], options: ResolvedOptions, all: boolean): Promise<Changes> {
  const { out, journal, snapshot, shown } = folder
  const dropped = await droppedSince(out, journal, previous, snapshot)
  const retypes = retypeEdits(await pendingKitFiles(out, journal, previous), policyTables(previous, specs, options, snapshot, dropped))
  const result = changes(previous, specs, options, snapshot, dropped, retypes, shown)
  if (!all) return result
  // The whole setup again (it is idempotent): for a database that drifted.
  const closed = result.left.filter((t) => !result.newlyLeft.includes(t)).map(closeLeft)
  return { ...result, statements: [...result.statements, ...migrationStatements(specs, options).up, ...closed] }
}

/** Whether a declared shared table is new or its access differs from the last run's. */
function sharedChanged(before: readonly SharedTable[], table: SharedTable): boolean {
  return before.find((t) => key(t) === key(table))?.access !== table.access
}

/** What a run writes: the statements, the tables that left withRls (all, for the header; those
 * that left since the last run, to warn about), and its edits of drizzle-kit's files. */
interface Changes {
  readonly statements: string[]
  readonly left: TableSpec[]
  readonly newlyLeft: TableSpec[]
  readonly edits: Retypes['edits']
}

/**
 * What changed since the last pg-tenants migration, as statements: the grants of shared tables
 * declared, changed or no longer declared (revoked); new tables (and tables drizzle-kit dropped and
 * created again) get their part of the setup, changed ones lose the old part and get the new one,
 * and a table whose tenant column changes type gets its policies again. Options must not have
 * changed, but for `sharedTables` and `adoptRoles` (which only the first run's roles use).
 *
 * A table no longer wrapped in withRls but still in drizzle-kit's snapshot is never opened: its
 * drizzle-kit migration turns row level security off (and drops `pg_tenants_access`), while the
 * tenant role keeps its grants, so every tenant could read and write all of its rows. This
 * migration turns it on again: the table stays closed to tenants (only the admin role sees its
 * rows) until the developer makes it shared on purpose, or wraps it again. It is recorded as
 * `left`, so that later runs neither close it again nor forget it.
 */
function changes(
  previous: Previous,
  specs: readonly TableSpec[],
  options: ResolvedOptions,
  snapshot: Snapshot,
  dropped: ReadonlySet<string>,
  retypes: Retypes,
  shown: string,
): Changes {
  const { settingKey: _, ...now } = options
  // The role prefix only reaches the SQL in the role strategy.
  const keys = (Object.keys(now) as (keyof typeof now)[]).filter(
    (k) => k !== 'sharedTables' && k !== 'adoptRoles' && (k !== 'rolePrefix' || now.strategy === 'role'),
  )
  const differ = keys.filter((k) => previous.options[k] !== now[k])
  if (differ.length > 0) {
    const was = differ.map((k) => `${k} ${JSON.stringify(previous.options[k])}`).join(', ')
    const is = differ.map((k) => `${k} ${JSON.stringify(now[k])}`).join(', ')
    throw new UsageError(
      `The last pg-tenants migration (${previous.tag}) used ${was}; this run asks for ${is}. ` +
        'generate does not move a setup between options: pass the same flags and withRls options as then, ' +
        'or write the change yourself (see docs/migrations.md, "Changing options").',
    )
  }
  const statements = sharedStatements(previous.options.sharedTables, specs, options)
  const kept = (t: TableSpec) => !dropped.has(key(t))
  const before = new Map(previous.tables.filter(kept).map((t) => [key(t), t]))
  const leftBefore = new Map((previous.left ?? []).filter(kept).map((t) => [key(t), t]))
  const covered = new Set([options.schema, ...previous.tables.map((t) => t.schema), ...(previous.left ?? []).map((t) => t.schema)])
  for (const spec of specs) {
    const old = before.get(key(spec))
    const wasLeft = leftBefore.get(key(spec))
    before.delete(key(spec))
    leftBefore.delete(key(spec))
    if (old && same(old, spec) && !retypes.tables.has(key(spec))) continue
    // A table wrapped again after it left gets its whole part again: drizzle-kit re-creates only
    // ENABLE and pg_tenants_access, and a hand-written migration may have removed the rest.
    const undo = old ? (same(old, spec) ? undefined : old) : wasLeft && !same(wasLeft, spec) ? wasLeft : undefined
    if (undo) statements.push(...tableStatements(undo, options).down)
    statements.push(...tableStatements(spec, options, { schemaGrants: !covered.has(spec.schema) }).up)
    covered.add(spec.schema)
  }
  const exists = (t: TableSpec) => snapshot.tables?.[key(t)] !== undefined // else drizzle-kit dropped it
  const newlyLeft = [...before.values()].filter(exists)
  for (const old of newlyLeft) {
    // drizzle-kit has not seen the table leave: its migration, written after this one, would turn
    // row level security off after this one turned it on, and open the table to every tenant.
    if (snapshot.tables?.[key(old)]?.policies?.[POLICY_NAMES.access] !== undefined) {
      throw new UsageError(
        `Table ${key(old)} left withRls, but drizzle-kit's latest snapshot (${shown}) still has its ${POLICY_NAMES.access} policy: ` +
          'run drizzle-kit generate first, then this command.',
      )
    }
    statements.push(closeLeft(old))
  }
  return { statements, left: [...newlyLeft, ...[...leftBefore.values()].filter(exists)], newlyLeft, edits: retypes.edits }
}

/** Row level security on again for a table that left withRls (drizzle-kit turned it off). */
function closeLeft(table: TableSpec): string {
  const t = qualified(table.schema, table.name)
  return `${sqlComment(`${t} left withRls: row level security on again, so that it stays closed to tenants`)}\nALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;`
}

/** The grants of the shared tables whose declaration changed since the last run: declared now
 * with another access (or newly), or no longer declared (their grants revoked, as for `none`,
 * unless the table is a withRls table now, whose own part grants it). */
function sharedStatements(before: readonly SharedTable[], specs: readonly TableSpec[], options: ResolvedOptions): string[] {
  const declared = new Set(options.sharedTables.map(key))
  const tenantTables = new Set(specs.map(key))
  const undeclared = before
    .filter((t) => !declared.has(key(t)) && !tenantTables.has(key(t)) && t.access !== 'none')
    .map((t) => ({ ...t, access: 'none' as const }))
  const changed = [...options.sharedTables.filter((t) => sharedChanged(before, t)), ...undeclared]
  return changed.length === 0 ? [] : [...sharedTableStatements({ ...options, sharedTables: changed }).up]
}

/** One line on stderr for each drizzle-kit file this run changed. */
function reportEdit(io: Io, path: string): void {
  io.stderr.write(
    `${styleFor(io.stderr, io.env).yellow('pg-tenants:')} edited ${relative(io.cwd, path)}: a tenant column changes type there, so the ` +
      'pg-tenants policies are dropped before that ALTER and put back after it (PostgreSQL cannot change the type of a column a policy uses).\n',
  )
}

/** What stays in place for a table that left withRls, and how to make it shared on purpose. */
function warnLeft(io: Io, table: TableSpec, options: ResolvedOptions): void {
  const t = qualified(table.schema, table.name)
  const shown = JSON.stringify(key(table))
  const roles = `${quoteIdent(options.tenantRole)}, ${quoteIdent(options.adminRole)}`
  const style = styleFor(io.stderr, io.env)
  io.stderr.write(
    `${style.yellow('pg-tenants: warning:')} table ${shown} is no longer wrapped in withRls. drizzle-kit's migration turns its ` +
      'row level security off, while the tenant role keeps its grants (every tenant could then read and write all of its rows); ' +
      'this migration turns it on again, so the table stays closed to tenants: its restrictive and admin policies, FORCE, ' +
      'index, check and grants stay in place, and only the admin role sees its rows. To make it shared on purpose, write a ' +
      `migration of your own (npx drizzle-kit generate --custom) with its part of \`pg-tenants sql --down\` (see docs/migrations.md, ` +
      `"A table that leaves withRls"), plus REVOKE SELECT, INSERT, UPDATE, DELETE ON ${t} FROM ${roles}; if tenants must not ` +
      'use it at all. To keep it tenant-scoped, wrap it in withRls again.\n',
  )
}
