/**
 * The built package (dist/, from `npm run build`) against the source: each entry point, as an ES
 * module and as CommonJS, exports at run time exactly what its source exports, and the bin runs.
 * publint and @arethetypeswrong/cli (`npm run check:package`) check the package's shape and its
 * types; this checks what a user's `import` and `require` get. CI builds before it tests, so
 * there it is never skipped; locally it runs once `npm run build` has.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const built = existsSync(`${ROOT}dist/index.js`)
const require = createRequire(import.meta.url)

/** Entry points: the subpath a user imports, its source and its built file (without extension). */
const ENTRIES = [
  { subpath: 'pg-tenants', source: '../src/index.js', dist: 'dist/index' },
  { subpath: 'pg-tenants/drizzle', source: '../src/drizzle/index.js', dist: 'dist/drizzle/index' },
  { subpath: 'pg-tenants/pg', source: '../src/pg/index.js', dist: 'dist/pg/index' },
  { subpath: 'pg-tenants/pglite', source: '../src/pglite/index.js', dist: 'dist/pglite/index' },
  { subpath: 'pg-tenants/postgres-js', source: '../src/postgres-js/index.js', dist: 'dist/postgres-js/index' },
  { subpath: 'pg-tenants/kysely', source: '../src/kysely/index.js', dist: 'dist/kysely/index' },
  { subpath: 'pg-tenants/prisma', source: '../src/prisma/index.js', dist: 'dist/prisma/index' },
  { subpath: 'pg-tenants/express', source: '../src/express/index.js', dist: 'dist/express/index' },
  { subpath: 'pg-tenants/fastify', source: '../src/fastify/index.js', dist: 'dist/fastify/index' },
  { subpath: 'pg-tenants/hono', source: '../src/hono/index.js', dist: 'dist/hono/index' },
  { subpath: 'pg-tenants/next', source: '../src/next/index.js', dist: 'dist/next/index' },
  { subpath: 'pg-tenants/testing', source: '../src/testing/index.js', dist: 'dist/testing/index' },
  { subpath: 'pg-tenants/adapter', source: '../src/adapter.js', dist: 'dist/adapter' },
] as const

const names = (module: object) =>
  Object.keys(module)
    .filter((name) => name !== 'default' && name !== '__esModule')
    .sort()

describe.skipIf(!built && !process.env['CI'])('the built package', () => {
  it('was built (npm run build)', () => {
    expect(built, 'dist/index.js is missing: run npm run build').toBe(true)
  })

  for (const entry of ENTRIES) {
    it(`${entry.subpath}: import and require export what the source exports`, async () => {
      const source = names((await import(entry.source)) as object)
      expect(source.length).toBeGreaterThan(0)
      expect(names((await import(`${ROOT}${entry.dist}.js`)) as object)).toEqual(source)
      expect(names(require(`${ROOT}${entry.dist}.cjs`) as object)).toEqual(source)
    })
  }

  it('the pg-tenants bin prints its usage', () => {
    const run = spawnSync(process.execPath, [`${ROOT}dist/cli.js`, '--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/^Usage: pg-tenants /m)
  })
})

/** The packages each entry point may load at run time: its own stack's peer, nothing else (an
 * app that uses one stack installs only that stack's package). */
const RUNTIME_PEERS: Readonly<Record<string, readonly string[]>> = {
  'dist/index': [],
  'dist/drizzle/index': ['drizzle-orm'],
  'dist/pg/index': [],
  'dist/pglite/index': [],
  'dist/postgres-js/index': [],
  'dist/kysely/index': ['kysely'],
  // Each Prisma adapter package is loaded when Prisma first connects, so that either stack's users install only theirs.
  'dist/prisma/index': [],
  'dist/express/index': [],
  'dist/fastify/index': [],
  'dist/hono/index': [],
  'dist/next/index': [],
  'dist/testing/index': [],
  'dist/adapter': [],
}

/** The bare specifiers a built ES module (or declaration file) and the chunks it imports load statically. */
function packagesLoaded(file: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>()
  if (seen.has(file)) return out
  seen.add(file)
  const code = readFileSync(file, 'utf8')
  for (const match of code.matchAll(/(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) {
    const specifier = match[1] ?? match[2]
    if (specifier === undefined) continue
    const target = file.endsWith('.d.ts') ? specifier.replace(/\.js$/, '.d.ts') : specifier // declarations import declarations
    if (specifier.startsWith('.')) for (const p of packagesLoaded(join(dirname(file), target), seen)) out.add(p)
    else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier))
      out.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
  }
  return out
}

/** The packages each entry point's declarations import: its own stack's types. The test kit takes
 * Drizzle tables besides ORM-neutral ones (its type names drizzle-orm's table type). */
const TYPE_PEERS: Readonly<Record<string, readonly string[]>> = {
  ...RUNTIME_PEERS,
  'dist/postgres-js/index': ['postgres'],
  'dist/testing/index': ['drizzle-orm'],
  'dist/prisma/index': ['@prisma/adapter-pg'],
  'dist/express/index': ['express'],
  'dist/fastify/index': ['fastify'],
  'dist/hono/index': ['hono'],
}

describe.runIf(built)('each entry point loads only its own stack', () => {
  it('lists every entry point', () => {
    expect(Object.keys(RUNTIME_PEERS).sort()).toEqual(ENTRIES.map((e) => e.dist).sort())
  })
  for (const [dist, allowed] of Object.entries(RUNTIME_PEERS)) {
    it(`${dist}.js imports ${allowed.length === 0 ? 'no package' : allowed.join(', ')} at run time`, () => {
      expect([...packagesLoaded(`${ROOT}${dist}.js`)].sort()).toEqual([...allowed].sort())
    })
  }
  for (const [dist, allowed] of Object.entries(TYPE_PEERS)) {
    it(`${dist}.d.ts imports the types of ${allowed.length === 0 ? 'no package' : allowed.join(', ')}`, () => {
      expect([...packagesLoaded(`${ROOT}${dist}.d.ts`)].sort()).toEqual([...allowed].sort())
    })
  }
})
