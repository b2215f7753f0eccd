/**
 * `manager.scoped()` over every stack (test/support/stacks), on PGlite and the server in both
 * strategies and through PgBouncer in one: each statement its own short scope for the ambient
 * tenant (`runWithTenant`), fail-closed without one, `transaction`, no connection held between
 * statements (every login here is a pool of one), isolation under concurrency, a clean pool after
 * a failed statement, and the attacks: a timer that outlives its context, a lazy query run in
 * another context, a COMMIT sent through the handle, a scoped statement inside a scope. The tables
 * are owned by a non-superuser login and FORCE row-level security, so the isolation tests go red
 * when the protection is broken (the last test of a block breaks it).
 */
import { sql as dsql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { engineOf } from '../src/core/adapter.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import type { Strategy, TenantOptions } from '../src/core/options.js'
import { runWithTenant } from '../src/core/tenant-context.js'
import { codeOf, rejection, sleep } from './support/errors.js'
import { cleanupSql } from './support/fixture.js'
import { STACKS, type Stack, type StackManager } from './support/stacks/index.js'
import { targets, uniqueSuffix, type Login, type Row, type Target } from './support/targets.js'

interface World {
  readonly schema: string
  readonly options: TenantOptions
  readonly login: Login
  readonly s: StackManager
  /** How many connections the manager's engine took so far. */
  connects(): number
  cleanup(): Promise<void>
}

async function createWorld(target: Target, stack: Stack, strategy: Strategy): Promise<World> {
  const suffix = uniqueSuffix()
  const schema = `pgsc_${suffix}`
  const owner = `pgsc_owner_${suffix}`
  const options: TenantOptions = { schema, strategy, rolePrefix: `pgsc_t${suffix}_`, tenantRole: `pgsc_rls_${suffix}`, adminRole: `pgsc_admin_${suffix}` }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const cleanup = () => target.superExec(cleanupSql(schema, options, owner)).then(() => undefined)
  try {
    const login = await target.login(owner, { max: 1 })
    const items: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
    await login.exec(`CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);`)
    await login.exec(buildMigration([items], options).up)
    const s = await stack.open(login, options, [items], { knownTenantTtlMs: 0, max: 1 })
    const driver = engineOf(s.manager).driver as { connect: () => Promise<unknown> }
    const connect = driver.connect.bind(driver)
    let connects = 0
    driver.connect = () => {
      connects++
      return connect()
    }
    return { schema, options, login, s, connects: () => connects, cleanup }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** One scoped transaction through the stack's own API (Kysely's `transaction().execute`). */
function transactionOf(stack: Stack, db: unknown, fn: (tx: unknown) => Promise<unknown>): Promise<unknown> {
  if (stack.name.startsWith('kysely')) return (db as { transaction(): { execute(f: typeof fn): Promise<unknown> } }).transaction().execute(fn)
  return (db as { transaction(f: typeof fn): Promise<unknown> }).transaction(fn)
}

/** A statement made now and run only when awaited, on the stacks whose queries are lazy. */
function lazyOf(stack: Stack, db: unknown, text: string): PromiseLike<unknown> | undefined {
  if (stack.name === 'postgres-js') return (db as { unsafe(t: string): PromiseLike<unknown> }).unsafe(text)
  if (stack.name.startsWith('drizzle')) return (db as { execute(q: unknown): PromiseLike<unknown> }).execute(dsql.raw(text))
  return undefined
}

/** The stacks whose manager has scoped() (this part of issue 12). */
const SCOPED = ['drizzle', 'pg', 'pglite', 'kysely-pg', 'kysely-pglite', 'kysely-postgres-js', 'postgres-js', 'drizzle-postgres-js', 'prisma']

const rowsOf = (result: unknown): Row[] => (Array.isArray(result) ? (result as Row[]) : (result as { rows: Row[] }).rows)

for (const factory of targets()) {
  describe(`scoped() on ${factory.name}`, () => {
    let target: Target | undefined
    beforeAll(async () => {
      target = await factory.create()
    })
    afterAll(async () => {
      await target?.close()
    })
    const strategies: Strategy[] = factory.name === 'pgbouncer' ? ['setting'] : ['setting', 'role']
    for (const stack of STACKS.filter((st) => SCOPED.includes(st.name) && st.supports(factory.name))) {
      for (const strategy of strategies) {
        describe(`${stack.name}, ${strategy} strategy`, () => {
          body(() => target as Target, stack, strategy)
        })
      }
    }
  })
}

function body(target: () => Target, stack: Stack, strategy: Strategy): void {
  let w: World
  let db: unknown
  const items = () => `"${w.schema}".items`
  const q = (sql: string, params: readonly unknown[] = []) => w.s.query(db, sql, params)

  beforeAll(async () => {
    w = await createWorld(target(), stack, strategy)
    db = w.s.manager.scoped()
    await w.s.manager.createTenant('sa')
    await w.s.manager.createTenant('sb')
  })
  afterAll(async () => {
    try {
      await w?.s.end()
    } finally {
      await w?.cleanup()
    }
  })

  it('runs each statement in its own scope for the tenant in context: reads and writes isolated', async () => {
    await runWithTenant('sa', () => q(`INSERT INTO ${items()} (tenant, title) VALUES ('sa', 'a1')`))
    await runWithTenant('sb', () => q(`INSERT INTO ${items()} (tenant, title) VALUES ('sb', 'b1')`))
    const [a, b] = await Promise.all([
      runWithTenant('sa', () => q(`SELECT tenant, title FROM ${items()}`)),
      runWithTenant('sb', () => q(`SELECT tenant, title FROM ${items()}`)),
    ])
    expect(a).toEqual([{ tenant: 'sa', title: 'a1' }])
    expect(b).toEqual([{ tenant: 'sb', title: 'b1' }])
    expect(codeOf(await rejection(runWithTenant('sa', () => q(`INSERT INTO ${items()} (tenant, title) VALUES ('sb', 'planted')`))))).toBe('42501')
    expect(await runWithTenant('sa', () => q(`SELECT current_user::text AS role, coalesce(current_setting('pg_tenants.tenant', true), '') AS t`))).toEqual([
      { role: strategy === 'role' ? `${w.options.rolePrefix}sa` : w.options.tenantRole, t: strategy === 'role' ? '' : 'sa' },
    ])
  })

  it('without a tenant in context throws NO_TENANT_CONTEXT and sends nothing; a nested runWithTenant replaces it for its fn only', async () => {
    const before = w.connects()
    expect(codeOf(await rejection(q('SELECT 1')))).toBe('NO_TENANT_CONTEXT')
    expect(codeOf(await rejection(transactionOf(stack, db, () => q('SELECT 1'))))).toBe('NO_TENANT_CONTEXT')
    expect(w.connects()).toBe(before)
    const seen = await runWithTenant('sa', async () => {
      const inner = await runWithTenant('sb', () => q(`SELECT title FROM ${items()}`))
      return [inner, await q(`SELECT title FROM ${items()}`)]
    })
    expect(seen).toEqual([[{ title: 'b1' }], [{ title: 'a1' }]])
  })

  it('a timer started in a context that fires after it ended runs nothing', async () => {
    let late: Promise<unknown> | undefined
    await runWithTenant('sa', () => {
      late = new Promise((resolve) => setTimeout(() => resolve(q(`SELECT title FROM ${items()}`).catch((e: unknown) => e)), 20))
    })
    const before = w.connects()
    expect(codeOf(await late)).toBe('NO_TENANT_CONTEXT')
    expect(w.connects()).toBe(before)
  })

  it('a lazy query made in one context runs for the tenant in context when it executes', async () => {
    const made = runWithTenant('sa', () => ({ query: lazyOf(stack, db, `SELECT title FROM ${items()}`) }))
    const { query } = await made
    if (query === undefined) return // eager on this stack: the tenant is read when it is called
    expect(rowsOf(await runWithTenant('sb', async () => query))).toEqual([{ title: 'b1' }])
    expect(codeOf(await rejection(lazyOf(stack, db, 'SELECT 1') as PromiseLike<unknown>))).toBe('NO_TENANT_CONTEXT')
  })

  it.runIf(stack.name === 'postgres-js')('postgres.js: fragments and helpers of the handle compose; what outlives a statement is refused', async () => {
    const sql = db as ((...args: unknown[]) => PromiseLike<Row[]>) & Record<string, (...args: unknown[]) => unknown>
    const rows = await runWithTenant('sa', () => sql`SELECT ${sql(['title'])} FROM ${sql(`${w.schema}.items`)} WHERE ${sql`title = ${'a1'}`}`)
    expect([...rows]).toEqual([{ title: 'a1' }])
    const values = await runWithTenant('sb', () =>
      (sql`SELECT title FROM ${sql(`${w.schema}.items`)}` as unknown as { values(): PromiseLike<unknown> }).values(),
    )
    expect([...(values as unknown[])]).toEqual([['b1']])
    for (const member of ['reserve', 'listen', 'savepoint', 'file', 'notify']) expect(() => sql[member]?.()).toThrow(/not available on a scoped handle/)
    expect(() => (sql`SELECT 1` as unknown as { cursor(): unknown }).cursor()).toThrow(/one scoped transaction/)
  })

  it.runIf(stack.name === 'pg')('pg: a callback or a submittable (a cursor, a stream) is refused: it would read after its scope', async () => {
    const pgDb = db as { query(...args: unknown[]): Promise<unknown> }
    const before = w.connects()
    expect(codeOf(await rejection(runWithTenant('sa', () => pgDb.query('SELECT 1', [], () => undefined))))).toBe('UNSUPPORTED_OPERATION')
    expect(codeOf(await rejection(runWithTenant('sa', () => pgDb.query({ text: 'SELECT 1', submit: () => undefined }))))).toBe('UNSUPPORTED_OPERATION')
    expect(w.connects()).toBe(before)
  })

  it('transaction runs its work in one scoped transaction, rolled back when it throws', async () => {
    await runWithTenant('sa', () =>
      transactionOf(stack, db, async (tx) => {
        await w.s.query(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('sa', 't1')`)
        await w.s.query(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('sa', 't2')`)
      }),
    )
    const failed = await rejection(
      runWithTenant('sa', () =>
        transactionOf(stack, db, async (tx) => {
          await w.s.query(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('sa', 't3')`)
          throw new Error('undo')
        }),
      ),
    )
    expect((failed as Error).message).toBe('undo')
    expect(await runWithTenant('sa', () => q(`SELECT title FROM ${items()} WHERE title LIKE 't%' ORDER BY title`))).toEqual([{ title: 't1' }, { title: 't2' }])
    expect(await runWithTenant('sb', () => q(`SELECT title FROM ${items()} WHERE title LIKE 't%'`))).toEqual([])
  })

  it('holds no connection between statements: on a pool of one, another context runs while this one waits', async () => {
    const order: string[] = []
    await Promise.all([
      runWithTenant('sa', async () => {
        await q('SELECT 1')
        await sleep(50)
        order.push('a waited')
        await q('SELECT 1')
      }),
      runWithTenant('sb', async () => {
        await sleep(5)
        await q('SELECT 1')
        order.push('b ran')
      }),
    ])
    expect(order).toEqual(['b ran', 'a waited'])
  })

  it('keeps 16 concurrent contexts over 4 tenants apart', async () => {
    const tenants = ['sc0', 'sc1', 'sc2', 'sc3']
    const seen = await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const t = tenants[i % 4] as string
        return runWithTenant(t, async () => {
          await q(`INSERT INTO ${items()} (tenant, title) VALUES ($1, 'c')`, [t])
          await sleep(i % 3)
          return q(`SELECT DISTINCT tenant FROM ${items()}`)
        })
      }),
    )
    seen.forEach((rows, i) => expect(rows).toEqual([{ tenant: tenants[i % 4] }]))
  })

  it('a failed statement, or a COMMIT sent through the handle, leaves the pool clean and the next statement scoped', async () => {
    expect(codeOf(await rejection(runWithTenant('sa', () => q('SELECT 1/0'))))).toBe('22012')
    expect(codeOf(await rejection(runWithTenant('sa', () => q('COMMIT'))))).toBe('UNSUPPORTED_OPERATION')
    await runWithTenant('sa', () => q(`SELECT set_config('pg_tenants.tenant', 'sb', false)`))
    await w.login.activate()
    const [outside] = await w.s.outside(
      `SELECT current_user::text AS role, coalesce(current_setting('pg_tenants.tenant', true), '') AS t, (SELECT count(*)::int FROM ${items()}) AS n`,
    )
    expect(outside).toEqual({ role: `pgsc_owner_${w.schema.slice('pgsc_'.length)}`, t: '', n: 0 })
    expect(await runWithTenant('sb', () => q(`SELECT title FROM ${items()} WHERE title = 'b1'`))).toEqual([{ title: 'b1' }])
  })

  it('a scoped statement inside a scope is refused at once (NESTED_SCOPE), not left waiting for the pool', async () => {
    const error = await rejection(w.s.manager.withTenant('sa', () => runWithTenant('sa', () => q('SELECT 1'))))
    expect(codeOf(error)).toBe('NESTED_SCOPE')
  })

  it.runIf(stack.name === 'pg' || stack.name === 'pglite')(
    'forEachTenant runs each tenant in its own scope, goes on past a failure, reports it, and stays within its concurrency',
    async () => {
      const m = w.s.manager as unknown as { withTenant: (...args: unknown[]) => Promise<unknown> }
      const withTenant = m.withTenant.bind(m)
      let running = 0
      let most = 0
      m.withTenant = async (...args) => {
        most = Math.max(most, ++running)
        try {
          return await withTenant(...args)
        } finally {
          running--
        }
      }
      const progress: string[] = []
      let result: Awaited<ReturnType<typeof w.s.manager.forEachTenant<unknown[]>>>
      try {
        result = await w.s.manager.forEachTenant(
          async (tx, tenant) => {
            if (tenant === 'sb') await w.s.query(tx, 'SELECT 1/0')
            return (await w.s.query(tx, `SELECT DISTINCT tenant FROM ${items()}`)).map((r) => r['tenant'])
          },
          { concurrency: 2, onProgress: (done, total) => progress.push(`${done}/${total}`) },
        )
      } finally {
        delete (m as { withTenant?: unknown }).withTenant
      }
      const tenants = [...(await w.s.manager.listTenants())].sort()
      expect(result.ok.map((o) => o.tenant)).toEqual(tenants.filter((t) => t !== 'sb'))
      for (const { tenant, value } of result.ok) expect(value).toEqual([tenant])
      expect(result.failed.map((f) => [f.tenant, codeOf(f.error)])).toEqual([['sb', '22012']])
      expect(progress).toEqual(tenants.map((_, i) => `${i + 1}/${tenants.length}`))
      expect(most).toBe(2)
      expect(codeOf(await rejection(w.s.manager.forEachTenant(async () => undefined, { concurrency: 0 })))).toBe('INVALID_OPTIONS')
      const stop = await rejection(
        w.s.manager.forEachTenant(async () => undefined, {
          onProgress: () => {
            throw new Error('stop')
          },
        }),
      )
      expect((stop as Error).message).toBe('stop')
    },
  )

  it('goes red when the protection is broken: without FORCE the owner, outside a scope, reads every row', async () => {
    await w.login.activate()
    await w.s.outside(`ALTER TABLE ${items()} NO FORCE ROW LEVEL SECURITY`)
    try {
      const rows = await w.s.outside(`SELECT DISTINCT tenant FROM ${items()} ORDER BY tenant`)
      expect(rows.length).toBeGreaterThan(1)
    } finally {
      await w.s.outside(`ALTER TABLE ${items()} FORCE ROW LEVEL SECURITY`)
    }
  })
}
