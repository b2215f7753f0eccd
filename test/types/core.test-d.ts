/**
 * Type tests of `pg-tenants` (the core): the error family and its codes, the SQLSTATE helpers,
 * the tenancy options, the ORM-neutral migration functions, `checkDatabase` and
 * `leaveSuperuser`. Checked by vitest's typecheck mode (`npm test`) and by `npm run typecheck`;
 * nothing here runs.
 */
import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'
import { assertType, describe, expectTypeOf, it } from 'vitest'
import {
  buildMigration,
  CHECK_CODES,
  checkDatabase,
  InvalidTenantId,
  isRlsViolation,
  leaveSuperuser,
  MAX_TENANT_ID_BYTES,
  migrationStatements,
  POLICY_NAMES,
  SETTING_KEY,
  sharedTableStatements,
  sqlState,
  tableStatements,
  TenantAlreadyExists,
  TenantError,
  TenantNotFound,
  type CheckCode,
  type CheckFinding,
  type CheckOptions,
  type CheckReport,
  type MigrationSql,
  type MigrationStatements,
  type ResolvedOptions,
  type SharedAccess,
  type SharedTable,
  type Strategy,
  type TableSpec,
  type TenantColumnType,
  type TenantErrorCode,
  type TenantId,
  type TenantOptions,
} from '../../src/index.js'

declare const pool: pg.Pool
declare const pglite: PGlite
declare const caught: unknown

/** The codes docs/errors.md ("Error codes") documents, one row each. */
type DocumentedErrorCode =
  | 'TENANT_NOT_FOUND'
  | 'TENANT_ALREADY_EXISTS'
  | 'INVALID_TENANT_ID'
  | 'INVALID_OPTIONS'
  | 'UNSUPPORTED_CLIENT'
  | 'SESSION_CLOSED'
  | 'TRANSACTION_ABORTED'
  | 'SETUP_MISSING'
  | 'ISOLATION_FAILED'
  | 'NESTED_SCOPE'
  | 'TENANT_HAS_OBJECTS'
  | 'UNSUPPORTED_OPERATION'
  | 'NO_TENANT_CONTEXT'

const todosSpec: TableSpec = { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }

describe('errors', () => {
  it("TenantError['code'] is the union of the documented codes", () => {
    expectTypeOf<TenantError['code']>().toEqualTypeOf<TenantErrorCode>()
    expectTypeOf<TenantErrorCode>().toEqualTypeOf<DocumentedErrorCode>()
    expectTypeOf<'TENANT_NOT_FOUND'>().toExtend<TenantErrorCode>()
    expectTypeOf<'NESTED_SCOPE'>().toExtend<TenantErrorCode>()
    expectTypeOf<'UNSUPPORTED_OPERATION'>().toExtend<TenantErrorCode>()
    expectTypeOf<'NOT_A_CODE'>().not.toExtend<TenantErrorCode>()
    expectTypeOf<string>().not.toExtend<TenantErrorCode>()
    // Lower case is not the same code.
    expectTypeOf<'tenant_not_found'>().not.toExtend<TenantErrorCode>()
  })

  it('code is readonly and branches with a switch', () => {
    const error = new TenantError('INVALID_OPTIONS', 'bad options', { cause: caught })
    expectTypeOf(error).toExtend<Error>()
    expectTypeOf(error.name).toEqualTypeOf<string>()
    // @ts-expect-error code is readonly
    error.code = 'SETUP_MISSING'
    // @ts-expect-error an unknown code cannot be constructed
    new TenantError('NOT_A_CODE', 'x')
    // @ts-expect-error a message is required
    new TenantError('INVALID_OPTIONS')
  })

  it('an exhaustive switch over the codes leaves never', () => {
    const code = new TenantError('SETUP_MISSING', 'x').code
    switch (code) {
      case 'TENANT_NOT_FOUND':
      case 'TENANT_ALREADY_EXISTS':
      case 'INVALID_TENANT_ID':
      case 'INVALID_OPTIONS':
      case 'UNSUPPORTED_CLIENT':
      case 'SESSION_CLOSED':
      case 'TRANSACTION_ABORTED':
      case 'SETUP_MISSING':
      case 'ISOLATION_FAILED':
      case 'NESTED_SCOPE':
      case 'TENANT_HAS_OBJECTS':
      case 'UNSUPPORTED_OPERATION':
      case 'NO_TENANT_CONTEXT':
        break
      default:
        expectTypeOf(code).toBeNever()
    }
  })

  it('the subclasses are TenantErrors with their own fields', () => {
    expectTypeOf<TenantNotFound>().toExtend<TenantError>()
    expectTypeOf<TenantAlreadyExists>().toExtend<TenantError>()
    expectTypeOf<InvalidTenantId>().toExtend<TenantError>()
    expectTypeOf<TenantNotFound['tenant']>().toEqualTypeOf<string>()
    expectTypeOf<TenantAlreadyExists['tenant']>().toEqualTypeOf<string>()
    expectTypeOf<InvalidTenantId['reason']>().toEqualTypeOf<string>()
    // The subclasses keep the whole union as their code's type (not their one literal): branch
    // on `instanceof` for the class, on `code` for the code.
    expectTypeOf<TenantNotFound['code']>().toEqualTypeOf<TenantErrorCode>()
    expectTypeOf(TenantNotFound).constructorParameters.toEqualTypeOf<[tenant: string, options?: { cause?: unknown }]>()
    expectTypeOf(InvalidTenantId).constructorParameters.toEqualTypeOf<[id: unknown, reason: string]>()
    if (caught instanceof TenantNotFound) expectTypeOf(caught.tenant).toBeString()
    if (caught instanceof InvalidTenantId) expectTypeOf(caught.reason).toBeString()
    if (caught instanceof TenantError) expectTypeOf(caught.code).toEqualTypeOf<TenantErrorCode>()
  })

  it('sqlState and isRlsViolation take any thrown value', () => {
    expectTypeOf(sqlState).toEqualTypeOf<(error: unknown) => string | undefined>()
    expectTypeOf(isRlsViolation).toEqualTypeOf<(error: unknown) => boolean>()
    expectTypeOf(sqlState(caught)).toEqualTypeOf<string | undefined>()
    expectTypeOf(isRlsViolation(new Error('x'))).toEqualTypeOf<boolean>()
    // isRlsViolation is a plain boolean, not a type guard: `caught` stays unknown.
    if (isRlsViolation(caught)) expectTypeOf(caught).toBeUnknown()
    // @ts-expect-error the error is required
    sqlState()
  })
})

describe('tenant ids and constants', () => {
  it('TenantId and the column types', () => {
    expectTypeOf<TenantId>().toEqualTypeOf<string | number | bigint>()
    expectTypeOf<TenantColumnType>().toEqualTypeOf<'text' | 'varchar' | 'integer' | 'bigint' | 'uuid'>()
    expectTypeOf<boolean>().not.toExtend<TenantId>()
  })

  it('the constants keep their literal types', () => {
    expectTypeOf<typeof SETTING_KEY>().toEqualTypeOf<'pg_tenants.tenant'>()
    expectTypeOf<typeof MAX_TENANT_ID_BYTES>().toEqualTypeOf<1024>()
    expectTypeOf(POLICY_NAMES.isolation).toBeString()
    expectTypeOf(POLICY_NAMES.access).toBeString()
    expectTypeOf(POLICY_NAMES.admin).toBeString()
    expectTypeOf(CHECK_CODES).toExtend<readonly CheckCode[]>()
  })
})

describe('tenancy options', () => {
  it('Strategy, SharedAccess and the option types', () => {
    expectTypeOf<Strategy>().toEqualTypeOf<'setting' | 'role'>()
    expectTypeOf<SharedAccess>().toEqualTypeOf<'read' | 'write' | 'none'>()
    expectTypeOf<TenantOptions['sharedTables']>().toEqualTypeOf<Readonly<Record<string, SharedAccess>> | readonly SharedTable[] | undefined>()
    expectTypeOf<ResolvedOptions['sharedTables']>().toEqualTypeOf<readonly SharedTable[]>()
    expectTypeOf<ResolvedOptions['strategy']>().toEqualTypeOf<Strategy>()
    expectTypeOf<ResolvedOptions['settingKey']>().toEqualTypeOf<string>()
  })

  it('a TenantOptions literal is checked', () => {
    const ok: TenantOptions = {
      schema: 'app',
      strategy: 'role',
      rolePrefix: 't_',
      tenantRole: 'rls',
      adminRole: 'admin',
      registryTable: 'tenants',
      sharedTables: { plans: 'read', 'billing.rates': 'write' },
      adoptRoles: true,
    }
    expectTypeOf(ok).toEqualTypeOf<TenantOptions>()
    // @ts-expect-error rolePrefx is misspelt
    const misspelt: TenantOptions = { rolePrefx: 't_' }
    // @ts-expect-error the strategies are 'setting' and 'role'
    const wrongStrategy: TenantOptions = { strategy: 'roles' }
    // @ts-expect-error shared access is 'read', 'write' or 'none'
    const wrongAccess: TenantOptions = { sharedTables: { plans: 'readwrite' } }
    // @ts-expect-error knownTenantTtlMs is the manager's, not the migration's
    const managerOnly: TenantOptions = { knownTenantTtlMs: 0 }
    expectTypeOf([misspelt, wrongStrategy, wrongAccess, managerOnly]).items.toEqualTypeOf<TenantOptions>()
  })

  it('resolved options are readonly', () => {
    const resolved = {} as ResolvedOptions
    // @ts-expect-error resolved options are frozen
    resolved.strategy = 'role'
    // And so is their list of shared tables.
    expectTypeOf(resolved.sharedTables).not.toHaveProperty('push')
  })
})

describe('migration functions', () => {
  it('return up and down', () => {
    expectTypeOf(buildMigration([todosSpec])).toEqualTypeOf<MigrationSql>()
    expectTypeOf<MigrationSql>().toEqualTypeOf<{ readonly up: string; readonly down: string }>()
    expectTypeOf(migrationStatements([todosSpec], { strategy: 'role' })).toEqualTypeOf<MigrationStatements>()
    expectTypeOf<MigrationStatements['up']>().toEqualTypeOf<readonly string[]>()
    expectTypeOf(tableStatements(todosSpec, {}, { schemaGrants: true })).toEqualTypeOf<MigrationStatements>()
    expectTypeOf(sharedTableStatements({ sharedTables: { plans: 'read' } })).toEqualTypeOf<MigrationStatements>()
  })

  it('take table specs and the tenancy options', () => {
    buildMigration([{ schema: 'public', name: 'accounts', column: 'org', type: 'varchar', length: 36 }], {
      sharedTables: [{ schema: 'public', name: 'plans', access: 'none' }],
    })
    // @ts-expect-error 'int' is no tenant column type
    buildMigration([{ schema: 'public', name: 'todos', column: 'tenant', type: 'int' }])
    // @ts-expect-error a spec names its column
    buildMigration([{ schema: 'public', name: 'todos', type: 'text' }])
    // @ts-expect-error a table name is no spec
    buildMigration(['todos'])
    // @ts-expect-error strategy: 'roles' is misspelt
    buildMigration([todosSpec], { strategy: 'roles' })
    // @ts-expect-error an option name misspelt
    migrationStatements([todosSpec], { registry: 'tenants' })
    // @ts-expect-error schemaGrant is misspelt
    tableStatements(todosSpec, {}, { schemaGrant: true })
    // @ts-expect-error tableStatements takes one spec, not a list
    tableStatements([todosSpec])
  })
})

describe('checkDatabase', () => {
  it('takes a client and the check options, and resolves to a report', async () => {
    const report = await checkDatabase(pool, { strategy: 'role', ignore: ['TENANT_INDEX_MISSING'], tables: [todosSpec], column: 'tenant', schemas: ['public'] })
    expectTypeOf(report).toEqualTypeOf<CheckReport>()
    expectTypeOf(checkDatabase(pglite)).toEqualTypeOf<Promise<CheckReport>>()
    expectTypeOf(report.ok).toEqualTypeOf<boolean>()
    expectTypeOf(report.findings).toEqualTypeOf<readonly CheckFinding[]>()
    expectTypeOf(report.tables).toEqualTypeOf<readonly string[]>()
    const finding = report.findings[0]
    expectTypeOf(finding).toEqualTypeOf<CheckFinding | undefined>()
    if (finding) {
      expectTypeOf(finding.code).toEqualTypeOf<CheckCode>()
      expectTypeOf(finding.severity).toEqualTypeOf<'error' | 'warning' | 'notice'>()
      expectTypeOf(finding.object).toBeString()
      expectTypeOf(finding.message).toBeString()
      expectTypeOf(finding.fix).toBeString()
    }
    await checkDatabase(pool, {
      onProgress: (done, total, what) => {
        expectTypeOf(done).toBeNumber()
        expectTypeOf(total).toBeNumber()
        expectTypeOf(what).toBeString()
      },
    })
  })

  it('CheckCode is the union of CHECK_CODES', () => {
    expectTypeOf<CheckCode>().toEqualTypeOf<(typeof CHECK_CODES)[number]>()
    expectTypeOf<'RLS_DISABLED'>().toExtend<CheckCode>()
    expectTypeOf<'TENANT_INDEX_MISSING'>().toExtend<CheckCode>()
    expectTypeOf<'DRIFT_NOT_CHECKED'>().toExtend<CheckCode>()
    expectTypeOf<'RLS_OFF'>().not.toExtend<CheckCode>()
    expectTypeOf<string>().not.toExtend<CheckCode>()
  })

  it('refuses a misspelt option or a value of the wrong type', async () => {
    // @ts-expect-error ingore is misspelt
    await checkDatabase(pool, { ingore: ['TENANT_INDEX_MISSING'] })
    // @ts-expect-error tenantRol is misspelt
    await checkDatabase(pool, { tenantRol: 'x' })
    // @ts-expect-error the strategies are 'setting' and 'role'
    await checkDatabase(pool, { strategy: 'roles' })
    // @ts-expect-error shared access is 'read', 'write' or 'none'
    await checkDatabase(pool, { sharedTables: { plans: 'readwrite' } })
    // @ts-expect-error schemas is a list
    await checkDatabase(pool, { schemas: 'public' })
    // @ts-expect-error tables are TableSpecs, not names
    await checkDatabase(pool, { tables: ['todos'] })
    // @ts-expect-error onProgress gets numbers
    await checkDatabase(pool, { onProgress: (done: string) => done })
    const options: CheckOptions = { ignore: ['RLS_DISABLED'] }
    await checkDatabase(pool, options)
  })

  it('ignore takes finding codes: a misspelt one is a compile error', () => {
    expectTypeOf<CheckOptions['ignore']>().toEqualTypeOf<readonly CheckCode[] | undefined>()
    // @ts-expect-error -- not a finding code
    assertType<CheckOptions>({ ignore: ['TENANT_INDEX_MISING'] })
  })
})

describe('leaveSuperuser', () => {
  it('takes a client and a role, and resolves to the role', async () => {
    expectTypeOf(await leaveSuperuser(pglite)).toEqualTypeOf<{ readonly role: string }>()
    await leaveSuperuser(pglite, { role: 'app' })
    // @ts-expect-error rol is misspelt
    await leaveSuperuser(pglite, { rol: 'app' })
    // @ts-expect-error the role is a name
    await leaveSuperuser(pglite, { role: 1 })
  })
})
