/**
 * What the benchmark needs of a stack: a scoped unit of work and the stack's own plain
 * transaction, each reading rows by primary key, and a probe of who runs them and what they see.
 * Each stack (server-stacks.ts, pglite-stacks.ts) gives these in its own API; `benchStack` turns
 * them into the same calls for every stack.
 *
 * @module
 */
import type { Counter } from '../scope-overhead/round-trips.js'
import { SCHEMA } from './config.js'

export interface Row {
  readonly id: number
  readonly tenant: string
}

/** `items` has FORCE ROW LEVEL SECURITY and the library's policies; `items_plain` has none. */
export type Table = 'items' | 'items_plain'

/** The same select for every stack that takes SQL text. */
export const selectText = (table: Table) => `SELECT id, tenant, payload FROM ${SCHEMA}.${table} WHERE id = $1`

/** What a probe saw: the role it ran as and the tenant of every row of `items` it could read. */
export interface Seen {
  readonly user: string
  readonly tenants: readonly string[]
}

export interface BenchStack {
  /** Counts the calls and ReadyForQuery messages of the stack's one connection. */
  readonly counter: Counter
  /** `withTenant(tenant, tx => one select per key on table)`: the rows read. */
  scoped(tenant: string, table: Table, keys: readonly number[]): Promise<Row[]>
  /** The stack's own plain transaction doing the same on `items_plain`. */
  plain(keys: readonly number[]): Promise<Row[]>
  /** current_user and every row of `items`, in a scope of `tenant`, or in a plain transaction. */
  probe(tenant: string | undefined): Promise<Seen>
  /** The physical connections the stack opens (default 1: the scope and the plain transaction
   * share it); a stack whose baseline has a pool of its own opens 2. */
  readonly connections?: number
  /** A pattern peers publish for the same stack, measured beside the scope in the same run. */
  readonly pattern?: PatternStack
  close(): Promise<void>
}

/** Another way to scope a unit of work to a tenant (a peer's published pattern): measured like
 * `scoped`, against the same plain transaction, and reported in a row of its own. */
export interface PatternStack {
  /** The row's name in the table. */
  readonly label: string
  /** The pattern's unit of work of `tenant`: one select per key on `table`. */
  scoped(tenant: string, table: Table, keys: readonly number[]): Promise<Row[]>
  /** current_user and every row of `items`, as the pattern scoped to `tenant` sees them. */
  probe(tenant: string): Promise<Seen>
  /** A one-off observation, printed under the table. */
  note?(): Promise<string>
}

/** A stack's parts, over its own transaction handle `H`. */
export interface StackParts<H> {
  readonly counter: Counter
  readonly scope: <R>(tenant: string, fn: (h: H) => Promise<R>) => Promise<R>
  readonly transaction: <R>(fn: (h: H) => Promise<R>) => Promise<R>
  readonly select: (h: H, table: Table, id: number) => Promise<readonly Row[]>
  /** Rows of a statement without parameters. */
  readonly raw: (h: H, sql: string) => Promise<readonly Record<string, unknown>[]>
  readonly close: () => Promise<void>
}

export function benchStack<H>(parts: StackParts<H>): BenchStack {
  const { scope, transaction, select, raw } = parts
  const read = async (h: H, table: Table, keys: readonly number[]) => {
    const rows: Row[] = []
    for (const k of keys) rows.push(...(await select(h, table, k)))
    return rows
  }
  const see = async (h: H): Promise<Seen> => {
    const [me] = await raw(h, 'SELECT current_user::text AS u')
    const all = await raw(h, `SELECT tenant FROM ${SCHEMA}.items`)
    return { user: String(me?.['u']), tenants: all.map((r) => String(r['tenant'])) }
  }
  return {
    counter: parts.counter,
    scoped: (tenant, table, keys) => scope(tenant, (h) => read(h, table, keys)),
    plain: (keys) => transaction((h) => read(h, 'items_plain', keys)),
    probe: (tenant) => (tenant === undefined ? transaction(see) : scope(tenant, see)),
    close: () => parts.close(),
  }
}
