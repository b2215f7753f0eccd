/**
 * A tenant column whose type changes (`varchar(40)` → `varchar(80)`): drizzle-kit writes
 * `ALTER TABLE … ALTER COLUMN … SET DATA TYPE`, which PostgreSQL refuses while a policy uses the
 * column ("cannot alter type of a column used in a policy definition"), and every later
 * migration waits behind it. So `pg-tenants generate` edits that pending drizzle-kit migration:
 * right before the ALTER it drops the pg-tenants policies of the table (and of its partitions),
 * right after it puts the table's own back, and its own migration (which runs after) re-creates
 * them all as usual. drizzle's migrator runs every pending migration in one transaction, so no
 * other session ever sees the table without them.
 *
 * @module
 */
import { onPartitions, sqlComment, type TableSpec } from '../core/migration.js'
import { createPolicySql, POLICY_NAMES, type PolicyDefinition } from '../core/policy.js'
import { qualified, quoteIdent } from '../core/quote.js'
import { UsageError } from './io.js'
import { BREAKPOINT, type FileEdit, type JournalEntry } from './kit-folder.js'

/** A drizzle-kit migration newer than the last pg-tenants one. */
export interface PendingFile {
  readonly entry: JournalEntry
  readonly path: string
  readonly text: string
}

/** A table with pg-tenants policies on a column. */
export interface PolicyTable {
  /** The table, and the column its policies use now. */
  readonly table: TableSpec
  /** The policies to put back right after the type change. */
  readonly policies: readonly PolicyDefinition[]
  /** Set when the change cannot be handled here: the message of the refusal, with the steps. */
  readonly refuse?: string | undefined
}

/** What to change in drizzle-kit's files, and the tables (`schema.name`) whose tenant column
 * changes type, which this run's migration must re-create the policies of. */
export interface Retypes {
  readonly edits: FileEdit[]
  readonly tables: Set<string>
}

/** The edits for every table of `tables` whose column a `pending` migration changes the type of. */
export function retypeEdits(pending: readonly PendingFile[], tables: readonly PolicyTable[]): Retypes {
  const texts = new Map(pending.map((file) => [file.path, file.text]))
  const retyped = new Set<string>()
  for (const policyTable of tables) {
    const { table } = policyTable
    const t = qualified(table.schema, table.name)
    const note = `pg-tenants generate: the type of ${t}.${quoteIdent(table.column)} changes here, and its pg-tenants policies use it`
    const alter = alterPattern(table)
    const found: { file: PendingFile; at: number }[] = []
    for (const file of pending) {
      const chunks = chunksOf(texts.get(file.path)!)
      chunks.forEach((chunk, at) => {
        if (alter.test(chunk)) found.push({ file, at })
      })
    }
    const first = found[0]
    const last = found.at(-1)
    if (!first || !last) continue
    retyped.add(`${table.schema}.${table.name}`)
    if (policyTable.refuse) throw new UsageError(policyTable.refuse)
    // Written on an earlier run whose migration was removed since: the edit is there already.
    if (found.some(({ file }) => texts.get(file.path)!.includes(note))) continue
    const unsplit = found.find(({ file }) => !file.entry.breakpoints)
    if (unsplit) {
      throw new UsageError(
        `${unsplit.file.path} changes the type of ${t}.${quoteIdent(table.column)}, which its pg-tenants policies use, and has no ` +
          `statement breakpoints: add \`DROP POLICY IF EXISTS …\` of ${Object.values(POLICY_NAMES).join(', ')} ON ${t} before the ALTER ` +
          'yourself, or regenerate it with breakpoints: true; then run this command again.',
      )
    }
    const drops = commented(`${note}: they are dropped before the change`, [
      ...Object.values(POLICY_NAMES).map((name) => `DROP POLICY IF EXISTS ${name} ON ${t};`),
      dropOnPartitions(table),
    ])
    const puts = commented(
      `${note}: they are put back after it (the pg-tenants migration after this one re-creates them, on partitions too)`,
      policyTable.policies.map((policy) => createPolicySql(policy, t)),
    )
    // After first, so that positions in the same file stay right: `last` is at or after `first`.
    insert(texts, last.file.path, last.at + 1, puts)
    insert(texts, first.file.path, first.at, drops)
  }
  const edits = pending
    .filter((file) => texts.get(file.path) !== file.text)
    .map((file) => ({ path: file.path, original: file.text, text: texts.get(file.path)! }))
  return { edits, tables: retyped }
}

/** `statements` with a comment line riding on the first. */
function commented(comment: string, statements: readonly string[]): string[] {
  const [first = '', ...rest] = statements
  return [`${sqlComment(comment)}\n${first}`, ...rest]
}

/** drizzle-kit writes `stmt;--> statement-breakpoint\nstmt`: the statements, each without the
 * newline after the breakpoint, so that joining them again gives the same text. */
function chunksOf(text: string): string[] {
  return text.split(BREAKPOINT).map((chunk, i) => (i === 0 ? chunk : chunk.replace(/^\n/, '')))
}

function insert(texts: Map<string, string>, path: string, at: number, statements: readonly string[]): void {
  const chunks = chunksOf(texts.get(path)!)
  chunks.splice(at, 0, ...statements)
  texts.set(path, chunks.join(`${BREAKPOINT}\n`))
}

/** drizzle-kit's ALTER of the column's type: the table unqualified when it is in public. */
function alterPattern(table: TableSpec): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const refs = [qualified(table.schema, table.name), ...(table.schema === 'public' ? [quoteIdent(table.name)] : [])]
  // At the start of a line: a statement of its own (a file without breakpoints has several in a part).
  return new RegExp(`^\\s*ALTER TABLE (?:${refs.map(escape).join('|')}) ALTER COLUMN ${escape(quoteIdent(table.column))} SET DATA TYPE\\b`, 'm')
}

/** The policies of the table's partitions, at any depth (none for a table that has none). */
function dropOnPartitions(table: TableSpec): string {
  return onPartitions(
    table,
    Object.values(POLICY_NAMES).map((name) => (p: string) => `DROP POLICY IF EXISTS ${name} ON ${p}`),
  )
}
