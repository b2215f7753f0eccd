/**
 * One isolated world per test block: a fresh schema owned by a fresh non-superuser LOGIN role
 * (the common production setup: the app owns its tables and runs its own migrations), tenant
 * tables with every supported tenant column type, the migration applied as that owner, and
 * unique role names, so that blocks and parallel test files never share state.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach } from 'vitest'
import { bigint, integer, pgSchema, serial, text, uuid, varchar } from 'drizzle-orm/pg-core'
import { resolveOptions, type Strategy, type TenantOptions } from '../../src/core/options.js'
import type { TenantId } from '../../src/core/tenant-id.js'
import { migrationSql, PostgresManager, withRls } from '../../src/drizzle/index.js'
import type { AnyPgDatabase } from '../../src/drizzle/bind.js'
import { uniqueSuffix, type Login, type Target } from './targets.js'

export type LoginKind = 'owner' | 'superuser'

export function makeTables(schema: string) {
  const s = pgSchema(schema)
  return {
    text: withRls(s.table('items_text', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), title: text('title').notNull() })),
    varchar: withRls(
      s.table('items_varchar', { id: serial('id').primaryKey(), tenant: varchar('tenant', { length: 40 }).notNull(), title: text('title').notNull() }),
    ),
    integer: withRls(s.table('items_integer', { id: serial('id').primaryKey(), tenant: integer('tenant').notNull(), title: text('title').notNull() })),
    bigint: withRls(
      s.table('items_bigint', { id: serial('id').primaryKey(), tenant: bigint('tenant', { mode: 'bigint' }).notNull(), title: text('title').notNull() }),
    ),
    uuid: withRls(s.table('items_uuid', { id: serial('id').primaryKey(), tenant: uuid('tenant').notNull(), title: text('title').notNull() })),
  }
}

export type Tables = ReturnType<typeof makeTables>
export type TypeName = keyof Tables

/** Two tenant ids per column type (the bigint ones beyond 2^53, on purpose). */
export const TENANT_PAIRS: { [K in TypeName]: [TenantId, TenantId] } = {
  text: ['acme', 'globex'],
  varchar: ['acme', 'globex'],
  integer: [1, 2],
  bigint: [9007199254740993n, 2n],
  uuid: [randomUUID(), randomUUID()],
}

const DDL = (schema: string) =>
  Object.entries({ text: 'text', varchar: 'varchar(40)', integer: 'integer', bigint: 'bigint', uuid: 'uuid' })
    .map(([name, type]) => `CREATE TABLE "${schema}"."items_${name}" (id serial PRIMARY KEY, tenant ${type} NOT NULL, title text NOT NULL);`)
    .join('\n')

export interface Fixture {
  readonly target: Target
  readonly strategy: Strategy
  readonly loginKind: LoginKind
  readonly schema: string
  readonly owner: string
  readonly options: TenantOptions
  readonly tables: Tables
  /** The login under test (owner or superuser). */
  readonly login: Login
  /** The owning login, for setup statements. */
  readonly ownerLogin: Login
  /** A manager on `db` (default: the login under test) that validates ids for one table. */
  manager(type?: TypeName, db?: AnyPgDatabase): PostgresManager<AnyPgDatabase>
  cleanup(): Promise<void>
}

/**
 * The hooks every describe block over one fixture repeats: the fixture is created before its
 * tests (and handed to `set`), cleaned up after them, and its login under test is active before
 * each test.
 */
export function useFixture(target: () => Target, strategy: Strategy, loginKind: LoginKind, set: (fixture: Fixture) => void, extra: TenantOptions = {}): void {
  let fixture: Fixture | undefined
  beforeAll(async () => {
    fixture = await createFixture(target(), strategy, loginKind, extra)
    set(fixture)
  })
  afterAll(async () => {
    await fixture?.cleanup()
  })
  beforeEach(async () => {
    await fixture!.login.activate()
  })
}

export async function createFixture(target: Target, strategy: Strategy, loginKind: LoginKind, extra: TenantOptions = {}): Promise<Fixture> {
  const suffix = uniqueSuffix()
  const schema = `pgt_${suffix}`
  const owner = `pgt_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy,
    rolePrefix: `pgt_t${suffix}_`,
    tenantRole: `pgt_rls_${suffix}`,
    adminRole: `pgt_admin_${suffix}`,
    ...extra,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const ownerLogin = await target.login(owner)
  const tables = makeTables(schema)
  await ownerLogin.exec(DDL(schema))
  await ownerLogin.exec(migrationSql(Object.values(tables), options).up)
  const login = loginKind === 'owner' ? ownerLogin : await target.login(null)
  await login.activate()
  return {
    target,
    strategy,
    loginKind,
    schema,
    owner,
    options,
    tables,
    login,
    ownerLogin,
    manager: (type = 'text', db = login.db) => PostgresManager.fromDrizzle(db, { ...options, tables: [tables[type]] }),
    async cleanup() {
      await target.superExec(cleanupSql(schema, options, owner))
    },
  }
}

/** Drops a test's schema, its tenant roles (by prefix), its tenant and admin roles and its owner
 * login, with everything they own. For the superuser. */
export function cleanupSql(schema: string, options: TenantOptions, owner: string): string {
  const { rolePrefix, tenantRole, adminRole } = resolveOptions(options)
  return `
    DROP SCHEMA IF EXISTS "${schema}" CASCADE;
    DO $$
    DECLARE r text;
    BEGIN
      FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '${rolePrefix}') LOOP
        EXECUTE format('DROP ROLE %I', r);
      END LOOP;
    END $$;
    DROP OWNED BY "${tenantRole}", "${adminRole}", "${owner}" CASCADE;
    DROP ROLE "${tenantRole}", "${adminRole}", "${owner}";`
}
