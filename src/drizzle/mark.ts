/**
 * The mark `withRls` leaves on a table. It is a property under a global symbol rather than an
 * entry in a module-local map, so that every copy of pg-tenants in a process sees it: the ESM and
 * CommonJS builds (drizzle-kit loads a schema with `require`), and the CLI reading a schema file
 * the app compiled against its own copy. This module imports no ORM, so the CLI can read marks
 * without loading drizzle-orm.
 *
 * @module
 */
import type { TableSpec } from '../core/migration.js'
import type { Strategy } from '../core/options.js'

/** The key of the mark. */
export const RLS_MARK: unique symbol = Symbol.for('pg-tenants.withRls') as never

/** What `withRls` records: the table and the options its policy was built with. An empty
 * `schema` means the manager's default schema. */
export interface RlsMark extends TableSpec {
  readonly strategy: Strategy
  readonly rolePrefix: string
}

/** The mark of a `withRls` table, or undefined for anything else. */
export function readMark(value: unknown): RlsMark | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined
  const mark = (value as { [RLS_MARK]?: unknown })[RLS_MARK]
  return typeof mark === 'object' && mark !== null ? (mark as RlsMark) : undefined
}
