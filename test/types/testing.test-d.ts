/**
 * Type tests of `pg-tenants/testing`: `assertTenantIsolation`'s options (ORM-neutral specs and
 * Drizzle tables), its summary and `TenantIsolationError`. Checked by vitest's typecheck mode
 * (`npm test`) and by `npm run typecheck`; nothing here runs.
 */
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import { describe, expectTypeOf, it } from 'vitest'
import { withRls, type AnyPostgresManager } from '../../src/drizzle/index.js'
import { TenantError, type TableSpec as CoreTableSpec, type TenantId } from '../../src/index.js'
import {
  assertTenantIsolation,
  TenantIsolationError,
  type AssertTenantIsolationOptions,
  type DrizzleIsolationEntry,
  type IsolationCheck,
  type IsolationEntry,
  type IsolationFailure,
  type IsolationRow,
  type IsolationSummary,
  type IsolationTable,
  type IsolationTableSpec,
  type SeededRows,
  type TableSpec,
} from '../../src/testing/index.js'

declare const manager: AnyPostgresManager
declare const pool: pg.Pool
declare const caught: unknown

const posts = withRls(pgTable('posts', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() }))
const comments = withRls(
  pgTable('comments', {
    id: serial('id').primaryKey(),
    postId: integer('post_id')
      .notNull()
      .references(() => posts.id),
    body: text('body').notNull(),
    tenant: text('tenant').notNull(),
  }),
)
const tags = withRls(pgTable('tags', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))

describe('assertTenantIsolation', () => {
  it('resolves to a summary', async () => {
    const summary = await assertTenantIsolation(manager, { tables: [tags] })
    expectTypeOf(summary).toEqualTypeOf<IsolationSummary>()
    expectTypeOf(summary.tenants).toEqualTypeOf<readonly [string, string]>()
    expectTypeOf(summary.tables).toEqualTypeOf<readonly string[]>()
    expectTypeOf(summary.checks).toEqualTypeOf<number>()
    expectTypeOf(assertTenantIsolation).parameter(1).toEqualTypeOf<AssertTenantIsolationOptions>()
  })

  it('takes ORM-neutral specs, with or without a row builder', async () => {
    await assertTenantIsolation(manager, {
      tables: [
        { spec: { schema: 'public', name: 'posts', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'x' }) },
        {
          spec: { schema: 'public', name: 'comments', column: 'tenant', type: 'text' },
          row: (tenant, seeded) => {
            expectTypeOf(tenant).toEqualTypeOf<TenantId>()
            expectTypeOf(seeded).toEqualTypeOf<SeededRows>()
            // Keyed by table name; a table not seeded (yet) is undefined.
            expectTypeOf(seeded.posts).toEqualTypeOf<Readonly<Record<string, unknown>> | undefined>()
            return { tenant, post_id: seeded.posts?.['id'], body: 'x' }
          },
        },
        { spec: { schema: '', name: 'tags', column: 'tenant', type: 'text' } },
        { spec: { schema: 'public', name: 'codes', column: 'tenant', type: 'varchar', length: 8 }, row: undefined },
      ],
    })
  })

  it('takes Drizzle withRls tables, bare or with a row builder, mixed with specs', async () => {
    await assertTenantIsolation(manager, {
      tables: [
        posts,
        { table: comments, row: (tenant, seeded) => ({ tenant, postId: seeded.posts?.['id'], body: 'x' }) },
        { spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'text' } },
      ],
    })
    const entry: IsolationTable = { table: comments, row: (tenant) => ({ tenant, body: 'x' }) }
    const typed: IsolationTable<typeof comments> = { table: comments, row: (tenant) => ({ tenant, body: 'x' }) }
    expectTypeOf(typed.table).toEqualTypeOf<typeof comments>()
    const bare: DrizzleIsolationEntry = tags
    const entries: IsolationEntry[] = [entry, typed, bare]
    await assertTenantIsolation(manager, { tables: entries })
  })

  it('the shared types', () => {
    expectTypeOf<IsolationRow>().toEqualTypeOf<(tenant: TenantId, seeded: SeededRows) => Record<string, unknown>>()
    expectTypeOf<SeededRows>().toEqualTypeOf<Readonly<Record<string, Readonly<Record<string, unknown>>>>>()
    expectTypeOf<IsolationTableSpec['spec']>().toEqualTypeOf<TableSpec>()
    expectTypeOf<IsolationTableSpec['row']>().toEqualTypeOf<IsolationRow | undefined>()
    // pg-tenants/testing re-exports the core's TableSpec.
    expectTypeOf<TableSpec>().toEqualTypeOf<CoreTableSpec>()
    expectTypeOf<IsolationEntry>().toEqualTypeOf<IsolationTableSpec | DrizzleIsolationEntry>()
  })

  it('refuses misspelt options and malformed entries', async () => {
    // @ts-expect-error tabels is misspelt
    await assertTenantIsolation(manager, { tabels: [tags] })
    // @ts-expect-error the options (and their tables) are required
    await assertTenantIsolation(manager)
    // @ts-expect-error tables is a list
    await assertTenantIsolation(manager, { tables: tags })
    // @ts-expect-error 'int' is no tenant column type
    await assertTenantIsolation(manager, { tables: [{ spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'int' } }] })
    // @ts-expect-error a spec names its tenant column
    await assertTenantIsolation(manager, { tables: [{ spec: { schema: 'public', name: 'tags', type: 'text' } }] })
    // @ts-expect-error rows is misspelt (row)
    await assertTenantIsolation(manager, { tables: [{ spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'text' }, rows: () => ({}) }] })
    // @ts-expect-error a row builder returns an object of column values
    await assertTenantIsolation(manager, { tables: [{ spec: { schema: 'public', name: 'tags', column: 'tenant', type: 'text' }, row: () => 'x' }] })
    // @ts-expect-error a { table } entry needs its row builder (or pass the table bare)
    await assertTenantIsolation(manager, { tables: [{ table: comments }] })
    // @ts-expect-error a table name is not a table
    await assertTenantIsolation(manager, { tables: ['tags'] })
  })

  it('takes a manager as any object (the engine is found at run time)', async () => {
    // Worth knowing, not asserted as right: `manager` is typed `object` so that every adapter's
    // manager fits, so a pg.Pool compiles too and is refused at run time (UNSUPPORTED_CLIENT).
    expectTypeOf(assertTenantIsolation).parameter(0).toEqualTypeOf<object>()
    await assertTenantIsolation(pool, { tables: [tags] })
    // @ts-expect-error a string is no manager
    await assertTenantIsolation('manager', { tables: [tags] })
  })
})

describe('TenantIsolationError', () => {
  it('is a TenantError with its failures', () => {
    expectTypeOf<TenantIsolationError>().toExtend<TenantError>()
    expectTypeOf<TenantIsolationError['failures']>().toEqualTypeOf<readonly IsolationFailure[]>()
    expectTypeOf<IsolationFailure>().toEqualTypeOf<{ readonly table?: string | undefined; readonly check: IsolationCheck; readonly message: string }>()
    expectTypeOf(TenantIsolationError).constructorParameters.toEqualTypeOf<[failures: readonly IsolationFailure[], options?: { cause?: unknown }]>()
    if (caught instanceof TenantIsolationError) {
      expectTypeOf(caught.failures).items.toEqualTypeOf<IsolationFailure>()
      expectTypeOf(caught.code).toExtend<string>()
    }
  })

  it('IsolationCheck is the union of the checks', () => {
    expectTypeOf<IsolationCheck>().toEqualTypeOf<
      'seed' | 'select' | 'insert' | 'update' | 'delete' | 'move' | 'update-all' | 'delete-all' | 'partition' | 'view' | 'outside-scope' | 'pool' | 'cleanup'
    >()
    expectTypeOf<'outside-scope'>().toExtend<IsolationCheck>()
    expectTypeOf<'outside_scope'>().not.toExtend<IsolationCheck>()
    // @ts-expect-error an unknown check
    new TenantIsolationError([{ check: 'reads', message: 'x' }])
  })
})
