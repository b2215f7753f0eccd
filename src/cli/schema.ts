/**
 * Loads the app's schema module (`--schema ./src/db/schema.ts`) and collects its `withRls`
 * tables. TypeScript is loaded with the project's own tsx if it has one, else with esbuild (every
 * drizzle-kit install has it); `.js`/`.mjs` files are imported as they are.
 *
 * @module
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TenantError } from '../core/errors.js'
import { tableStatements, type TableSpec } from '../core/migration.js'
import type { ResolvedOptions, TenantOptions } from '../core/options.js'
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
  const path = resolve(cwd, file)
  const module = await loadModule(path, cwd)
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
    throw new UsageError(
      `${file} exports no table wrapped in withRls(): export your tables, e.g. ` +
        '`export const todos = withRls(pgTable(...))`.',
    )
  }
  return tables
}

async function loadModule(path: string, cwd: string): Promise<Record<string, unknown>> {
  const { existsSync } = await import('node:fs')
  if (!existsSync(path)) throw new UsageError(`Schema file ${path} does not exist: check --schema.`)
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
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new UsageError(`Cannot load schema ${path}: ${reason}`)
  }
  throw new UsageError(
    `Cannot load ${path}: loading TypeScript needs tsx or esbuild in the project (npm install -D tsx), ` +
      'or pass the compiled .js file.',
  )
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
 * under the project's node_modules/.cache (so those packages resolve as they would from the
 * project) and imports it. */
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
  })
  const dir = join(cwd, 'node_modules', '.cache', 'pg-tenants')
  await mkdir(dir, { recursive: true })
  const out = join(dir, `schema-${process.pid}-${Date.now()}.mjs`)
  await writeFile(out, result.outputFiles[0]?.text ?? '')
  try {
    return (await import(pathToFileURL(out).href)) as Record<string, unknown>
  } finally {
    await rm(out, { force: true })
  }
}

/**
 * The options for the schema's tables: the tenancy flags, with `strategy` (and, in the `role`
 * strategy, `rolePrefix`) taken from the tables' `withRls` when not given. The tables must agree
 * among themselves, and a flag must agree with them: their drizzle-kit policy was written for
 * those values.
 */
export function schemaOptions(tables: readonly SchemaTable[], flags: TenantOptions): ResolvedOptions {
  const [first, ...rest] = tables
  if (!first) throw new UsageError('The schema has no withRls table.')
  const policyOf = (m: RlsMark) => (m.strategy === 'role' ? `{ strategy: 'role', rolePrefix: ${JSON.stringify(m.rolePrefix)} }` : `{ strategy: 'setting' }`)
  const odd = rest.find((t) => policyOf(t.mark) !== policyOf(first.mark))
  if (odd) {
    throw new UsageError(
      `withRls tables disagree: ${first.mark.name} uses ${policyOf(first.mark)}, ${odd.mark.name} ${policyOf(odd.mark)}; ` +
        'give every withRls the same strategy and rolePrefix.',
    )
  }
  const strategy = flags.strategy ?? first.mark.strategy
  const rolePrefix = flags.rolePrefix ?? (strategy === 'role' ? first.mark.rolePrefix : undefined)
  const options = checkOptions({ ...flags, strategy, ...(rolePrefix === undefined ? {} : { rolePrefix }) })
  if (!markAgrees(first.mark, options)) {
    const flag = strategy !== first.mark.strategy ? `--strategy ${strategy}` : `--role-prefix ${options.rolePrefix}`
    throw new UsageError(
      `${flag} does not match the schema's withRls tables (${first.mark.name}: ${policyOf(first.mark)}): ` +
        `pass the same to withRls, or drop ${flag.split(' ')[0]}.`,
    )
  }
  return options
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
