/**
 * The checks that run before any SQL: tenant ids, quoting, options, `withRls`, `migrationSql` and
 * the client check of `PostgresManager.fromDrizzle`. No database is involved.
 */
import { bigint, boolean, integer, jsonb, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { InvalidTenantId, TenantError } from '../src/core/errors.js'
import { resolveOptions, SETTING_KEY, type TenantOptions } from '../src/core/options.js'
import { quoteIdent, quoteLiteral } from '../src/core/quote.js'
import { canonicalTenantId, MAX_TENANT_ID_BYTES, type TenantColumnInfo } from '../src/core/tenant-id.js'
import { migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'

const TEXT: TenantColumnInfo = { type: 'text' }
const INT: TenantColumnInfo = { type: 'integer' }
const BIG: TenantColumnInfo = { type: 'bigint' }
const UUID: TenantColumnInfo = { type: 'uuid' }
const varchar = (length: number): TenantColumnInfo => ({ type: 'varchar', length })

/** `fn` throws a TenantError INVALID_OPTIONS (never a bare TypeError) whose message matches. */
function expectInvalidOptions(fn: () => unknown, message: RegExp): void {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(TenantError)
  expect(error).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringMatching(message) as unknown })
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return expect.unreachable('expected a throw')
}

function expectInvalid(id: unknown, columns: TenantColumnInfo[], maxBytes?: number): InvalidTenantId {
  const error = thrown(() => canonicalTenantId(id, columns, maxBytes))
  expect(error, `${typeof id} ${String(id)}`).toBeInstanceOf(InvalidTenantId)
  expect((error as TenantError).code).toBe('INVALID_TENANT_ID')
  return error as InvalidTenantId
}

function expectOptionsError(options: TenantOptions): TenantError {
  const error = thrown(() => resolveOptions(options))
  expect(error, JSON.stringify(options)).toBeInstanceOf(TenantError)
  expect((error as TenantError).code).toBe('INVALID_OPTIONS')
  return error as TenantError
}

describe('canonicalTenantId', () => {
  it('accepts strings for text columns and refuses numbers there', () => {
    expect(canonicalTenantId('acme', [TEXT])).toBe('acme')
    expect(canonicalTenantId(' Mixed Case ', [TEXT])).toBe(' Mixed Case ')
    expectInvalid(42, [TEXT])
    expectInvalid(42n, [TEXT])
  })

  it('counts varchar(n) in characters, not UTF-16 units or bytes', () => {
    expect(canonicalTenantId('abc', [varchar(3)])).toBe('abc')
    expect(canonicalTenantId('ééé', [varchar(3)])).toBe('ééé')
    expect(canonicalTenantId('🚀🚀🚀', [varchar(3)])).toBe('🚀🚀🚀') // 6 UTF-16 units, 12 bytes
    expectInvalid('abcd', [varchar(3)])
    expectInvalid('🚀🚀🚀🚀', [varchar(3)])
    expectInvalid(1, [varchar(3)])
  })

  it('keeps integer ids within ±2^31', () => {
    expect(canonicalTenantId(2 ** 31 - 1, [INT])).toBe('2147483647')
    expect(canonicalTenantId(-(2 ** 31), [INT])).toBe('-2147483648')
    expect(canonicalTenantId(7n, [INT])).toBe('7')
    expect(canonicalTenantId('42', [INT])).toBe('42')
    expectInvalid(2 ** 31, [INT])
    expectInvalid(-(2 ** 31) - 1, [INT])
    expectInvalid(2n ** 31n, [INT])
    expectInvalid('2147483648', [INT])
    for (const bad of ['abc', '1.5', '042', '-0', '+1', ' 1', '1e3']) expectInvalid(bad, [INT])
  })

  it('keeps bigint ids within ±2^63, as bigint values or digit strings', () => {
    expect(canonicalTenantId(2n ** 63n - 1n, [BIG])).toBe('9223372036854775807')
    expect(canonicalTenantId(-(2n ** 63n), [BIG])).toBe('-9223372036854775808')
    expect(canonicalTenantId(9007199254740993n, [BIG])).toBe('9007199254740993')
    expect(canonicalTenantId('9223372036854775807', [BIG])).toBe('9223372036854775807')
    expect(canonicalTenantId('-9223372036854775808', [BIG])).toBe('-9223372036854775808')
    expectInvalid(2n ** 63n, [BIG])
    expectInvalid(-(2n ** 63n) - 1n, [BIG])
    expectInvalid('9223372036854775808', [BIG])
    expectInvalid('-9223372036854775809', [BIG])
    expectInvalid('12x', [BIG])
  })

  it('refuses numbers that are not safe integers', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 53)]) {
      expectInvalid(bad, [BIG])
      expectInvalid(bad, [])
    }
    expect(canonicalTenantId(2 ** 53 - 1, [BIG])).toBe('9007199254740991')
    expect(canonicalTenantId(2n ** 53n, [BIG])).toBe('9007199254740992')
  })

  it('accepts uuids only, in canonical lower case', () => {
    const upper = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'
    expect(canonicalTenantId(upper, [UUID])).toBe(upper.toLowerCase())
    expect(canonicalTenantId(upper, [TEXT, UUID])).toBe(upper.toLowerCase())
    expect(canonicalTenantId(upper, [TEXT])).toBe(upper) // text keeps the case
    for (const bad of ['abc', upper.replaceAll('-', ''), `{${upper}}`, `${upper}0`]) expectInvalid(bad, [UUID])
    expectInvalid(42, [UUID])
  })

  it('applies every known column: an id must fit them all', () => {
    expect(canonicalTenantId('42', [TEXT, INT])).toBe('42')
    expectInvalid(42, [TEXT, INT])
    expectInvalid('acme', [TEXT, INT])
    expect(canonicalTenantId(42, [])).toBe('42')
  })

  it('refuses empty, NUL, lone surrogates and non-id types', () => {
    expect(expectInvalid('', [TEXT]).reason).toMatch(/empty/)
    expect(expectInvalid('a\0b', [TEXT]).reason).toMatch(/NUL/)
    expect(expectInvalid('\uD800x', [TEXT]).reason).toMatch(/surrogate/)
    expect(expectInvalid('x\uDC00', []).reason).toMatch(/surrogate/)
    expect(canonicalTenantId('\uD83D\uDE80', [TEXT])).toBe('🚀') // a proper pair is fine
    for (const bad of [null, undefined, {}, [], true, Symbol('x')]) expectInvalid(bad, [])
  })

  it('measures the byte budget in UTF-8 bytes', () => {
    expect(MAX_TENANT_ID_BYTES).toBe(1024)
    expect(canonicalTenantId('x'.repeat(1024), [TEXT])).toHaveLength(1024)
    expectInvalid('x'.repeat(1025), [TEXT])
    expect(canonicalTenantId('é'.repeat(512), [TEXT])).toHaveLength(512) // 1024 bytes
    expectInvalid('é'.repeat(513), [TEXT]) // 513 characters, 1026 bytes
    expect(canonicalTenantId('🚀🚀', [TEXT], 8)).toBe('🚀🚀')
    expectInvalid('🚀🚀🚀', [TEXT], 8) // 3 characters, 12 bytes
    expectInvalid(123456789, [INT], 8)
  })
})

describe('quoteIdent / quoteLiteral', () => {
  it('doubles double quotes in identifiers', () => {
    expect(quoteIdent('plain')).toBe('"plain"')
    expect(quoteIdent('a"b')).toBe('"a""b"')
    expect(quoteIdent('""')).toBe('""""""')
  })

  it('doubles quotes and writes E-strings for backslashes, like node-postgres', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(quoteLiteral('')).toBe("''")
    expect(quoteLiteral('a\\b')).toBe(" E'a\\\\b'")
    expect(quoteLiteral("o'\\")).toBe(" E'o''\\\\'")
    for (const value of ["it's", 'a\\b', "E'\\\\'", "'; DROP TABLE x; --", 'ünï©ødé']) {
      expect(quoteLiteral(value)).toBe(pg.escapeLiteral(value))
    }
  })
})

describe('resolveOptions', () => {
  it('fills in the defaults and freezes the result', () => {
    const o = resolveOptions()
    expect(o).toEqual({
      schema: 'public',
      strategy: 'setting',
      rolePrefix: 'tenant_',
      tenantRole: 'tenants_rls',
      adminRole: 'tenants_admin',
      registryTable: 'tenant_registry',
      sharedTables: [],
      adoptRoles: false,
      citus: false,
      settingKey: SETTING_KEY,
    })
    expect(Object.isFrozen(o)).toBe(true)
    expect(() => resolveOptions({ citus: 'yes' as never })).toThrow(/Option citus must be true or false/)
    expect(resolveOptions({ strategy: 'role', schema: 'app' })).toMatchObject({ strategy: 'role', schema: 'app' })
  })

  it('resolves sharedTables from "table" and "schema.table" keys or a list, and refuses bad ones', () => {
    expect(resolveOptions({ schema: 'app', sharedTables: { plans: 'read', 'billing.keys': 'none' } }).sharedTables).toEqual([
      { schema: 'app', name: 'plans', access: 'read' },
      { schema: 'billing', name: 'keys', access: 'none' },
    ])
    expect(resolveOptions({ sharedTables: [{ schema: 's', name: 'a.b', access: 'write' }] }).sharedTables).toEqual([
      { schema: 's', name: 'a.b', access: 'write' },
    ])
    expect(expectOptionsError({ sharedTables: { plans: 'all' as never } }).message).toMatch(/'read', 'write' or 'none'/)
    expect(expectOptionsError({ sharedTables: { 'x\nDROP': 'read' } }).message).toMatch(/control characters/)
    expect(expectOptionsError({ sharedTables: { plans: 'read', 'public.plans': 'write' } }).message).toMatch(/twice/)
    expect(expectOptionsError({ adoptRoles: 'yes' as never }).message).toMatch(/adoptRoles must be true or false/)
    expect(expectOptionsError({ sharedTables: { '"public".plans': 'read' } }).message).toMatch(/unquoted/)
  })

  it('refuses an unknown strategy', () => {
    expect(expectOptionsError({ strategy: 'schema' as never }).message).toMatch(/strategy/)
  })

  it('refuses names that are not plain SQL names', () => {
    for (const bad of ['', '1abc', 'a-b', 'a"b', 'a b', 'x'.repeat(49), 'ünï']) {
      expectOptionsError({ schema: bad })
      expectOptionsError({ tenantRole: bad })
    }
    expectOptionsError({ rolePrefix: 'a;' })
    expectOptionsError({ registryTable: 'r.t' })
    expectOptionsError({ adminRole: 42 as never })
    expect(resolveOptions({ schema: 'x'.repeat(48) }).schema).toHaveLength(48)
  })

  it('refuses pg_ role names, but not a pg_ schema or registry table', () => {
    expectOptionsError({ tenantRole: 'pg_rls' })
    expectOptionsError({ adminRole: 'PG_admin' })
    expectOptionsError({ rolePrefix: 'pg_' })
    expect(resolveOptions({ schema: 'pg_app', registryTable: 'pg_registry' })).toMatchObject({ schema: 'pg_app' })
  })

  it('refuses the same role for tenants and admins', () => {
    expectOptionsError({ tenantRole: 'same', adminRole: 'same' })
  })

  it('refuses, in the role strategy only, roles that start with the role prefix', () => {
    expectOptionsError({ strategy: 'role', tenantRole: 'tenant_rls' })
    expectOptionsError({ strategy: 'role', adminRole: 'tenant_admin' })
    expectOptionsError({ strategy: 'role', rolePrefix: 't', tenantRole: 'tenants_x' })
    expect(resolveOptions({ strategy: 'setting', tenantRole: 'tenant_rls' }).tenantRole).toBe('tenant_rls')
    expect(resolveOptions({ strategy: 'role', tenantRole: 'rls_tenant_' }).tenantRole).toBe('rls_tenant_')
  })
})

describe('withRls / migrationSql', () => {
  it('refuses what is not a Drizzle pg table', () => {
    for (const [bad, shown] of [
      [{}, 'a plain object'],
      [null, 'null'],
      ['todos', 'the string "todos"'],
      [text('tenant'), 'a PgTextBuilder'],
    ] as const) {
      expectInvalidOptions(() => withRls(bad as never), new RegExp(`expects a Drizzle PostgreSQL table but got ${shown}: pass the table made by pgTable\\(\\)`))
    }
  })

  it('refuses a table without the tenant column, and finds it by key or by name', () => {
    const noTenant = pgTable('no_tenant', { id: serial('id').primaryKey(), owner: text('owner') })
    expectInvalidOptions(
      () => withRls(noTenant),
      /withRls\(no_tenant\): no column "tenant" \(columns: id, owner\)\. Add one, or pass \{ column: 'yourTenantColumn' \}/,
    )
    expect(() => withRls(noTenant, { column: 'missing' })).toThrow(/no column "missing"/)
    const byKey = pgTable('by_key', { id: serial('id'), tenantId: integer('tenant_id') })
    expect(withRls(byKey, { column: 'tenantId' })).toBe(byKey)
    const byName = pgTable('by_name', { id: serial('id'), tenantId: bigint('tenant_id', { mode: 'bigint' }) })
    expect(withRls(byName, { column: 'tenant_id' })).toBe(byName)
    expect(migrationSql([byKey, byName]).up).toMatch(/"by_key"[\s\S]*"tenant_id"/)
  })

  it('refuses a boolean or jsonb tenant column', () => {
    const flags = pgTable('flags', { id: serial('id'), tenant: boolean('tenant') })
    const docs = pgTable('docs', { id: serial('id'), tenant: jsonb('tenant') })
    expectInvalidOptions(() => withRls(flags), /tenant column "tenant" is boolean; use text, varchar, integer, bigint or uuid/)
    expect(() => withRls(docs)).toThrow(/jsonb/)
  })

  it('refuses to generate SQL for a table not marked with withRls', () => {
    const unmarked = pgTable('unmarked', { id: serial('id'), tenant: text('tenant') })
    expectInvalidOptions(() => migrationSql([unmarked]), /Table unmarked is not tenant-scoped: wrap it in withRls\(\.\.\.\)/)
    expectInvalidOptions(() => migrationSql(['todos']), /expects Drizzle tables wrapped in withRls\(\.\.\.\), but got the string "todos"/)
    const marked = withRls(pgTable('marked', { id: serial('id'), tenant: text('tenant') }))
    expect(() => migrationSql([marked, unmarked])).toThrow(/unmarked/)
    expect(migrationSql([marked]).up).toContain('"public"."marked"')
  })
})

describe('PostgresManager.fromDrizzle', () => {
  it('refuses a database built on a single pg.Client', () => {
    const client = new pg.Client({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    const error = thrown(() => PostgresManager.fromDrizzle(drizzle(client)))
    expect(error).toBeInstanceOf(TenantError)
    expect((error as TenantError).code).toBe('UNSUPPORTED_CLIENT')
  })

  it('accepts a pg.Pool (nothing is connected)', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    try {
      expect(PostgresManager.fromDrizzle(drizzle(pool)).options.strategy).toBe('setting')
    } finally {
      await pool.end()
    }
  })
})
