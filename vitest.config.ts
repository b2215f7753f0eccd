import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // A stray `.only` must fail CI, not silently skip the rest of the suite.
    allowOnly: !process.env.CI,
    pool: 'forks',
    maxWorkers: 2,
  },
})
