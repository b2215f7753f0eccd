/**
 * What `withRls` shows drizzle-kit: exactly one policy, `pg_tenants_access`, permissive, for all,
 * to public, with the tenant condition of the table's strategy; RLS enabled; the table's own
 * extra config kept. And the mark that every copy of pg-tenants reads, which the manager and
 * `migrationSql` check against their options.
 */
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { check, getTableConfig, index, integer, pgPolicy, pgSchema, pgTable, serial, text, uuid } from 'drizzle-orm/pg-core'
import { describe, expect, it } from 'vitest'
import { TenantError } from '../src/core/errors.js'
import { resolveOptions } from '../src/core/options.js'
import { POLICY_NAMES, tenantCondition } from '../src/core/policy.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'
import { readMark, RLS_MARK } from '../src/drizzle/mark.js'

const sqlOf = (value: unknown) => (value as { queryChunks: { value: string[] }[] }).queryChunks.map((c) => c.value.join('')).join('')

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('withRls: the policy drizzle-kit sees', () => {
  it('adds exactly the permissive tenant policy, to public, and enables RLS', () => {
    const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))
    const config = getTableConfig(todos)
    expect(config.enableRLS).toBe(true)
    expect(config.policies).toHaveLength(1)
    const [policy] = config.policies
    expect({ name: policy!.name, as: policy!.as, for: policy!.for, to: policy!.to }).toEqual({
      name: POLICY_NAMES.access,
      as: 'permissive',
      for: 'all',
      to: 'public',
    })
    const condition = tenantCondition(resolveOptions(), 'tenant', 'text')
    expect(sqlOf(policy!.using)).toBe(condition)
    expect(sqlOf(policy!.withCheck)).toBe(condition)
  })

  it("writes the condition of the table's strategy, role prefix and column type", () => {
    const t = withRls(pgTable('projects', { id: serial('id'), org: uuid('org') }), { column: 'org', strategy: 'role', rolePrefix: 'crm_' })
    const [policy] = getTableConfig(t).policies
    expect(sqlOf(policy!.using)).toBe(tenantCondition(resolveOptions({ strategy: 'role', rolePrefix: 'crm_', adminRole: 'b' }), 'org', 'uuid'))
    expect(sqlOf(policy!.using)).toContain(`starts_with(current_user::text, 'crm_')`)
    // The condition names the tenant role, so withRls takes it too.
    const named = withRls(pgTable('tasks', { id: serial('id'), tenant: text('tenant') }), { tenantRole: 'crm_rls' })
    expect(sqlOf(getTableConfig(named).policies[0]!.using)).toBe(tenantCondition(resolveOptions({ tenantRole: 'crm_rls' }), 'tenant', 'text'))
  })

  it("keeps the table's own indexes, checks and policies, in the array and the legacy object form", () => {
    const own = pgPolicy('own_read', { for: 'select', using: sql`true` })
    const array = withRls(
      pgTable('a', { id: serial('id'), tenant: text('tenant') }, (t) => [index('a_tenant_idx').on(t.tenant), check('a_id', sql`${t.id} > 0`), own]),
    )
    const a = getTableConfig(array)
    expect(a.indexes.map((i) => i.config.name)).toEqual(['a_tenant_idx'])
    expect(a.checks.map((c) => c.name)).toEqual(['a_id'])
    expect(a.policies.map((p) => p.name)).toEqual(['own_read', POLICY_NAMES.access])
    const legacy = withRls(pgTable('b', { id: serial('id'), tenant: text('tenant') }, (t) => ({ byTenant: index('b_tenant_idx').on(t.tenant) })))
    const b = getTableConfig(legacy)
    expect(b.indexes.map((i) => i.config.name)).toEqual(['b_tenant_idx'])
    expect(b.policies.map((p) => p.name)).toEqual([POLICY_NAMES.access])
  })

  it('wrapping twice still gives one policy, with the latest options', () => {
    const table = pgTable('twice', { id: serial('id'), tenant: text('tenant') }, (t) => [index('twice_idx').on(t.tenant)])
    withRls(table)
    withRls(table, { strategy: 'role' })
    const config = getTableConfig(table)
    expect(config.policies).toHaveLength(1)
    expect(config.indexes).toHaveLength(1)
    expect(sqlOf(config.policies[0]!.using)).toContain('current_user')
    expect(readMark(table)?.strategy).toBe('role')
  })

  it('refuses a table that has a policy named pg_tenants_access already', () => {
    const table = pgTable('mine', { id: serial('id'), tenant: text('tenant') }, () => [pgPolicy(POLICY_NAMES.access, { using: sql`true` })])
    const error = thrown(() => withRls(table))
    expect(error).toBeInstanceOf(TenantError)
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(String(error)).toMatch(/already has a policy named pg_tenants_access.*rename or remove yours/)
  })

  it('refuses an unknown strategy and a bad role prefix', () => {
    const table = () => pgTable('t', { tenant: text('tenant') })
    expect(thrown(() => withRls(table(), { strategy: 'roles' as never }))).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(thrown(() => withRls(table(), { rolePrefix: 'bad prefix' }))).toMatchObject({ code: 'INVALID_OPTIONS' })
  })

  it('refuses a control character in the table, schema or column name (it would end a SQL comment line)', () => {
    const evil = 'evil\nSELECT pg_sleep(0); CREATE TABLE pwned(); --'
    for (const make of [
      () => pgTable(evil, { tenant: text('tenant') }),
      () => pgSchema('app\r').table('t', { tenant: text('tenant') }),
      () => pgTable('t', { tenant: text('ten\u007fant') }),
      () => pgTable('t', { tenant: text('ten\u0000ant') }),
    ]) {
      const error = thrown(() => withRls(make()))
      expect(error).toBeInstanceOf(TenantError)
      expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
      expect(String(error)).toMatch(/holds a control character .*rename it/)
      expect(String(error)).not.toContain('\n')
    }
  })

  it('leaves its mark under a global symbol, which another copy of pg-tenants reads', () => {
    const t = withRls(pgTable('marked', { id: serial('id'), org: integer('org') }), { column: 'org' })
    expect(RLS_MARK).toBe(Symbol.for('pg-tenants.withRls'))
    expect((t as unknown as Record<symbol, unknown>)[Symbol.for('pg-tenants.withRls')]).toEqual({
      schema: '',
      name: 'marked',
      column: 'org',
      type: 'integer',
      length: undefined,
      strategy: 'setting',
      rolePrefix: 'tenant_',
      tenantRole: 'tenants_rls',
      explicit: false,
    })
    expect(Object.keys(t)).not.toContain('pg-tenants.withRls')
  })
})

describe('the manager and migrationSql refuse a table made for other options', () => {
  const roleTable = () => withRls(pgTable('crm', { id: serial('id'), tenant: text('tenant') }), { strategy: 'role', rolePrefix: 'crm_' })
  const plainTable = () => withRls(pgTable('plain', { id: serial('id'), tenant: text('tenant') }))

  it('migrationSql', () => {
    const error = thrown(() => migrationSql([roleTable()]))
    expect(error).toBeInstanceOf(TenantError)
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(String(error)).toMatch(
      /Table crm was declared with withRls\(…, \{ strategy: 'role', rolePrefix: "crm_", tenantRole: "tenants_rls" \}\).*pass \{ strategy: 'setting', tenantRole: "tenants_rls" \} to its withRls/,
    )
    expect(() => migrationSql([roleTable()], { strategy: 'role', rolePrefix: 'crm_', tenantRole: 'crmrls' })).toThrow(/tenantRole: "crmrls"/)
    expect(() => migrationSql([roleTable()], { strategy: 'role', rolePrefix: 'other_' })).toThrow(/rolePrefix: "other_"/)
    expect(migrationSql([roleTable()], { strategy: 'role', rolePrefix: 'crm_' }).up).toContain(`'crm_'`)
    // A table that chose nothing is accepted by either strategy: the migration writes its policy.
    expect(migrationSql([plainTable()], { strategy: 'role' }).up).toContain('current_user')
  })

  it('PostgresManager.fromDrizzle, for tables in the Drizzle schema and in `tables`', async () => {
    const lite = new PGlite()
    try {
      const crm = roleTable()
      expect(() => PostgresManager.fromDrizzle(drizzle(lite), { tables: [crm] })).toThrow(/Table crm was declared with withRls/)
      expect(() => PostgresManager.fromDrizzle(drizzle(lite, { schema: { crm } }))).toThrow(TenantError)
      expect(PostgresManager.fromDrizzle(drizzle(lite, { schema: { crm } }), { strategy: 'role', rolePrefix: 'crm_' }).options.strategy).toBe('role')
      expect(PostgresManager.fromDrizzle(drizzle(lite), { strategy: 'role', tables: [plainTable()] }).options.strategy).toBe('role')
    } finally {
      await lite.close()
    }
  })
})
