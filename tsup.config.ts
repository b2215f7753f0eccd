import { defineConfig } from 'tsup'

const common = { target: 'node20', dts: true, sourcemap: true, splitting: true, treeshake: true } as const

export default defineConfig([
  // The library, as ES modules and as CommonJS: drizzle-kit loads a schema file with `require`,
  // so a schema that imports pg-tenants/drizzle needs the CommonJS build.
  {
    ...common,
    entry: {
      index: 'src/index.ts',
      adapter: 'src/adapter.ts',
      'drizzle/index': 'src/drizzle/index.ts',
      'pg/index': 'src/pg/index.ts',
      'pglite/index': 'src/pglite/index.ts',
      'postgres-js/index': 'src/postgres-js/index.ts',
      'kysely/index': 'src/kysely/index.ts',
      'prisma/index': 'src/prisma/index.ts',
      'express/index': 'src/express/index.ts',
      'fastify/index': 'src/fastify/index.ts',
      'hono/index': 'src/hono/index.ts',
      'next/index': 'src/next/index.ts',
      'testing/index': 'src/testing/index.ts',
    },
    format: ['esm', 'cjs'],
  },
  // The CLI: ESM only (top-level await).
  { ...common, entry: { cli: 'src/cli/bin.ts' }, format: ['esm'], dts: false },
])
