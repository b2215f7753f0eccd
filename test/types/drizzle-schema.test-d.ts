/**
 * Type tests of `pg-tenants/drizzle`'s schema side: `withRls` gives back the table it was given,
 * with its exact type, and its options and `migrationSql`'s are checked. Checked by vitest's
 * typecheck mode (`npm test`) and by `npm run typecheck`; nothing here runs.
 */
import { integer, pgSchema, pgTable, serial, text, uuid } from 'drizzle-orm/pg-core'
import { describe, expectTypeOf, it } from 'vitest'
import { migrationSql, withRls, type WithRlsOptions } from '../../src/drizzle/index.js'
import type { MigrationSql, Strategy } from '../../src/index.js'

const plainTodos = pgTable('todos', { id: serial('id').primaryKey(), title: text('title').notNull(), tenant: text('tenant').notNull() })
const todos = withRls(plainTodos)
const projects = withRls(pgTable('projects', { id: serial('id').primaryKey(), orgId: uuid('org_id').notNull() }), { column: 'orgId' })
const billing = pgSchema('billing')
const invoices = withRls(billing.table('invoices', { id: serial('id').primaryKey(), tenant: integer('tenant').notNull() }))

describe('withRls', () => {
  it('returns the same table, with its exact type', () => {
    expectTypeOf(todos).toEqualTypeOf<typeof plainTodos>()
    expectTypeOf(todos.$inferSelect).toEqualTypeOf<{ id: number; title: string; tenant: string }>()
    expectTypeOf(todos.$inferInsert).toEqualTypeOf<{ id?: number; title: string; tenant: string }>()
    expectTypeOf(projects.$inferSelect).toEqualTypeOf<{ id: number; orgId: string }>()
    expectTypeOf(invoices.$inferSelect).toEqualTypeOf<{ id: number; tenant: number }>()
    expectTypeOf(todos.tenant._.name).toEqualTypeOf<'tenant'>()
  })

  it('takes the documented options', () => {
    withRls(pgTable('a', { tenant: text('tenant') }), {})
    withRls(pgTable('b', { t: text('t') }), { column: 't', strategy: 'role', rolePrefix: 'crm_t_', tenantRole: 'crm_rls' })
    const options: WithRlsOptions = { column: 'tenant_id', strategy: 'setting' }
    expectTypeOf(options.strategy).toEqualTypeOf<Strategy | undefined>()
    expectTypeOf<WithRlsOptions>().toEqualTypeOf<{ column?: string; strategy?: Strategy; rolePrefix?: string; tenantRole?: string }>()
  })

  it('refuses a misspelt option or a value of the wrong type', () => {
    const table = pgTable('c', { tenant: text('tenant') })
    // @ts-expect-error colum is misspelt
    withRls(table, { colum: 'tenant' })
    // @ts-expect-error the strategies are 'setting' and 'role'
    withRls(table, { strategy: 'roles' })
    // @ts-expect-error column is a name
    withRls(table, { column: table.tenant })
    // @ts-expect-error adminRole is the manager's option, not withRls'
    withRls(table, { adminRole: 'admin' })
  })

  it('takes a Drizzle pg table only', () => {
    // @ts-expect-error a table name is not a table
    withRls('todos')
    // @ts-expect-error nor is a plain object
    withRls({ tenant: 'text' })
    // @ts-expect-error nor is a schema
    withRls(billing)
  })
})

describe('migrationSql', () => {
  it('returns up and down', () => {
    expectTypeOf(migrationSql([todos, projects])).toEqualTypeOf<MigrationSql>()
    expectTypeOf(migrationSql([todos]).up).toEqualTypeOf<string>()
    expectTypeOf(migrationSql([todos]).down).toEqualTypeOf<string>()
    const tables = [todos, invoices] as const
    migrationSql(tables, { sharedTables: { plans: 'read' } })
  })

  it('takes the tenancy options', () => {
    migrationSql([todos], {
      schema: 'app',
      strategy: 'role',
      rolePrefix: 'crm_t_',
      tenantRole: 'crm_rls',
      adminRole: 'crm_admin',
      registryTable: 'crm_tenants',
      sharedTables: { plans: 'read', 'billing.rates': 'write', legacy: 'none' },
      adoptRoles: true,
    })
  })

  it('refuses a misspelt option or a value of the wrong type', () => {
    // @ts-expect-error rolePrefx is misspelt
    migrationSql([todos], { strategy: 'role', rolePrefx: 't_' })
    // @ts-expect-error sharedTable is misspelt
    migrationSql([todos], { sharedTable: { plans: 'read' } })
    // @ts-expect-error the strategies are 'setting' and 'role'
    migrationSql([todos], { strategy: 'roles' })
    // @ts-expect-error shared access is 'read', 'write' or 'none'
    migrationSql([todos], { sharedTables: { plans: 'readwrite' } })
    // @ts-expect-error adoptRoles is a boolean
    migrationSql([todos], { adoptRoles: 'yes' })
    // @ts-expect-error knownTenantTtlMs is the manager's option, not the migration's
    migrationSql([todos], { knownTenantTtlMs: 0 })
    // @ts-expect-error the tables come as a list
    migrationSql(todos)
  })

  it('takes its tables as unknown[] (a table not wrapped in withRls is refused at run time)', () => {
    // Not a defect, but worth knowing: withRls gives back the table's own type (no brand), so the
    // types cannot tell a withRls table from a plain one, and `tables` is `readonly unknown[]`.
    expectTypeOf(migrationSql).parameter(0).toEqualTypeOf<readonly unknown[]>()
  })
})
