/**
 * Generates the Prisma client of the tests and docs examples (test/prisma/schema.prisma into
 * test/prisma/generated, not committed) when it is missing or older than its schema: run before
 * the typecheck (`npm run typecheck`) and by Vitest's global setup.
 *
 * Prisma's CLI downloads its schema engine on every command, though `prisma generate` does not
 * use it: pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file skips the download, so this
 * works offline.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const schema = 'test/prisma/schema.prisma'
const marker = 'test/prisma/generated/client.ts'

export function generatePrismaClient(force = false): void {
  const stale = !existsSync(root + marker) || statSync(root + marker).mtimeMs < statSync(root + schema).mtimeMs
  if (!stale && !force) return
  execFileSync(process.execPath, [root + 'node_modules/prisma/build/index.js', 'generate', '--schema', schema], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env['PRISMA_SCHEMA_ENGINE_BINARY'] ?? process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  })
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) generatePrismaClient(process.argv.includes('--force'))
