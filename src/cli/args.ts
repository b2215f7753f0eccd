/**
 * Argument parsing shared by the commands: Node's `util.parseArgs`, its errors turned into one-line
 * usage errors, and the flags that name the pg-tenants options (the same on every command, so that
 * `sql`, `generate`, `tenants` and `check` always agree with the app's `PostgresManager`).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { TenantError } from '../core/errors.js'
import { resolveOptions, type ResolvedOptions, type SharedAccess, type TenantOptions } from '../core/options.js'
import { oneLine, UsageError } from './io.js'

type Flags = NonNullable<ParseArgsConfig['options']>

/** `--strategy`, `--role-prefix`, … : every `TenantOptions` field as a flag. */
export const TENANT_OPTION_FLAGS = {
  strategy: { type: 'string' },
  'db-schema': { type: 'string' },
  'role-prefix': { type: 'string' },
  'tenant-role': { type: 'string' },
  'admin-role': { type: 'string' },
  'registry-table': { type: 'string' },
  shared: { type: 'string', multiple: true },
  'adopt-roles': { type: 'boolean' },
  citus: { type: 'boolean' },
} as const satisfies Flags

/** The help lines of {@link TENANT_OPTION_FLAGS}; `fromSchema` for the commands that read a
 * schema file (whose withRls tables may say the strategy). */
export function tenantOptionHelp(fromSchema: boolean): string {
  const strategyDefault = fromSchema ? "setting (or what the schema's withRls tables say)" : 'setting'
  return `Tenancy options (must match the app's PostgresManager options):
  --strategy <setting|role>   default: ${strategyDefault}
  --db-schema <name>          schema of the registry table and grants, default: public
  --role-prefix <prefix>      per-tenant role prefix (role strategy), default: tenant_
  --tenant-role <name>        default: tenants_rls
  --admin-role <name>         default: tenants_admin
  --registry-table <name>     default: tenant_registry
  --shared <table>=<access>   a shared (not tenant-scoped) table tenants may use: read, write or
                              none; table or schema.table; repeat it or separate with commas,
                              e.g. --shared plans=read,billing.rates=read
  --adopt-roles               take over tenant and admin roles that exist already and are used
                              by another database (default: refuse)
  --citus                     the tenant tables are distributed on Citus: policies Citus keeps
                              on its shards, LOGIN roles (docs/scale-out.md)`
}

/** {@link tenantOptionHelp} for the commands that read a schema file. */
export const TENANT_OPTION_HELP = tenantOptionHelp(true)

/** The parsed flags: a string for each string flag given (a list for a `multiple` one), true for
 * each boolean flag given. */
export interface ParsedFlags<F extends Flags> {
  readonly values: {
    readonly [K in keyof F]?: F[K] extends { type: 'boolean' } ? boolean : F[K] extends { multiple: true } ? string[] : string
  } & {
    readonly help?: boolean
  }
  readonly positionals: string[]
}

/** Parses `argv` against `flags` (plus `--help`); unknown flags and missing values are usage
 * errors that point at the command's help. */
export function parseFlags<const F extends Flags>(command: string, argv: readonly string[], flags: F, allowPositionals = false): ParsedFlags<F> {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...flags, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    })
  } catch (error) {
    const message = error instanceof Error ? oneLine(error.message) : String(error)
    throw new UsageError(`${message.replace(/\.$/, '')}. Run \`pg-tenants ${command} --help\`.`)
  }
}

/** The TenantOptions the flags give, checked; a bad value is a usage error. */
export function tenantOptionsFrom(values: Partial<Record<keyof typeof TENANT_OPTION_FLAGS, string | string[] | boolean | undefined>>): TenantOptions {
  const text = (key: keyof typeof TENANT_OPTION_FLAGS) => {
    const value = values[key]
    return typeof value === 'string' ? value : undefined
  }
  const options: TenantOptions = {}
  const strategy = text('strategy')
  if (strategy !== undefined) {
    if (strategy !== 'setting' && strategy !== 'role') {
      throw new UsageError(`Unknown strategy ${JSON.stringify(strategy)}: use --strategy setting or --strategy role.`)
    }
    options.strategy = strategy
  }
  const schema = text('db-schema')
  if (schema !== undefined) options.schema = schema
  const rolePrefix = text('role-prefix')
  if (rolePrefix !== undefined) options.rolePrefix = rolePrefix
  const tenantRole = text('tenant-role')
  if (tenantRole !== undefined) options.tenantRole = tenantRole
  const adminRole = text('admin-role')
  if (adminRole !== undefined) options.adminRole = adminRole
  const registryTable = text('registry-table')
  if (registryTable !== undefined) options.registryTable = registryTable
  const shared = values.shared
  if (Array.isArray(shared)) options.sharedTables = sharedTablesFrom(shared)
  if (values['adopt-roles'] === true) options.adoptRoles = true
  if (values.citus === true) options.citus = true
  checkOptions(options)
  return options
}

/** `--shared plans=read --shared billing.rates=write,audit=none` as `sharedTables`. */
function sharedTablesFrom(given: readonly string[]): Record<string, SharedAccess> {
  const tables = new Map<string, SharedAccess>()
  for (const item of given.flatMap((g) => g.split(','))) {
    const entry = item.trim()
    if (entry === '') continue
    const found = /^(.+)=([^=]*)$/.exec(entry)
    const table = found?.[1]?.trim()
    const access = found?.[2]?.trim()
    if (!table || access === undefined) {
      throw new UsageError(`--shared ${JSON.stringify(entry)}: write <table>=<read|write|none>, e.g. --shared plans=read.`)
    }
    if (access !== 'read' && access !== 'write' && access !== 'none') {
      throw new UsageError(`--shared ${JSON.stringify(entry)}: the access is read, write or none, not ${JSON.stringify(access)}.`)
    }
    if (tables.has(table)) throw new UsageError(`--shared names ${table} twice: give each shared table once.`)
    tables.set(table, access)
  }
  return Object.fromEntries(tables)
}

/** Resolves options, turning INVALID_OPTIONS into a usage error. */
export function checkOptions(options: TenantOptions): ResolvedOptions {
  try {
    return resolveOptions(options)
  } catch (error) {
    if (error instanceof TenantError) throw new UsageError(error.message)
    throw error
  }
}
