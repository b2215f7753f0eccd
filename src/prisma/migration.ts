/**
 * The RLS setup as a Prisma migration: `prisma migrate` applies `migration.sql` of each folder
 * of `prisma/migrations` in the order of their names, once, and records it. Prisma's schema
 * cannot say roles, grants, policies or FORCE ROW LEVEL SECURITY, so pg-tenants writes them as a
 * migration of their own, after the one that creates the tables.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import { migrationStatements } from '../core/migration.js'
import { resolveOptions, type TenantOptions } from '../core/options.js'
import { tableSpecs, type TenantTable } from '../core/manager.js'

/**
 * What {@link prismaMigration} takes: the tenant tables (their SQL names, as `@@map` gives
 * them), the options the manager uses, and the migration's name.
 *
 * @example
 * ```ts
 * import type { PrismaMigrationOptions } from 'pg-tenants/prisma'
 *
 * export const migration: PrismaMigrationOptions = { tables: [{ name: 'todos', type: 'text' }], name: 'pg_tenants' }
 * ```
 */
export interface PrismaMigrationOptions extends TenantOptions {
  /** The tenant tables, by their SQL names (`@@map`): `{ name, type, column?, schema? }`. */
  readonly tables: readonly TenantTable[]
  /** The folder's name after the timestamp; letters, digits and `_`. Default `pg_tenants`. */
  readonly name?: string
  /** When the migration is made (its folder's timestamp). Default: now. */
  readonly now?: Date
}

/**
 * A Prisma migration folder: write `sql` to `<prisma/migrations>/<folder>/migration.sql`.
 *
 * @example
 * ```ts
 * import type { PrismaMigration } from 'pg-tenants/prisma'
 *
 * export const path = (m: PrismaMigration) => `prisma/migrations/${m.folder}/migration.sql`
 * ```
 */
export interface PrismaMigration {
  /** `<YYYYMMDDHHMMSS>_<name>`, as `prisma migrate dev` names its folders (UTC). */
  readonly folder: string
  /** The setup, idempotent: roles, grants, the registry, RLS and FORCE, the policies. */
  readonly sql: string
}

/**
 * The RLS setup of `tables` as a Prisma migration folder. Throws `INVALID_OPTIONS` for bad
 * options, tables or name.
 *
 * @example
 * ```ts
 * import { mkdirSync, writeFileSync } from 'node:fs'
 * import { prismaMigration } from 'pg-tenants/prisma'
 *
 * const { folder, sql } = prismaMigration({ tables: [{ name: 'todos', type: 'text' }] })
 * mkdirSync(`prisma/migrations/${folder}`, { recursive: true })
 * writeFileSync(`prisma/migrations/${folder}/migration.sql`, sql)
 * // then: npx prisma migrate deploy
 * ```
 */
export function prismaMigration(options: PrismaMigrationOptions): PrismaMigration {
  const { tables, name = 'pg_tenants', now = new Date(), ...tenantOptions } = options
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) {
    throw new TenantError('INVALID_OPTIONS', `The migration name ${JSON.stringify(name)} must be letters, digits and _ (it becomes the folder's name).`)
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TenantError('INVALID_OPTIONS', 'now must be a valid Date.')
  const specs = tableSpecs(tables, resolveOptions(tenantOptions).schema)
  const { up } = migrationStatements(specs, tenantOptions)
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  const header = `-- pg-tenants: the row-level security setup of ${specs.map((s) => `${s.schema}.${s.name}`).join(', ')} (roles, grants, registry, policies).\n-- Written by pg-tenants; apply with prisma migrate. Idempotent.\n\n`
  return { folder: `${stamp}_${name}`, sql: header + up.join('\n\n') + '\n' }
}
