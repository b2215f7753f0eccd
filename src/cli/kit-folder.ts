/**
 * drizzle-kit's migration folder, as `pg-tenants generate` reads and writes it: the journal, the
 * snapshots, and a custom migration written exactly like `drizzle-kit generate --custom` writes
 * one (SQL file, snapshot copy, journal entry), all or nothing.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { UsageError } from './io.js'

/** drizzle's migrator splits a file on this and runs each part as one statement. */
export const BREAKPOINT = '--> statement-breakpoint'

export interface JournalEntry {
  idx: number
  version: string
  when: number
  tag: string
  breakpoints: boolean
}

export interface Journal {
  version: string
  dialect: string
  entries: JournalEntry[]
}

export interface SnapshotColumn {
  type?: string
}

export interface SnapshotTable {
  columns?: Record<string, SnapshotColumn>
  policies?: Record<string, { using?: string; withCheck?: string }>
}

export interface Snapshot {
  id: string
  prevId: string
  version: string
  tables?: Record<string, SnapshotTable>
  [key: string]: unknown
}

export async function readJson<T>(path: string, what: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new UsageError(`Cannot read drizzle-kit's ${what} ${path}: ${reason}`)
  }
}

export async function readJournal(out: string, shown: string): Promise<Journal> {
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
export async function latestSnapshot(out: string, shown: string): Promise<string> {
  const files = (await readdir(join(out, 'meta'))).filter((f) => !f.startsWith('_') && f.endsWith('.json')).sort()
  const last = files.at(-1)
  if (!last) throw new UsageError(`No drizzle-kit snapshot in ${shown}/meta: run drizzle-kit generate first.`)
  return join(out, 'meta', last)
}

/** The snapshot drizzle-kit wrote with a journal entry (`meta/<prefix>_snapshot.json`), or
 * undefined when there is none. */
export async function snapshotOf(out: string, entry: JournalEntry): Promise<Snapshot | undefined> {
  const prefix = /^([^_]+)_/.exec(entry.tag)?.[1]
  const path = prefix === undefined ? undefined : join(out, 'meta', `${prefix}_snapshot.json`)
  if (path === undefined || !existsSync(path)) return undefined
  return readJson<Snapshot>(path, 'snapshot')
}

/** A file of drizzle-kit's that a run changes: its text before and after. */
export interface FileEdit {
  readonly path: string
  readonly original: string
  readonly text: string
}

/**
 * Writes `<out>/<tag>.sql`, `meta/<prefix>_snapshot.json` (the latest snapshot with a new id, as
 * `drizzle-kit generate --custom` does, so that drizzle-kit's next diff starts from the same
 * schema), the `edits` of existing files, and the journal entry. Every file goes to a temporary
 * name first and is renamed into place, the journal last; on any error, whatever was written is
 * removed again and every edited file gets its old text back.
 */
export async function writeMigration(
  out: string,
  journal: Journal,
  snapshot: Snapshot,
  name: string,
  sql: string,
  edits: readonly FileEdit[] = [],
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

  const { id: _id, prevId: _prevId, ...rest } = snapshot
  const copy = { id: randomUUID(), prevId: snapshot.id, ...rest, _meta: { columns: {}, schemas: {}, tables: {} } }
  const entry = { idx, version: snapshot.version, when: Math.max(Date.now(), (last?.when ?? 0) + 1), tag, breakpoints: true }
  const nextJournal = { ...journal, entries: [...journal.entries, entry] }

  const created = [
    { path: sqlPath, text: sql },
    { path: snapshotPath, text: JSON.stringify(copy, null, 2) },
  ]
  const journalFile = { path: join(out, 'meta', '_journal.json'), text: JSON.stringify(nextJournal, null, 2) }
  const files = [...created, ...edits, journalFile] // the journal last
  // Temporary names start with `_`: drizzle-kit takes every other file in meta/ for a snapshot.
  const temp = (path: string) => join(dirname(path), `_pg-tenants-${process.pid}-${basename(path)}.tmp`)
  // Until the journal is renamed, the new SQL file and snapshot (which did not exist before, see
  // above) are not a migration yet: they go with the temporary files, and the edited files get
  // their old text back.
  const undoSync = (journalDone: boolean) => {
    const paths = [...files.map((file) => temp(file.path)), ...(journalDone ? [] : created.map((file) => file.path))]
    for (const path of paths) rmSync(path, { force: true })
    if (!journalDone) for (const edit of edits) writeFileSync(edit.path, edit.original)
  }
  // A second Ctrl-C, the grace after the first, or a SIGTERM exits the process in the middle:
  // 'exit' listeners still run, synchronously. A journal rename already done is kept.
  const undoOnExit = () => {
    let done = false
    try {
      done = readFileSync(journalFile.path, 'utf8') === journalFile.text
    } catch {
      // no journal to read: not done
    }
    try {
      undoSync(done)
    } catch {
      // exiting anyway; the next run names what is in its way
    }
  }
  process.on('exit', undoOnExit)
  try {
    for (const file of files) await writeFile(temp(file.path), file.text, { flag: 'wx' })
    for (const file of files) await rename(temp(file.path), file.path)
  } catch (error) {
    await Promise.allSettled([...files.map((file) => temp(file.path)), ...created.map((file) => file.path)].map((path) => rm(path, { force: true })))
    await Promise.allSettled(edits.map((edit) => writeFile(edit.path, edit.original)))
    throw error
  } finally {
    process.off('exit', undoOnExit)
  }
  return sqlPath
}

/** Writes `edits` alone (each to a temporary name, then renamed into place); on an error, every
 * edited file gets its old text back. */
export async function writeEdits(edits: readonly FileEdit[]): Promise<void> {
  const temp = (path: string) => join(dirname(path), `.pg-tenants-${process.pid}-${basename(path)}.tmp`)
  try {
    for (const edit of edits) await writeFile(temp(edit.path), edit.text, { flag: 'wx' })
    for (const edit of edits) await rename(temp(edit.path), edit.path)
  } catch (error) {
    await Promise.allSettled(edits.map((edit) => rm(temp(edit.path), { force: true })))
    await Promise.allSettled(edits.map((edit) => writeFile(edit.path, edit.original)))
    throw error
  }
}

/** The file prefix drizzle-kit would use next, by the look of the last tag (its `prefix` option:
 * index by default, else timestamp/supabase or unix). */
function prefixFor(idx: number, lastTag: string | undefined): string {
  const digits = /^(\d+)_/.exec(lastTag ?? '')?.[1]
  if (digits?.length === 14) return new Date().toISOString().replace('T', '').replaceAll('-', '').replaceAll(':', '').slice(0, 14)
  if (digits?.length === 10) return String(Math.floor(Date.now() / 1000))
  return String(idx).padStart(4, '0')
}
