import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', 'drizzle/index': 'src/drizzle/index.ts', 'testing/index': 'src/testing/index.ts', cli: 'src/cli/bin.ts' },
  format: ['esm'],
  target: 'node20',
  dts: true,
  clean: true,
  sourcemap: true,
  splitting: true,
  treeshake: true,
})
