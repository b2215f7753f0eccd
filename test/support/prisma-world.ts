/** A world for the Prisma tests (test/prisma.test.ts, test/attacks-prisma.test.ts): a
 * non-superuser owner login with its own schema, the `items` table of the tests' Prisma model
 * (FORCE ROW LEVEL SECURITY, the library's policies), and a PrismaClient built with
 * `tenantAdapter(pool, { schema })` with its manager. */
import type pg from 'pg'
import { buildMigration, type TableSpec } from '../../src/core/migration.js'
import type { Strategy, TenantOptions } from '../../src/core/options.js'
import { fromPrisma, tenantAdapter, type PrismaManager, type TenantPrismaAdapter } from '../../src/prisma/index.js'
import { PrismaClient } from '../prisma/generated/client.js'
import { cleanupSql } from './fixture.js'
import { uniqueSuffix, type Login, type Target } from './targets.js'

export interface PrismaWorld {
  readonly schema: string
  readonly owner: string
  readonly options: TenantOptions
  readonly spec: TableSpec
  readonly tables: { schema: string; name: string; type: 'text' }[]
  readonly login: Login
  readonly pool: pg.Pool
  readonly adapter: TenantPrismaAdapter
  readonly prisma: PrismaClient
  readonly manager: PrismaManager<PrismaClient>
  /** What `current_user` is in a scope of `id`. */
  tenantRole(id: string): string
  /** The titles of `tenant`'s rows, read by the admin, in insertion order. */
  titles(tenant: string): Promise<string[]>
  cleanup(): Promise<void>
}

export async function prismaWorld(
  target: Target,
  { strategy = 'setting', max = 4, prefix = 'pgp' }: { strategy?: Strategy; max?: number; prefix?: string } = {},
): Promise<PrismaWorld> {
  const suffix = uniqueSuffix()
  const schema = `${prefix}_${suffix}`
  const owner = `${prefix}_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy,
    rolePrefix: `${prefix}_t${suffix}_`,
    tenantRole: `${prefix}_rls_${suffix}`,
    adminRole: `${prefix}_admin_${suffix}`,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const login = await target.login(owner, { max })
  const spec: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
  await login.exec(`CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`)
  await login.exec(buildMigration([spec], options).up)
  const pool = login.client as pg.Pool
  // PrismaPg's `schema`: the generated queries name this world's schema.
  const adapter = tenantAdapter(pool, { schema })
  const prisma = new PrismaClient({ adapter })
  const tables = [{ schema, name: 'items', type: 'text' as const }]
  const manager = fromPrisma(prisma, adapter, { ...options, tables })
  return {
    schema,
    owner,
    options,
    spec,
    tables,
    login,
    pool,
    adapter,
    prisma,
    manager,
    tenantRole: (id) => (strategy === 'role' ? `${options.rolePrefix}${id}` : options.tenantRole!),
    titles: async (tenant) =>
      (await manager.withAdmin((tx) => tx.item.findMany({ where: { tenant }, select: { title: true }, orderBy: { id: 'asc' } }))).map((i) => i.title),
    async cleanup() {
      try {
        await prisma.$disconnect()
      } finally {
        await target.superExec(cleanupSql(schema, options, owner))
      }
    },
  }
}
