/** Every stack the shared body (test/stacks.test.ts) runs over. */
import { kyselyPgliteStack, kyselyPgStack, kyselyPostgresJsStack } from './kysely.js'
import { drizzlePostgresJsStack, postgresJsStack } from './postgres-js.js'
import { drizzleStack, pgliteStack, pgStack } from './sql.js'
import type { Stack } from './types.js'

export type { AnyManager, Stack, StackManager } from './types.js'

export const STACKS: readonly Stack[] = [
  drizzleStack,
  pgStack,
  pgliteStack,
  kyselyPgStack,
  kyselyPgliteStack,
  kyselyPostgresJsStack,
  postgresJsStack,
  drizzlePostgresJsStack,
]
