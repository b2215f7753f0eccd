/**
 * Second round of attacks on the Prisma adapter (src/prisma), aimed at the fixes of the first
 * round (batches run as savepoints of the scope, routed by their async context) and at the new
 * surfaces (`manager.scoped()`). It found that Prisma runs the requests of one tick in the context
 * of the first, so routing by context could run a batch outside its scope ("WAS A DEFECT"):
 * batches are refused inside a scope now. Each test passes when the library defends; the one
 * `it.fails` is a known limit of Prisma's own nested transactions. Every test has a timeout, so
 * that a hang shows as a failure.
 */
import { AsyncResource } from 'node:async_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runWithTenant } from '../src/core/tenant-context.js'
import { codeOf, sleep } from './support/errors.js'
import { prismaWorld, type PrismaWorld } from './support/prisma-world.js'
import { targets, type Target } from './support/targets.js'

const node = targets().find((t) => t.name === 'node-postgres')

const T = 10_000

/** Resolves to what `promise` resolved to, or to `refused <code>`. */
const outcome = <T>(promise: PromiseLike<T>): Promise<T | string> =>
  Promise.resolve(promise).then(
    (value) => value,
    (error: unknown) => `refused ${String(codeOf(error) ?? (error as { code?: unknown }).code)}`,
  )

/** Runs `fn` in the async context of where `outside` was made (no scope, no tenant). */
const outsideOf = () => AsyncResource.bind(<R>(fn: () => R): R => fn())

describe.runIf(node)('prisma attacks 2 on node-postgres', () => {
  let target: Target
  let w: PrismaWorld
  let one: PrismaWorld
  beforeAll(async () => {
    target = await node!.create()
    w = await prismaWorld(target, { max: 4, prefix: 'pgb' })
    one = await prismaWorld(target, { max: 1, prefix: 'pgc' })
  })
  afterAll(async () => {
    try {
      await w?.cleanup()
      await one?.cleanup()
    } finally {
      await target?.close()
    }
  })

  // WAS A DEFECT: Prisma's DataLoader (RequestHandler) dispatches every request queued in one tick
  // from ONE process.nextTick, in the async context of the request that started the tick. A root
  // findUnique of an unrelated context queued just before the scope's batch made the batch run in
  // THAT context, unscoped on another connection (and in the other order the outside query would
  // run inside the scope). Batches were routed by the async context at the adapter; they are
  // refused inside a scope now, before any of their queries starts.
  it("a root findUnique of another async context, in the tick of a scope's batch, never runs in that scope; the batch is refused", { timeout: T }, async () => {
    const seeded = await w.manager.withTenant('dl-a', (tx) => tx.item.create({ data: { tenant: 'dl-a', title: 'secret' } }))
    const outside = outsideOf()
    const probe = () => outside(() => outcome(w.prisma.item.findUnique({ where: { id: seeded.id }, select: { title: true } })))
    const result = await w.manager.withTenant('dl-a', async (tx) => {
      const before = probe()
      const batch = outcome(tx.$transaction([tx.item.findMany({ where: { tenant: 'dl-a' }, select: { title: true } })]))
      const after = probe()
      return { batch: await batch, probes: [await before, await after] }
    })
    // Control: the same findUnique run by the scope sees the row, so a probe run in it would too.
    expect(result.batch).toBe('refused UNSUPPORTED_OPERATION')
    expect(result.probes).toEqual([null, null])
  })

  // KNOWN LIMIT (Prisma's own nested transactions; docs/known-limits.md): Prisma 7 runs a nested
  // interactive transaction in the same transaction, as a savepoint, and sends every query of the
  // transaction in arrival order: outer queries sent while the nested one runs (Promise.all) land
  // inside its savepoint and are undone with it when it fails, though each resolved. Prisma does
  // the same without pg-tenants (the adapter cannot tell the nested callback's queries from the
  // outer ones: both come on the same transaction). Same tenant: no isolation is at stake.
  it.fails('an outer write beside a failing nested interactive transaction (Promise.all) that resolved is committed', { timeout: T }, async () => {
    const resolved: string[] = []
    const nested = await w.manager.withTenant('nest', async (tx) => {
      const outer = Array.from({ length: 10 }, (_, i) =>
        (async () => {
          await sleep(i % 4)
          await tx.item.create({ data: { tenant: 'nest', title: `o${i}` } })
          resolved.push(`o${i}`)
        })(),
      )
      const failing = outcome(
        tx.$transaction(async (tx2) => {
          await tx2.item.create({ data: { tenant: 'nest', title: 'n-1' } })
          await sleep(5)
          await tx2.item.create({ data: { tenant: 'nest', title: 'n-2' } })
          throw new Error('nested fails')
        }),
      )
      await Promise.all(outer)
      return failing
    })
    expect(nested).toMatch(/^refused/)
    expect(resolved).toHaveLength(10)
    const kept = await w.titles('nest')
    expect(kept.filter((t) => t.startsWith('n-'))).toEqual([])
    expect(kept.filter((t) => t.startsWith('o')).sort()).toEqual(resolved.sort())
  })

  it('a nested interactive callback that tries a batch of the outer tx finishes, the batch refused, the rest as the tenant', { timeout: T }, async () => {
    const rows = await w.manager.withTenant('nb', async (tx) => {
      const batch = await tx.$transaction(async (tx2) => {
        const refused = await outcome(
          tx.$transaction([tx.item.create({ data: { tenant: 'nb', title: 'b1' } }), tx.item.create({ data: { tenant: 'nb', title: 'b2' } })]),
        )
        await tx2.item.create({ data: { tenant: 'nb', title: 'n1' } })
        return refused
      })
      return [batch, await tx.item.count()]
    })
    expect(rows).toEqual(['refused UNSUPPORTED_OPERATION', 1])
    expect(await w.titles('nb')).toEqual(['n1'])
  })

  it("a batch of the nested callback's client (tx2.$transaction([...])) runs scoped or is refused, never unscoped nor hung", { timeout: T }, async () => {
    const got = await outcome(
      w.manager.withTenant('nb2', (tx) =>
        tx.$transaction(async (tx2) =>
          outcome(tx2.$transaction([tx2.item.create({ data: { tenant: 'nb2', title: 'x1' } }), tx2.item.create({ data: { tenant: 'nb2', title: 'x2' } })])),
        ),
      ),
    )
    const kept = await w.titles('nb2')
    if (typeof got === 'string') expect(kept).toEqual([])
    else expect(kept.sort()).toEqual(['x1', 'x2'])
  })

  // WAS A DEFECT: a batch of one query queued in the same Prisma tick as a batch of several ran in
  // the context of the other and was refused as a root query (batches were routed by context).
  it('Promise.all of outer queries, batches and a nested transaction: the batches refused, everything else committed', { timeout: T }, async () => {
    const batches = await w.manager.withTenant('all', async (tx) => {
      const settled = await Promise.all([
        tx.item.create({ data: { tenant: 'all', title: 'o1' } }),
        outcome(tx.$transaction([tx.item.create({ data: { tenant: 'all', title: 'b1' } }), tx.item.create({ data: { tenant: 'all', title: 'b2' } })])),
        tx.$transaction(async (tx2) => {
          await tx2.item.create({ data: { tenant: 'all', title: 'n1' } })
          return outcome(tx.$transaction([tx.item.findMany()]))
        }),
        outcome(tx.$transaction([tx.item.findMany()])),
        tx.item.create({ data: { tenant: 'all', title: 'o2' } }),
      ])
      return [settled[1], settled[2], settled[3]]
    })
    expect(batches).toEqual(Array(3).fill('refused UNSUPPORTED_OPERATION'))
    expect((await w.titles('all')).sort()).toEqual(['n1', 'o1', 'o2'])
  })

  it('a write before a caught failed statement: withTenant does not resolve with the write lost', { timeout: T }, async () => {
    const result = await outcome(
      w.manager.withTenant('abort', async (tx) => {
        await tx.item.create({ data: { tenant: 'abort', title: 'kept?' } })
        await outcome(tx.item.create({ data: { tenant: 'other', title: 'planted' } })) // RLS refuses: the transaction is aborted
        await outcome(tx.$transaction(async (tx2) => tx2.item.count())) // its SAVEPOINT fails
        return 'resolved'
      }),
    )
    const kept = await w.titles('abort')
    // Either withTenant rejects, or what it resolved over is committed.
    if (result === 'resolved') expect(kept).toEqual(['kept?'])
    else expect(kept).toEqual([])
  })

  it("Prisma's timeout inside a nested transaction (pool of one): rejects, nothing committed, the connection comes back clean", { timeout: T }, async () => {
    const got = await outcome(
      one.manager.withTenant(
        'slow',
        async (tx) => {
          await tx.$transaction(async (tx2) => {
            await tx2.item.create({ data: { tenant: 'slow', title: 'late' } })
            await tx2.$executeRaw`SELECT pg_sleep(0.6)`
          })
          return 'done'
        },
        { timeout: 200 },
      ),
    )
    expect(got).toMatch(/^refused/)
    await sleep(700)
    expect(await one.titles('slow')).toEqual([])
    const after = await one.manager.withTenant('clean', (tx) =>
      tx.$queryRawUnsafe<{ s: string | null; r: string }[]>(`SELECT current_setting('${'app.tenant'}', true) AS s, current_user::text AS r`),
    )
    expect(after).toHaveLength(1)
    expect(await outcome(one.prisma.item.findMany())).toEqual([])
  })

  it(
    'runWithTenant(B) inside withTenant(A), then a scoped() call: refused promptly (NESTED_SCOPE), never run as B, no hang on a pool of one',
    { timeout: T },
    async () => {
      const db = one.manager.scoped()
      const started = Date.now()
      const got = await one.manager.withTenant('sa', () => runWithTenant('sb', () => outcome(db.item.create({ data: { tenant: 'sb', title: 'inner' } }))))
      expect(got).toBe('refused NESTED_SCOPE')
      expect(Date.now() - started).toBeLessThan(1500)
      expect(await one.titles('sb')).toEqual([])
    },
  )

  it('a scoped() handle: NO_TENANT_CONTEXT after the context ended; inside it, as that tenant only', { timeout: T }, async () => {
    const db = w.manager.scoped()
    await runWithTenant('sc1', () => db.item.create({ data: { tenant: 'sc1', title: 'mine' } }))
    const other = await runWithTenant('sc2', () => db.item.findMany())
    expect(other).toEqual([])
    expect(await outcome(db.item.findMany())).toBe('refused NO_TENANT_CONTEXT')
    expect(await outcome(Promise.resolve().then(() => db.$transaction([] as never)))).toBe('refused UNSUPPORTED_OPERATION')
  })
})
