/**
 * `checkDatabase(client, options)`: a doctor for a live database. It reads the catalogs on one
 * connection, inside a transaction that it always rolls back, and reports what would let tenants
 * see or change each other's rows, each with the SQL that fixes it.
 *
 * @module
 */
import { TenantError } from '../core/errors.js'
import { resolveOptions } from '../core/options.js'
import { qualified, quoteIdent } from '../core/quote.js'
import { checkCitus, loadCitus } from './citus.js'
import { checkExposure } from './exposure.js'
import { finding, MIGRATE, type Found } from './finding.js'
import { checkPartitions, loadPartitions } from './partitions.js'
import { checkPolicies } from './policies.js'
import { checkLogin, checkRoles, checkSharedRoles, checkTenantRoles } from './roles.js'
import { withCheckDb, type CheckDb } from './session.js'
import { checkTemporary } from './temporary.js'
import { checkFlags, checkKeys } from './structure.js'
import { loadTables, type TenantTable } from './tables.js'
import { CHECK_CODES, type CheckOptions, type CheckReport } from './types.js'
import { checkViews } from './views.js'

/**
 * Checks a live database against what pg-tenants sets up. `client` is a node-postgres `Pool` or
 * `Client`, or a PGlite instance. Pass the same tenancy options as to the manager, and the
 * `withRls` tables (as TableSpecs) when you have them; without them, tables with a `tenant`
 * column or a `pg_tenants_*` policy are checked. Read-only in effect: nothing is left behind.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { checkDatabase } from 'pg-tenants'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const report = await checkDatabase(pool, { ignore: ['TENANT_INDEX_MISSING'] })
 * if (!report.ok) {
 *   for (const f of report.findings) console.error(`${f.code} ${f.object}: ${f.message}\n  fix: ${f.fix}`)
 *   process.exit(1) // refuse to start
 * }
 * ```
 */
export async function checkDatabase(client: unknown, options: CheckOptions = {}): Promise<CheckReport> {
  const { tables: specs, column = 'tenant', schemas, ignore = [], onProgress, ...tenancy } = options
  const o = resolveOptions(tenancy)
  const unknown = ignore.find((code) => !(CHECK_CODES as readonly string[]).includes(code))
  if (unknown !== undefined) {
    throw new TenantError(
      'INVALID_OPTIONS',
      `Unknown finding code ${JSON.stringify(unknown)} in ignore: the codes are CHECK_CODES (${CHECK_CODES.join(', ')}).`,
    )
  }
  const progress = onProgress ?? (() => {})
  const found: Found = []
  const tables = await withCheckDb(client, async (db) => {
    const login = await checkLogin(db, found)
    const tables = await loadTables(db, o, specs, { column, schemas }, found)
    await checkRoles(db, o, tables, login, found)
    await checkSharedRoles(db, o, tables, login, found)
    await checkTemporary(db, o, login, found)
    if (o.strategy === 'setting') await checkRegistry(db, o.schema, o.registryTable, found)
    for (const table of tables) checkFlags(table, login, found)
    let done = 0
    const compared = await checkPolicies(db, o, tables, login, found, (table) => progress(++done, tables.length, table.label))
    await checkKeys(db, tables, login, found)
    const partitions = await loadPartitions(db, o, tables)
    await checkPartitions(db, o, partitions, login, found)
    const citus = await loadCitus(db, [...tables, ...partitions])
    await checkCitus(db, o, citus, [...tables, ...partitions], compared, login, found)
    await checkViews(db, [...tables, ...partitions], o.tenantRole, login, found)
    if (o.strategy === 'role') await checkTenantRoles(db, o, tables, login, found, progress)
    undeclared(tables, o.tenantRole, found)
    await checkExposure(db, o, tables, login, found)
    return tables
  })
  const skip = new Set(ignore)
  const findings = Object.freeze(found.filter((f) => !skip.has(f.code)))
  return Object.freeze({ ok: findings.every((f) => f.severity === 'notice'), findings, tables: Object.freeze(tables.map((t) => t.label)) })
}

/** A table left out of the given tables that the tenant role may use and that is not protected
 * (it has findings of its own): most likely one taken out of `withRls`, whose migration dropped
 * the policies and row level security but kept the grants. */
function undeclared(tables: readonly TenantTable[], tenantRole: string, found: Found): void {
  for (const table of tables) {
    if (!table.undeclared || !found.some((f) => f.object === table.label)) continue
    found.push(
      finding(
        'TABLE_NOT_DECLARED',
        'warning',
        table.label,
        `is not among the tables given (the schema's withRls tables), yet it has a tenant column "${table.spec.column}" or pg_tenants policies and the tenant role "${tenantRole}" may use it, and it is not protected (see its other findings): every tenant may reach every row of it`,
        `-- if it is a tenant table: declare it (withRls, or tables: [...]) and ${MIGRATE}\n` +
          `-- if it is not: REVOKE ALL ON ${table.sql} FROM ${quoteIdent(tenantRole)}; (the grants of the setup cover every table of the schema)`,
      ),
    )
  }
}

async function checkRegistry(db: CheckDb, schema: string, table: string, found: Found): Promise<void> {
  const [row] = await db.rows('SELECT to_regclass($1) IS NOT NULL AS present', [qualified(schema, table)])
  if (row?.['present'] === true) return
  found.push(
    finding(
      'REGISTRY_MISSING',
      'error',
      `${schema}.${table}`,
      'the tenant registry table does not exist: createTenant, listTenants and withTenant fail in the setting strategy',
      `-- ${MIGRATE}`,
    ),
  )
}
