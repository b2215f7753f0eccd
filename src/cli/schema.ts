/**
 * Loads the app's schema module (`--schema ./src/db/schema.ts`) and collects its `withRls`
 * tables. TypeScript is loaded with the project's own tsx if it has one, else with esbuild (every
 * drizzle-kit install has it); `.js`/`.mjs` files are imported as they are.
 *
 * @module
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TenantError } from '../core/errors.js'
import { tableStatements, type TableSpec } from '../core/migration.js'
import { resolveOptions, type ResolvedOptions, type TenantOptions } from '../core/options.js'
import { markAgrees, readMark, specOf, type RlsMark } from '../drizzle/mark.js'
import { checkOptions } from './args.js'
import { UsageError } from './io.js'

/** A `withRls` table found in the schema module. */
export interface SchemaTable {
  /** The export it was found under. */
  readonly exportName: string
  readonly mark: RlsMark
}

/** Loads `file` (relative to `cwd`) and returns its `withRls` tables, by export name (the order
 * of a module namespace). A file that does not exist or does not load is a usage error; so is one
 * with no `withRls` table. */
export async function loadSchemaTables(file: string, cwd: string): Promise<SchemaTable[]> {
  if (file.trim() === '') throw new UsageError('--schema is empty: pass the module that exports your withRls tables, e.g. --schema ./src/db/schema.ts.')
  const path = resolve(cwd, file)
  const module = await loadModule(path, cwd, file)
  const tables: SchemaTable[] = []
  const seen = new Set<unknown>()
  const exports = Object.entries(module)
  const fallback = module['default']
  if (typeof fallback === 'object' && fallback !== null) exports.push(...Object.entries(fallback))
  for (const [exportName, value] of exports) {
    const mark = readMark(value)
    if (!mark || seen.has(value)) continue
    seen.add(value)
    tables.push({ exportName, mark })
  }
  if (tables.length === 0) {
    throw new UsageError(`${file} exports no table wrapped in withRls(): export your tables, e.g. ` + '`export const todos = withRls(pgTable(...))`.')
  }
  return tables
}

async function loadModule(path: string, cwd: string, given: string): Promise<Record<string, unknown>> {
  if (!existsSync(path)) throw new UsageError(`Schema file ${path} does not exist: check --schema.`)
  if (statSync(path).isDirectory()) {
    throw new UsageError(`--schema ${given} is a directory (${path}): pass the schema file itself, e.g. --schema ${join(given, 'schema.ts')}.`)
  }
  try {
    const ext = extname(path)
    if (ext === '.js' || ext === '.mjs' || ext === '.cjs') return (await import(pathToFileURL(path).href)) as Record<string, unknown>
    const require = createRequire(join(cwd, 'package.json'))
    const tsx = resolveEsmExport(require, 'tsx', './esm/api')
    if (tsx) {
      const api = (await import(pathToFileURL(tsx).href)) as {
        tsImport(specifier: string, parent: string): Promise<Record<string, unknown>>
      }
      return await api.tsImport(pathToFileURL(path).href, import.meta.url)
    }
    const esbuild = tryResolve(require, 'esbuild')
    if (esbuild) return await loadWithEsbuild(esbuild, path, cwd)
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(`Cannot load schema ${path}: ${loadErrorReason(error, cwd)}`)
  }
  throw new UsageError(`Cannot load ${path}: loading TypeScript needs tsx or esbuild in the project (npm install -D tsx), ` + 'or pass the compiled .js file.')
}

/**
 * Why a module did not load, on one line. esbuild's errors (the fallback) carry `errors[0]` with
 * a location; tsx's first line is only "Transform failed with 1 error:", the location and text
 * follow as `file:line:column: ERROR: text`. Either way: `file:line:column: text`, with the
 * column counted from 1 as editors do (esbuild counts from 0).
 */
function loadErrorReason(error: unknown, cwd: string): string {
  const shown = (file: string) => {
    const path = relative(cwd, resolve(cwd, file))
    return path.startsWith('..') || isAbsolute(path) ? resolve(cwd, file) : path
  }
  const first = (error as { errors?: { text?: unknown; location?: { file?: unknown; line?: unknown; column?: unknown } | null }[] })?.errors?.[0]
  const at = first?.location
  if (typeof first?.text === 'string' && typeof at?.file === 'string' && typeof at.line === 'number' && typeof at.column === 'number') {
    return `${shown(at.file)}:${at.line}:${at.column + 1}: ${first.text}`
  }
  const message = error instanceof Error ? error.message : String(error)
  for (const line of message.split('\n')) {
    const found = /^(.+?):(\d+):(\d+): ERROR: (.+)$/.exec(line.trim())
    if (found) return `${shown(found[1]!)}:${found[2]}:${Number(found[3]) + 1}: ${found[4]}`
  }
  const [head = '', ...rest] = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  return head.endsWith(':') && rest[0] ? `${head} ${rest[0]}` : head
}

/** The ES-module file of a package subpath, resolved from the project. `require.resolve` would
 * give the CommonJS one, and tsx's CommonJS API cannot register its ESM loader. */
function resolveEsmExport(require: NodeRequire, pkg: string, subpath: string): string | undefined {
  const manifest = tryResolve(require, `${pkg}/package.json`)
  if (!manifest) return undefined
  const exports = (require(manifest) as { exports?: Record<string, unknown> }).exports
  let target: unknown = exports?.[subpath]
  while (typeof target === 'object' && target !== null) {
    const conditions = target as Record<string, unknown>
    target = conditions['import'] ?? conditions['default']
  }
  return typeof target === 'string' ? join(dirname(manifest), target) : undefined
}

function tryResolve(require: NodeRequire, id: string): string | undefined {
  try {
    return require.resolve(id)
  } catch {
    return undefined
  }
}

/** Bundles the schema's own files into one ES module that keeps packages external, writes it
 * under the project's node_modules/.cache (so that those packages resolve as they would from the
 * project: from os.tmpdir() they would not) and imports it. The bundle is removed afterwards,
 * when the import throws, and when the process exits meanwhile; one left by a killed run is
 * removed by the next. */
async function loadWithEsbuild(esbuildPath: string, path: string, cwd: string): Promise<Record<string, unknown>> {
  const esbuild = (await import(pathToFileURL(esbuildPath).href)) as {
    build(options: object): Promise<{ outputFiles: { text: string }[] }>
  }
  const result = await esbuild.build({
    entryPoints: [path],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    absWorkingDir: cwd,
  })
  const dir = join(cwd, 'node_modules', '.cache', 'pg-tenants')
  await mkdir(dir, { recursive: true })
  removeStaleBundles(dir)
  const out = join(dir, `schema-${process.pid}-${Date.now()}.mjs`)
  const removeOnExit = () => rmSync(out, { force: true })
  process.on('exit', removeOnExit)
  try {
    await writeFile(out, result.outputFiles[0]?.text ?? '')
    return (await import(pathToFileURL(out).href)) as Record<string, unknown>
  } finally {
    process.off('exit', removeOnExit)
    await rm(out, { force: true })
  }
}

/** An hour: no schema takes that long to import, so an older bundle was left by a killed run
 * even if its process id now belongs to another process. */
const STALE_BUNDLE_MS = 3_600_000

/** Removes the bundles of runs that are gone (killed with SIGKILL, or a crash of Node itself). */
function removeStaleBundles(dir: string): void {
  for (const name of readdirSync(dir)) {
    const found = /^schema-(\d+)-(\d+)\.mjs$/.exec(name)
    if (!found) continue
    const pid = Number(found[1])
    if (pid !== process.pid && (!alive(pid) || Date.now() - Number(found[2]) > STALE_BUNDLE_MS)) {
      rmSync(join(dir, name), { force: true })
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The options for the schema's tables: the tenancy flags, with `strategy`, `tenantRole` (and, in
 * the `role` strategy, `rolePrefix`) taken from the tables' `withRls` when not given. The tables
 * must agree among themselves, and a flag must agree with them: their drizzle-kit policy was
 * written for those values.
 */
export function schemaOptions(tables: readonly SchemaTable[], flags: TenantOptions): ResolvedOptions {
  const [first, ...rest] = tables
  if (!first) throw new UsageError('The schema has no withRls table.')
  const odd = rest.find((t) => policyOf(t.mark) !== policyOf(first.mark))
  if (odd) {
    throw new UsageError(
      `withRls tables disagree: ${first.mark.name} uses ${policyOf(first.mark)}, ${odd.mark.name} ${policyOf(odd.mark)}; ` +
        'give every withRls the same strategy, rolePrefix and tenantRole.',
    )
  }
  const strategy = flags.strategy ?? first.mark.strategy
  const rolePrefix = flags.rolePrefix ?? (strategy === 'role' ? first.mark.rolePrefix : undefined)
  const tenantRole = flags.tenantRole ?? first.mark.tenantRole
  const options = checkOptions({
    ...flags,
    strategy,
    ...(rolePrefix === undefined ? {} : { rolePrefix }),
    ...(tenantRole === undefined ? {} : { tenantRole }),
  })
  if (!markAgrees(first.mark, options)) {
    const flag =
      strategy !== first.mark.strategy
        ? `--strategy ${strategy}`
        : options.tenantRole !== (first.mark.tenantRole ?? DEFAULT_TENANT_ROLE)
          ? `--tenant-role ${options.tenantRole}`
          : `--role-prefix ${options.rolePrefix}`
    throw new UsageError(
      `${flag} does not match the schema's withRls tables (${first.mark.name}: ${policyOf(first.mark)}): ` +
        `pass the same to withRls, or drop ${flag.split(' ')[0]}.`,
    )
  }
  return options
}

/** The tenant role of a mark that names none (pg-tenants before 0.2): the default's. */
const DEFAULT_TENANT_ROLE = resolveOptions().tenantRole

/** What a table's drizzle-kit policy was written for, as its withRls options (defaults left out). */
function policyOf(mark: RlsMark): string {
  const parts = mark.strategy === 'role' ? [`strategy: 'role'`, `rolePrefix: ${JSON.stringify(mark.rolePrefix)}`] : [`strategy: 'setting'`]
  const tenantRole = mark.tenantRole ?? DEFAULT_TENANT_ROLE
  if (tenantRole !== DEFAULT_TENANT_ROLE) parts.push(`tenantRole: ${JSON.stringify(tenantRole)}`)
  return `{ ${parts.join(', ')} }`
}

/** The tables' specs, each with its schema filled in from `options` when it has none, and
 * checked as the migration checks them (a mark not made by withRls may hold any name). */
export function schemaSpecs(tables: readonly SchemaTable[], options: ResolvedOptions): TableSpec[] {
  const specs = tables.map((t) => ({ ...specOf(t.mark), schema: t.mark.schema || options.schema }))
  try {
    for (const spec of specs) tableStatements(spec, options)
  } catch (error) {
    if (error instanceof TenantError) throw new UsageError(error.message)
    throw error
  }
  return specs
}
