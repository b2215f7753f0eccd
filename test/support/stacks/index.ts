/** Every stack the shared body (test/stacks.test.ts) runs over. */
import { kyselyPgliteStack, kyselyPgStack, kyselyPostgresJsStack } from './kysely.js'
import { drizzlePostgresJsStack, postgresJsStack } from './postgres-js.js'
import { prismaStack } from './prisma.js'
import { drizzleStack, pgliteStack, pgStack } from './sql.js'
import type { Stack } from './types.js'

export type { AnyManager, Stack, StackManager } from './types.js'

const ALL: readonly Stack[] = [
  drizzleStack,
  pgStack,
  pgliteStack,
  kyselyPgStack,
  kyselyPgliteStack,
  kyselyPostgresJsStack,
  postgresJsStack,
  drizzlePostgresJsStack,
  prismaStack,
]

/** The stacks of this run: all, or those named in STACKS (comma-separated names: CI's run on the
 * oldest peers takes the stacks whose package it downgrades beyond what other tests cover). */
export const STACKS: readonly Stack[] = (() => {
  const names = process.env['STACKS']?.split(',').map((n) => n.trim())
  if (names === undefined) return ALL
  const unknown = names.filter((n) => !ALL.some((s) => s.name === n))
  if (unknown.length > 0) throw new Error(`STACKS names unknown stacks ${unknown.join(', ')}: use ${ALL.map((s) => s.name).join(', ')}`)
  return ALL.filter((s) => names.includes(s.name))
})()
