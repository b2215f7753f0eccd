/**
 * The built package (dist/, from `npm run build`) against the source: each entry point, as an ES
 * module and as CommonJS, exports at run time exactly what its source exports, and the bin runs.
 * publint and @arethetypeswrong/cli (`npm run check:package`) check the package's shape and its
 * types; this checks what a user's `import` and `require` get. CI builds before it tests, so
 * there it is never skipped; locally it runs once `npm run build` has.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
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
