/** The Prisma stack: `fromPrisma(prisma, tenantAdapter(client))` over the login's pool
 * (@prisma/adapter-pg) or PGlite instance (pglite-prisma-adapter), queried with `$queryRawUnsafe`
 * (the body's SQL names its tables with their schema). */
import { fromPrisma, tenantAdapter } from '../../../src/prisma/index.js'
import { PrismaClient } from '../../prisma/generated/client.js'
import type { Row } from '../targets.js'
import type { Stack } from './types.js'

export const prismaStack: Stack = {
  name: 'prisma',
  supports: () => true,
  async open(login, options, tables, settings = {}) {
    const { max: _max, ...engine } = settings
    const adapter = tenantAdapter(login.client)
    const prisma = new PrismaClient({ adapter })
    return {
      manager: fromPrisma(prisma, adapter, { ...options, ...engine, tables }),
      query: async (handle, text, params = []) => (await (handle as PrismaClient).$queryRawUnsafe<Row[]>(text, ...params)) ?? [],
      outside: (text) => login.exec(text),
      end: () => prisma.$disconnect(),
    }
  },
}
