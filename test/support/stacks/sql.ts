/** The stacks with no ORM over the existing drivers, and Drizzle. */
import { sql as dsql, type SQL } from 'drizzle-orm'
import { bigint, integer, pgSchema, text, uuid, varchar } from 'drizzle-orm/pg-core'
import type { TableSpec } from '../../../src/core/migration.js'
import type { TenantOptions } from '../../../src/core/options.js'
import { withRls } from '../../../src/drizzle/index.js'
import { fromDrizzle } from '../../../src/drizzle/index.js'
import { fromPg } from '../../../src/pg/index.js'
import { fromPglite } from '../../../src/pglite/index.js'
import type { PgPoolLike } from '../../../src/drivers/node-postgres.js'
import type { PgliteLike } from '../../../src/drivers/pglite.js'
import type { Row } from '../targets.js'
import type { SqlManagerOptions } from '../../../src/core/manager.js'
import type { AnyManager, Stack } from './types.js'

/** `text` with `$n` placeholders as a Drizzle `sql` object. */
export function drizzleSql(text: string, params: readonly unknown[]): SQL {
  const parts = text.split(/\$(\d+)/)
  const chunks: SQL[] = []
  parts.forEach((part, i) => chunks.push(i % 2 === 0 ? dsql.raw(part) : dsql`${params[Number(part) - 1]}`))
  return dsql.join(chunks, dsql.raw(''))
}

/** A Drizzle `withRls` table for a spec (its tenant column only: the body queries with SQL). */
export function drizzleTable(spec: TableSpec, options: TenantOptions) {
  const column = {
    text: () => text(spec.column),
    varchar: () => varchar(spec.column, spec.length === undefined ? {} : { length: spec.length }),
    integer: () => integer(spec.column),
    bigint: () => bigint(spec.column, { mode: 'bigint' }),
    uuid: () => uuid(spec.column),
  }[spec.type]()
  return withRls(pgSchema(spec.schema).table(spec.name, { [spec.column]: column.notNull() }), {
    column: spec.column,
    strategy: options.strategy,
    rolePrefix: options.rolePrefix,
    tenantRole: options.tenantRole,
  })
}

export const drizzleStack: Stack = {
  name: 'drizzle',
  supports: () => true,
  async open(login, options, tables, settings = {}) {
    const { max: _max, ...engine } = settings
    const manager = fromDrizzle(login.db, { ...options, ...engine, tables: tables.map((t) => drizzleTable(t, options)) })
    return {
      manager,
      async query(handle, text, params = []) {
        const result = await (handle as { execute(q: SQL): Promise<unknown> }).execute(drizzleSql(text, params))
        return (result as { rows: Row[] }).rows
      },
      outside: async (text) => ((await login.db.execute(dsql.raw(text))) as { rows: Row[] }).rows,
      end: async () => undefined,
    }
  },
}

/** A SQL-level stack over the login's own client (`tx.query(text, values)` in every scope). */
function clientStack(name: string, supports: Stack['supports'], make: (client: unknown, options: SqlManagerOptions) => AnyManager): Stack {
  return {
    name,
    supports,
    async open(login, options, tables, settings = {}) {
      const { max: _max, ...engine } = settings
      return {
        manager: make(login.client, { ...options, ...engine, tables }),
        async query(handle, text, params = []) {
          return (await (handle as { query(t: string, p: readonly unknown[]): Promise<{ rows: Row[] }> }).query(text, params)).rows
        },
        outside: (text) => login.exec(text),
        end: async () => undefined,
      }
    },
  }
}

export const pgStack = clientStack(
  'pg',
  (target) => target !== 'pglite',
  (client, options) => fromPg(client as PgPoolLike, options),
)
export const pgliteStack = clientStack(
  'pglite',
  (target) => target === 'pglite',
  (client, options) => fromPglite(client as PgliteLike, options),
)
