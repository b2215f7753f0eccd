/**
 * What is Prisma's own in `fromPrisma` (the shared body, test/stacks.test.ts, covers what every
 * stack does): the generated client's model API inside scopes, an RLS rejection as Prisma
 * reports it, nested interactive transactions inside a scope (kept on the scope's connection, as
 * savepoints), batch transactions and the root client refused inside a scope, a client built
 * without the adapter refused before the callback runs, Prisma's timeout, the round trips of a
 * scope against Prisma's own `$transaction`, and the migration folder for `prisma migrate`. On
 * the server and through PgBouncer, as a non-superuser table owner (the table FORCEs row-level
 * security, so that an isolation test can fail).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRlsViolation, sqlState, TenantError } from '../src/core/errors.js'
import type { Strategy, TenantOptions } from '../src/core/options.js'
import { fromPrisma, prismaMigration, tenantAdapter } from '../src/prisma/index.js'
import { PrismaClient } from './prisma/generated/client.js'
import { codeOf, rejection, sleep } from './support/errors.js'
import { cleanupSql } from './support/fixture.js'
import { prismaWorld, type PrismaWorld } from './support/prisma-world.js'
import { targets, uniqueSuffix, type Target } from './support/targets.js'

const servers = targets().filter((t) => t.name !== 'pglite')

type World = PrismaWorld

const createWorld = (target: Target, strategy: Strategy, max = 4) => prismaWorld(target, { strategy, max })

/** Statements a pool's clients send while `fn` runs (each `client.query` call is one message and
 * one round trip). */
async function counted<T>(fn: () => Promise<T>): Promise<{ value: T; sent: string[] }> {
  const sent: string[] = []
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, and called with its client as `this`
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0]
    sent.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text))
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof original
  try {
    return { value: await fn(), sent }
  } finally {
    pg.Client.prototype.query = original
  }
}

for (const factory of servers) {
  const strategies: readonly Strategy[] = factory.name === 'pgbouncer' ? ['setting'] : ['setting', 'role']
  for (const strategy of strategies) {
    describe(`prisma on ${factory.name}, ${strategy} strategy`, () => {
      let target: Target
      let w: World
      beforeAll(async () => {
        target = await factory.create()
        w = await createWorld(target, strategy)
      })
      afterAll(async () => {
        try {
          await w?.cleanup()
        } finally {
          await target?.close()
        }
      })

      it("hands the generated client's model API, restricted to the scope's tenant; a row for another tenant is an RLS violation", async () => {
        await w.manager.withTenant('pa', (tx) =>
          tx.item.createMany({
            data: [
              { tenant: 'pa', title: 'a1' },
              { tenant: 'pa', title: 'a2' },
            ],
          }),
        )
        await w.manager.withTenant('pb', (tx) => tx.item.create({ data: { tenant: tx.tenant, title: 'b1' } }))
        const seen = await w.manager.withTenant('pa', async (tx) => {
          expect(tx.tenant).toBe('pa')
          const [{ r }] = (await tx.$queryRaw<{ r: string }[]>`SELECT current_user::text AS r`) as [{ r: string }]
          expect(r).toBe(w.tenantRole('pa'))
          await tx.item.updateMany({ data: { title: 'x' }, where: { title: 'b1' } }) // b1 is not visible
          return tx.item.findMany({ select: { title: true }, orderBy: { title: 'asc' } })
        })
        expect(seen).toEqual([{ title: 'a1' }, { title: 'a2' }])
        expect(await w.manager.withTenant('pb', (tx) => tx.item.findMany({ select: { title: true } }))).toEqual([{ title: 'b1' }])
        const error = await rejection(w.manager.withTenant('pa', (tx) => tx.item.create({ data: { tenant: 'pb', title: 'planted' } })))
        expect(isRlsViolation(error)).toBe(true)
        expect(sqlState(error)).toBe('42501')
        expect(await w.manager.withAdmin((tx) => tx.item.count({ where: { title: 'planted' } }))).toBe(0)
        // Outside any scope the login sees nothing (FORCE ROW LEVEL SECURITY).
        expect(await w.prisma.item.count()).toBe(0)
      })

      it('keeps a nested interactive tx.$transaction(fn) on the scope: a savepoint of the same connection, scoped', async () => {
        const result = await w.manager.withTenant('nest', async (tx) => {
          const [{ pid }] = (await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`) as [{ pid: number }]
          await tx.item.create({ data: { tenant: 'nest', title: 'outer' } })
          const inner = await tx.$transaction(async (tx2) => {
            await tx2.item.create({ data: { tenant: 'nest', title: 'inner-kept' } })
            return tx2.$queryRaw<{ pid: number; r: string }[]>`SELECT pg_backend_pid() AS pid, current_user::text AS r`
          })
          await rejection(
            tx.$transaction(async (tx2) => {
              await tx2.item.create({ data: { tenant: 'nest', title: 'inner-undone' } })
              throw new Error('inner failure')
            }),
          )
          return { pid, inner: inner[0] }
        })
        expect(result.inner).toEqual({ pid: result.pid, r: w.tenantRole('nest') })
        expect(await w.manager.withTenant('nest', (tx) => tx.item.findMany({ select: { title: true }, orderBy: { title: 'asc' } }))).toEqual([
          { title: 'inner-kept' },
          { title: 'outer' },
        ])
      })

      it('refuses a batch $transaction([...]) inside a scope (on tx or the root client) before any of its queries runs; the scope goes on', async () => {
        const result = await w.manager.withTenant('batch', async (tx) => {
          const refusals = [
            await rejection((async () => tx.$transaction([tx.item.create({ data: { tenant: 'batch', title: 'never' } }), tx.item.count()]))()),
            await rejection((async () => tx.$transaction([tx.item.count()]))()),
            await rejection(w.prisma.$transaction([w.prisma.item.create({ data: { tenant: 'batch', title: 'never' } }), w.prisma.item.count()])),
          ]
          await tx.item.create({ data: { tenant: 'batch', title: 'kept' } }) // the scope is not broken by them
          return refusals.map(codeOf)
        })
        expect(result).toEqual(['UNSUPPORTED_OPERATION', 'UNSUPPORTED_OPERATION', 'UNSUPPORTED_OPERATION'])
        expect(await w.titles('batch')).toEqual(['kept']) // no query of a refused batch ran
      })

      it('refuses a query of the root client inside a scope (it would run unscoped on another connection), before sending it', async () => {
        const { value: error, sent } = await counted(() => rejection(w.manager.withTenant('root', () => w.prisma.item.findMany())))
        expect(error).toBeInstanceOf(TenantError)
        expect(codeOf(error)).toBe('UNSUPPORTED_OPERATION')
        expect(sent.filter((s) => s.includes('items'))).toEqual([])
        // After the scope, the root client is the plain client again.
        expect(await w.prisma.item.count()).toBe(0)
      })

      it('refuses a PrismaClient built without the adapter: the callback never runs unscoped', async () => {
        const plain = new PrismaClient({ adapter: new PrismaPg(w.pool, { schema: w.schema }) })
        try {
          expect(() => fromPrisma(plain, new PrismaPg(w.pool) as never)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CLIENT' }))
          const mismatched = fromPrisma(plain, tenantAdapter(w.pool), w.options)
          let ran = false
          const error = await rejection(
            mismatched.withTenant('mismatch', async () => {
              ran = true
            }),
          )
          expect(codeOf(error)).toBe('UNSUPPORTED_CLIENT')
          expect(ran).toBe(false)
        } finally {
          await plain.$disconnect()
        }
      })

      it("ends a scope at Prisma's timeout and gives its connection back clean (pool of one)", async () => {
        const one = await createWorld(target, strategy, 1)
        try {
          const error = await rejection(
            one.manager.withTenant(
              'slow',
              async (tx) => {
                await tx.item.create({ data: { tenant: 'slow', title: 'never committed' } })
                await sleep(400)
                await tx.item.count()
              },
              { timeout: 150 },
            ),
          )
          expect(String(error)).toMatch(/timeout|expired|closed/i)
          const after = await one.manager.withTenant('fast', (tx) =>
            tx.$queryRawUnsafe<{ r: string; n: bigint }[]>(`SELECT current_user::text AS r, count(*) AS n FROM "${one.schema}".items`),
          )
          expect(after).toEqual([{ r: one.tenantRole('fast'), n: 0n }])
          expect(await one.manager.withAdmin((tx) => tx.item.count())).toBe(0)
        } finally {
          await one.cleanup()
        }
      })

      it("sends a scope in as many round trips as Prisma's own $transaction, and the isolation level with BEGIN", async () => {
        await w.manager.withTenant('trips', (tx) => tx.item.count()) // the tenant is known from here on
        const ours = await counted(() => w.manager.withTenant('trips', (tx) => tx.item.findMany()))
        const theirs = await counted(() => w.prisma.$transaction((tx) => tx.item.findMany()))
        expect(ours.sent.length).toBe(theirs.sent.length)
        expect(ours.sent.length).toBe(3)
        const level = await counted(() =>
          w.manager.withTenant('trips', (tx) => tx.$queryRaw<{ l: string }[]>`SELECT current_setting('transaction_isolation') AS l`, {
            isolationLevel: 'serializable',
          }),
        )
        expect(level.value).toEqual([{ l: 'serializable' }])
        expect(level.sent.length).toBe(3)
        const prismaLevel = await counted(() => w.prisma.$transaction((tx) => tx.item.findMany(), { isolationLevel: 'Serializable' }))
        expect(prismaLevel.sent.length).toBe(4) // BEGIN, SET TRANSACTION ISOLATION LEVEL, the query, COMMIT
      })
    })
  }
}

describe('prismaMigration', () => {
  it('names the folder as prisma migrate does and holds the idempotent setup', () => {
    const m = prismaMigration({ tables: [{ name: 'todos', type: 'text' }], now: new Date('2026-12-01T10:20:30Z') })
    expect(m.folder).toBe('20261201102030_pg_tenants')
    expect(m.sql).toContain('FORCE ROW LEVEL SECURITY')
    expect(m.sql).toContain('AS RESTRICTIVE')
    expect(() => prismaMigration({ tables: [{ name: 'todos', type: 'text' }], name: 'no spaces' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }),
    )
  })

  for (const factory of servers.filter((t) => t.name === 'node-postgres')) {
    it('applies as prisma migrate would (the SQL file as one script), twice, and check() passes', async () => {
      const target = await factory.create()
      const suffix = uniqueSuffix()
      const schema = `pgm_${suffix}`
      const owner = `pgm_owner_${suffix}`
      const options: TenantOptions = { schema, rolePrefix: `pgm_t${suffix}_`, tenantRole: `pgm_rls_${suffix}`, adminRole: `pgm_admin_${suffix}` }
      const out = mkdtempSync(join(tmpdir(), 'pg-tenants-prisma-'))
      try {
        await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
        const login = await target.login(owner)
        await login.exec(`CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`)
        // The CLI writes the folder.
        const flags = [
          '--table',
          `${schema}.items=text`,
          '--db-schema',
          schema,
          '--tenant-role',
          options.tenantRole!,
          '--admin-role',
          options.adminRole!,
          '--role-prefix',
          options.rolePrefix!,
        ]
        execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'prisma-migration', '--out', out, ...flags], { stdio: 'pipe' })
        const [folder] = readdirSync(out)
        expect(folder).toMatch(/^\d{14}_pg_tenants$/)
        const sql = readFileSync(join(out, folder!, 'migration.sql'), 'utf8')
        await login.exec(sql)
        await login.exec(sql)
        const pool = login.client as pg.Pool
        const adapter = tenantAdapter(pool, { schema })
        const prisma = new PrismaClient({ adapter })
        try {
          const manager = fromPrisma(prisma, adapter, { ...options, tables: [{ schema, name: 'items', type: 'text' }] })
          const report = await manager.check({ schemas: [schema] })
          expect(report.findings.filter((f) => f.severity !== 'notice')).toEqual([])
          await manager.withTenant('m1', (tx) => tx.item.create({ data: { tenant: 'm1', title: 'x' } }))
          expect(await manager.withTenant('m2', (tx) => tx.item.count())).toBe(0)
        } finally {
          await prisma.$disconnect()
        }
      } finally {
        rmSync(out, { recursive: true, force: true })
        try {
          await target.superExec(cleanupSql(schema, options, owner))
        } finally {
          await target.close()
        }
      }
    })
  }
})
