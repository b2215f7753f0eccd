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
import type { ResolvedOptions, Strategy } from '../core/options.js'

/** The key of the mark. */
export const RLS_MARK: unique symbol = Symbol.for('pg-tenants.withRls') as never

/** What `withRls` records: the table and the options its policy was built with. An empty
 * `schema` means the manager's default schema. */
export interface RlsMark extends TableSpec {
  /** The strategy the table's drizzle-kit policy was built for (default `'setting'`). */
  readonly strategy: Strategy
  /** The role prefix the table's drizzle-kit policy was built for (default `'tenant_'`). */
  readonly rolePrefix: string
  /** The tenant role the policy's condition names (default `'tenants_rls'`). Absent in marks of
   * pg-tenants before 0.2, whose policy named no role. */
  readonly tenantRole?: string
  /** True when `withRls` was given `strategy`, `rolePrefix` or `tenantRole`; a table that left both to their
   * defaults is accepted by a manager of either strategy (its migration rewrites the policy). */
  readonly explicit: boolean
}

/** The mark of a `withRls` table, or undefined for anything else. */
export function readMark(value: unknown): RlsMark | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined
  const mark = (value as { [RLS_MARK]?: unknown })[RLS_MARK]
  return typeof mark === 'object' && mark !== null ? (mark as RlsMark) : undefined
}

/** The table part of a mark, as the migration generator takes it. */
export function specOf(mark: RlsMark): TableSpec {
  const { schema, name, column, type, length } = mark
  return length === undefined ? { schema, name, column, type } : { schema, name, column, type, length }
}

/** Whether the policy a mark carries matches `options`: the strategy, the tenant role, and in the
 * `role` strategy the role prefix (the `setting` condition does not use it). */
export function markAgrees(mark: RlsMark, options: Pick<ResolvedOptions, 'strategy' | 'rolePrefix' | 'tenantRole'>): boolean {
  return (
    mark.strategy === options.strategy &&
    (mark.tenantRole ?? 'tenants_rls') === options.tenantRole &&
    (mark.strategy !== 'role' || mark.rolePrefix === options.rolePrefix)
  )
}

/** Refusal text for a mark that disagrees with the options, or undefined when it agrees (or made
 * no choice of its own, see {@link RlsMark.explicit}). */
export function markConflict(mark: RlsMark, options: Pick<ResolvedOptions, 'strategy' | 'rolePrefix' | 'tenantRole'>): string | undefined {
  if (!mark.explicit || markAgrees(mark, options)) return undefined
  const describe = (o: { strategy: Strategy; rolePrefix: string; tenantRole?: string | undefined }) =>
    (o.strategy === 'role' ? `strategy: 'role', rolePrefix: ${JSON.stringify(o.rolePrefix)}` : `strategy: 'setting'`) +
    `, tenantRole: ${JSON.stringify(o.tenantRole ?? 'tenants_rls')}`
  const said = describe(mark)
  const want = describe(options)
  return (
    `Table ${mark.name} was declared with withRls(…, { ${said} }) but the options say otherwise: ` +
    `pass { ${want} } to its withRls, or the same options as its withRls here.`
  )
}
