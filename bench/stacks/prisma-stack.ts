/**
 * Prisma 7 on `@prisma/adapter-pg`, with the tests' generated client (test/prisma/generated,
 * `npx tsx scripts/prisma-generate.ts`): its model `Item` is the table `items` (id, tenant,
 * title). The benchmark's `items` has id and tenant (and `payload` for `title`), so every select
 * is `findUnique({ where: { id }, select: { id: true, tenant: true } })`, the model API's
 * primary-key select, without a new client: PrismaPg's `schema` option points the generated
 * queries at `pgt_stacks` (the RLS table) or at `pgt_stacks_prisma`, whose `items` is a copy of
 * `items_plain` (same rows, indexes and constraint; no RLS), created here for the phase: a model
 * maps to one table name, and `items_plain` has none.
 *
 * Three clients, each measured on the same keys in one interleaved run:
 * - `withTenant`: `fromPrisma` on clients built with `tenantAdapter(pool)`, one connection.
 * - the plain transaction: Prisma's own `prisma.$transaction(async tx => …)` on a client built
 *   with a plain `PrismaPg` over a pool of its own (one connection), as the same owner login.
 * - the pattern peers publish (prisma/prisma-client-extensions, "row-level-security"): a client
 *   extension, made per unit of work, that runs every model call as
 *   `prisma.$transaction([prisma.$executeRaw\`SELECT set_config(…)\`, query(args)])` on that plain
 *   client. Our policies bind the tenant role (a table owner's login sees nothing under FORCE RLS),
 *   so its one statement also sets the role: `set_config('role', …)` beside the tenant setting
 *   (`setting`), or alone (`role`): what the pattern needs to pass RLS, in the same round trip.
 *
 * @module
 */
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import type { Strategy } from '../../src/core/options.js'
import { resolveOptions } from '../../src/core/options.js'
import { fromPrisma, tenantAdapter } from '../../src/prisma/index.js'
import { PrismaClient } from '../../test/prisma/generated/client.js'
import { DATABASE_URL, superExec } from '../lib/setup.js'
import { check } from '../lib/workload.js'
import { countingPool, type Counter } from '../scope-overhead/round-trips.js'
import { optionsFor, OWNER, SCHEMA, scopeRoleOf, TENANT_ROLE, TENANT_TABLES } from './config.js'
import type { BenchStack, PatternStack, Row, Seen, Table } from './stack.js'

/** The schema whose `items` is the copy of `items_plain` the Prisma model can name. */
export const PRISMA_SCHEMA = `${SCHEMA}_prisma`

/** What the benchmark calls on a Prisma client or transaction client. */
interface Handle {
  item: {
    findUnique(args: { where: { id: number }; select: { id: true; tenant: true } }): Promise<Row | null>
    findMany(args: { select: { tenant: true } }): Promise<{ tenant: string }[]>
  }
  $queryRawUnsafe<T = unknown>(query: string): Promise<T>
}

const select = async (h: Handle, id: number): Promise<Row[]> => {
  const row = await h.item.findUnique({ where: { id }, select: { id: true, tenant: true } })
  return row === null ? [] : [row]
}

const read = async (h: Handle, keys: readonly number[]): Promise<Row[]> => {
  const rows: Row[] = []
  for (const k of keys) rows.push(...(await select(h, k)))
  return rows
}

const see = async (h: Handle): Promise<Seen> => {
  const [me] = await h.$queryRawUnsafe<{ u: string }[]>('SELECT current_user::text AS u')
  const all = await h.$queryRawUnsafe<{ tenant: string }[]>(`SELECT tenant FROM ${SCHEMA}.items`)
  return { user: String(me?.u), tenants: all.map((r) => r.tenant) }
}

/** `items_plain`'s copy as `pgt_stacks_prisma.items`, readable by the tenant role (as
 * `sharedTables` makes `items_plain`). Made again for each phase; dropped with the owner's
 * objects at the end even if the run crashes. */
async function createCopy(url: string): Promise<void> {
  await superExec(DATABASE_URL, `DROP SCHEMA IF EXISTS ${PRISMA_SCHEMA} CASCADE; CREATE SCHEMA ${PRISMA_SCHEMA} AUTHORIZATION ${OWNER}`)
  const owner = new pg.Client({ connectionString: url })
  await owner.connect()
  try {
    await owner.query(`CREATE TABLE ${PRISMA_SCHEMA}.items (LIKE ${SCHEMA}.items_plain INCLUDING ALL);
      INSERT INTO ${PRISMA_SCHEMA}.items SELECT * FROM ${SCHEMA}.items_plain;
      ANALYZE ${PRISMA_SCHEMA}.items;
      GRANT USAGE ON SCHEMA ${PRISMA_SCHEMA} TO ${TENANT_ROLE};
      GRANT SELECT ON ${PRISMA_SCHEMA}.items TO ${TENANT_ROLE};`)
  } finally {
    await owner.end()
  }
}

const schemaOf = (table: Table) => (table === 'items' ? SCHEMA : PRISMA_SCHEMA)

/**
 * The published extension pattern, for one unit of work of `tenant`: `base.$extends(…)` as the
 * example builds it per request, every model call in its own batch transaction.
 */
function extensionFor(base: PrismaClient, setTenant: (tenant: string) => ReturnType<PrismaClient['$executeRaw']>, tenant: string) {
  return base.$extends({
    query: {
      $allModels: {
        async $allOperations({ args, query }) {
          const [, result] = await base.$transaction([setTenant(tenant), query(args)])
          return result
        },
      },
    },
  })
}

/** A statement as the note names it. */
const short = (text: string) => (/set_config/.test(text) ? 'set_config' : /^SELECT/.test(text) ? 'the select' : text.split(/\s/)[0]!)

/** A pool of `max` connections recording which connection sent each statement. */
function tracingPool(url: string, max: number, trace: { connection: number; statement: string }[]): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max })
  let n = 0
  pool.on('connect', (client) => {
    const connection = ++n
    const original = client.query.bind(client) as (...a: unknown[]) => unknown
    client.query = function (...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: unknown }).text)
      trace.push({ connection, statement: short(text) })
      return original(...args)
    } as typeof client.query
  })
  return pool
}

/** `connection 1: BEGIN; connection 2: BEGIN, set_config, …`: consecutive statements of a connection together. */
function traceText(trace: readonly { connection: number; statement: string }[]): string {
  const runs: { connection: number; statements: string[] }[] = []
  for (const { connection, statement } of trace) {
    const last = runs.at(-1)
    if (last?.connection === connection) last.statements.push(statement)
    else runs.push({ connection, statements: [statement] })
  }
  return runs.map((r) => `connection ${r.connection}: ${r.statements.join(', ')}`).join('; ')
}

/** `fromPrisma` against Prisma's own `$transaction`, and the extension pattern beside it. */
export async function prismaStack(url: string, strategy: Strategy): Promise<BenchStack> {
  await createCopy(url)
  const counter: Counter = { queries: 0, ready: 0, connects: 0 }
  const scopedPool = countingPool(url, counter)
  const plainPool = countingPool(url, counter)
  const options = { ...optionsFor(strategy), tables: TENANT_TABLES }
  const scopedClients = (['items', 'items_plain'] as const).map((table) => {
    const adapter = tenantAdapter(scopedPool, { schema: schemaOf(table) })
    const prisma = new PrismaClient({ adapter })
    return { table, prisma, manager: fromPrisma(prisma, adapter, options) }
  })
  const managerOf = (table: Table) => scopedClients.find((s) => s.table === table)!.manager
  const plainOf = {
    items: new PrismaClient({ adapter: new PrismaPg(plainPool, { schema: SCHEMA }) }),
    items_plain: new PrismaClient({ adapter: new PrismaPg(plainPool, { schema: PRISMA_SCHEMA }) }),
  }
  const plain = plainOf.items_plain

  const settingKey = resolveOptions(optionsFor(strategy)).settingKey
  const setTenantOn = (base: PrismaClient) => (tenant: string) =>
    strategy === 'setting'
      ? base.$executeRaw`SELECT set_config('role', ${scopeRoleOf(strategy, tenant)}, TRUE), set_config(${settingKey}, ${tenant}, TRUE)`
      : base.$executeRaw`SELECT set_config('role', ${scopeRoleOf(strategy, tenant)}, TRUE)`
  const extended = (table: Table, tenant: string) => extensionFor(plainOf[table], setTenantOn(plainOf[table]), tenant) as unknown as Handle

  const pattern: PatternStack = {
    label: 'prisma, extension pattern',
    scoped: (tenant, table, keys) => read(extended(table, tenant), keys),
    async probe(tenant) {
      // current_user through the pattern's own batch (the extension sees model calls only), the rows through the extension.
      const base = plainOf.items
      const [, me] = await base.$transaction([setTenantOn(base)(tenant), base.$queryRawUnsafe<{ u: string }[]>('SELECT current_user::text AS u')])
      const rows = await extended('items', tenant).item.findMany({ select: { tenant: true } })
      return { user: String(me[0]?.u), tenants: rows.map((r) => r.tenant) }
    },
    async note() {
      // Inside a user's interactive transaction, on a pool of two (on a pool of one the call fails
      // after Prisma's maxWait, 2 s: its batch waits for a second connection).
      const trace: { connection: number; statement: string }[] = []
      const pool = tracingPool(url, 2, trace)
      const base = new PrismaClient({ adapter: new PrismaPg(pool, { schema: SCHEMA }) })
      try {
        const x = extensionFor(base, setTenantOn(base), 't3')
        const found = await x.$transaction((tx) => tx.item.findUnique({ where: { id: 3 }, select: { id: true, tenant: true } }))
        check(found?.id === 3 && found.tenant === 't3', `${this.label} inside $transaction: ${JSON.stringify(found)}, not row 3 of t3`)
        const apart = trace.some((t) => t.connection === 2 && t.statement === 'the select')
        return `${traceText(trace)}${apart ? " (the query committed in a transaction of its own, on a second connection, before the user's)" : ''}`
      } finally {
        await base.$disconnect()
        await pool.end()
      }
    },
  }

  return {
    counter,
    connections: 2,
    scoped: (tenant, table, keys) => managerOf(table).withTenant(tenant, (tx) => read(tx as unknown as Handle, keys)),
    plain: (keys) => plain.$transaction((tx) => read(tx as unknown as Handle, keys)),
    probe: (tenant) =>
      tenant === undefined
        ? plainOf.items.$transaction((tx) => see(tx as unknown as Handle))
        : managerOf('items').withTenant(tenant, (tx) => see(tx as unknown as Handle)),
    pattern,
    async close() {
      await Promise.all([...scopedClients.map((s) => s.prisma.$disconnect()), plainOf.items.$disconnect(), plainOf.items_plain.$disconnect()])
      await Promise.all([scopedPool.end(), plainPool.end()])
      await superExec(DATABASE_URL, `DROP SCHEMA IF EXISTS ${PRISMA_SCHEMA} CASCADE`)
    },
  }
}
