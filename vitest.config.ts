import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // A stray `.only` must fail CI, not silently skip the rest of the suite.
    allowOnly: !process.env.CI,
    // The tests' Prisma client is generated, not committed.
    globalSetup: ['test/support/prisma-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Type tests of the public API (test/types/*.test-d.ts): compiled by tsc, never run; a wrong
    // expectTypeOf or an unused @ts-expect-error fails its test like a failed assertion.
    typecheck: {
      enabled: true,
      include: ['test/types/**/*.test-d.ts'],
      tsconfig: 'test/types/tsconfig.json',
    },
  },
})
