/** Vitest's global setup: the tests' Prisma client (test/prisma/generated) is generated before
 * any test file loads it (a no-op when it is up to date). */
import { generatePrismaClient } from '../../scripts/prisma-generate.js'

export default function setup(): void {
  generatePrismaClient()
}
