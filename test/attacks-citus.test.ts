/**
 * Attacks on Citus mode (docs/scale-out.md) through the public API, on a coordinator with workers:
 * what a scope leaves on the worker connections Citus caches between scopes of different tenants,
 * a tenant deleted while its scope opens, many connections per worker, savepoints, tenant ids
 * that stress the DO block, and what one tenant's scope can see of another's SQL on the workers.
 * Runs when CITUS_URL names a coordinator as a superuser (whose workers accept the same logins
 * on loopback); skipped otherwise.
 *
 * The red tests are defects of the current code; `it.fails` marks one the library cannot fix by
 * itself (it says why). The others are attacks that held, each able to fail: they go red when the
 * tenant setting does not reach every worker connection (checked by hand, by leaving out the
 * `SET LOCAL citus.propagate_set_commands` of the scope in a scratch copy).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrationStatements, type TableSpec } from '../src/core/migration.js'
import type { Strategy } from '../src/core/options.js'
import { fromPg, type PostgresManager } from '../src/pg/index.js'
import { uniqueSuffix } from './support/targets.js'
import { as, CITUS_SKIPPED, citusLogin, citusUrl, dropCitusWorld, withClient } from './support/citus.js'

const tally = (rows: Record<string, unknown>[]) => rows.map((r) => `${String(r['tenant'])}:${String(r['n'])}`).join(',')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface World {
  readonly schema: string
  readonly login: string
  readonly options: { strategy: Strategy; citus: true; schema: string; tenantRole: string; adminRole: string; rolePrefix: string }
  readonly tables: { schema: string; name: string; type: 'text' }[]
  /** One connection: every scope on the same coordinator session, so on the same cached
   * worker connections. */
  readonly app: pg.Pool
  readonly manager: PostgresManager
  readonly items: string
  readonly notes: string
}

/** A login owning a schema with two co-located distributed tables, migrated in Citus mode one
 * statement at a time (as test/citus.test.ts builds it), acme and globex with 20 items each. */
async function makeWorld(url: string, strategy: Strategy): Promise<World> {
  const id = `${strategy[0]}${uniqueSuffix()}`
  const { schema, login, options: names } = await citusLogin(url, 'pgtca', id, strategy)
  const options = names
  const items = `${schema}.items`
  const notes = `${schema}.notes`
  const specs: TableSpec[] = [
    { schema, name: 'items', column: 'tenant', type: 'text' },
    { schema, name: 'notes', column: 'tenant', type: 'text' },
  ]
  const tables = specs.map((s) => ({ schema: s.schema, name: s.name, type: 'text' as const }))
  const app = new pg.Pool({ connectionString: as(url, login), max: 1 })
  const manager = fromPg(app, { ...options, tables })
  const world = { schema, login, options, tables, app, manager, items, notes }
  try {
    await build(url, world, specs)
  } catch (error) {
    await dropCitusWorld(url, world) // a half-built world leaves nothing behind
    throw error
  }
  return world
}

async function build(url: string, { login, options, manager, items, notes }: World, specs: TableSpec[]): Promise<void> {
  await withClient(as(url, login), async (c) => {
    await c.query(`CREATE TABLE ${items} (tenant text NOT NULL, id bigserial, title text NOT NULL, PRIMARY KEY (tenant, id))`)
    await c.query(`CREATE TABLE ${notes} (tenant text NOT NULL, id bigserial, body text NOT NULL, PRIMARY KEY (tenant, id))`)
    // Other tests distribute tables at the same time: Citus may refuse the co-location lock.
    const distribute = async (sql: string, params: string[]) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await c.query(sql, params)
        } catch (error) {
          if (attempt >= 10 || !/could not acquire the lock/.test(String((error as Error).message))) throw error
          await sleep(500)
        }
      }
    }
    await distribute(`SELECT create_distributed_table($1, 'tenant')`, [items])
    await distribute(`SELECT create_distributed_table($1, 'tenant', colocate_with => $2)`, [notes, items])
    await c.query('BEGIN')
    for (const statement of migrationStatements(specs, options).up) await c.query(statement)
    await c.query('COMMIT')
  })
  for (const tenant of ['acme', 'globex']) await manager.createTenant(tenant)
  // Seeded by the admin scope: the tenant scopes are what the tests attack.
  await manager.withAdmin(async (tx) => {
    for (const tenant of ['acme', 'globex']) {
      const values = Array.from({ length: 20 }, (_, i) => `($1, 'item ${i + 1}')`).join(', ')
      await tx.query(`INSERT INTO ${items} (tenant, title) VALUES ${values}`, [tenant])
      await tx.query(`INSERT INTO ${notes} (tenant, body) VALUES ($1, 'note')`, [tenant])
    }
  })
}

/** The workers' ports. */
async function workerPorts(url: string): Promise<number[]> {
  return withClient(url, async (su) => {
    const { rows } = await su.query<{ nodeport: number }>(`SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive ORDER BY nodeport`)
    return rows.map((r) => r.nodeport)
  })
}

describe.skipIf(!citusUrl)(citusUrl ? 'Citus attacks, setting strategy' : `Citus attacks, setting strategy ${CITUS_SKIPPED}`, () => {
  const url = citusUrl!
  let world: World | undefined
  const w = () => world!

  beforeAll(async () => {
    world = await makeWorld(url, 'setting')
  }, 180_000)
  afterAll(() => dropCitusWorld(url, world), 60_000)

  it('held: one connection per shard (32 per table, up to the pool size per worker) each gets the tenant', async () => {
    const seen = await w().manager.withTenant('acme', async (tx) => {
      await tx.query('SET LOCAL citus.force_max_query_parallelization = on')
      await tx.query('SET LOCAL citus.max_adaptive_executor_pool_size = 32')
      const counts = await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)
      // What each worker connection has as its tenant, read on the shards themselves.
      const values = await tx.query(`SELECT DISTINCT current_setting('pg_tenants.tenant', true) AS v FROM ${w().items}`)
      const joined = await tx.query(`SELECT i.tenant, count(*)::int AS n FROM ${w().items} i JOIN ${w().notes} n USING (tenant) GROUP BY 1`)
      return { counts: tally(counts.rows), values: values.rows, joined: tally(joined.rows) }
    })
    expect(seen).toEqual({ counts: 'acme:20', values: [{ v: 'acme' }], joined: 'acme:20' })
  })

  it('held: connections opened inside a savepoint, then ROLLBACK TO SAVEPOINT, keep the tenant; writes for another tenant stay refused', async () => {
    const seen = await w().manager.withTenant('globex', async (tx) => {
      await tx.query('SAVEPOINT a')
      await tx.query('SET LOCAL citus.force_max_query_parallelization = on')
      await tx.query(`SELECT count(*) FROM ${w().items}`)
      await tx.query('ROLLBACK TO SAVEPOINT a')
      await tx.query('SAVEPOINT b')
      await tx.query('SET LOCAL citus.max_adaptive_executor_pool_size = 32')
      await tx.query('SET LOCAL citus.force_max_query_parallelization = on')
      const counts = tally((await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)).rows)
      await tx.query('RELEASE SAVEPOINT b')
      const after = tally((await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().notes} GROUP BY 1`)).rows)
      await tx.query('SAVEPOINT c')
      const planted = await tx.query(`INSERT INTO ${w().items} (tenant, title) VALUES ('acme', 'planted')`).then(
        () => 'inserted',
        (e: { code?: string }) => e.code,
      )
      await tx.query('ROLLBACK TO SAVEPOINT c')
      return { counts, after, planted }
    })
    expect(seen).toEqual({ counts: 'globex:20', after: 'globex:1', planted: '42501' })
  })

  it('held: repartition joins, write CTEs, INSERT … SELECT pushed down and sub-plans pulled to the coordinator stay within the tenant', async () => {
    const seen = await w()
      .manager.withTenant('acme', async (tx) => {
        await tx.query('SET LOCAL citus.enable_repartition_joins = on')
        const repartition = tally(
          (await tx.query(`SELECT i.tenant, count(*)::int AS n FROM ${w().items} i JOIN ${w().notes} n ON n.id = i.id GROUP BY 1`)).rows,
        )
        const cte = tally(
          (await tx.query(`WITH d AS (UPDATE ${w().items} SET title = title RETURNING tenant) SELECT tenant, count(*)::int AS n FROM d GROUP BY 1`)).rows,
        )
        const pulled = tally(
          (await tx.query(`WITH x AS (SELECT * FROM ${w().items} ORDER BY id LIMIT 100) SELECT tenant, count(*)::int AS n FROM x GROUP BY 1`)).rows,
        )
        // Co-located INSERT … SELECT runs on the shards (not as a COPY): it reads own rows only.
        const copied = tally(
          (
            await tx.query(
              `WITH c AS (INSERT INTO ${w().notes} (tenant, body) SELECT tenant, title FROM ${w().items} RETURNING tenant) SELECT tenant, count(*)::int AS n FROM c GROUP BY 1`,
            )
          ).rows,
        )
        throw Object.assign(new Error('roll back'), { seen: { repartition, cte, pulled, copied } })
      })
      .catch((e: { seen?: unknown }) => e.seen)
    // The repartition join matches ids across the co-located tables: acme's one note has an id
    // of acme's (or none); it is acme's either way.
    expect(seen).toMatchObject({ cte: 'acme:20', pulled: 'acme:20', copied: 'acme:20' })
    expect((seen as { repartition: string }).repartition).toMatch(/^(acme:\d+)?$/)
  })

  it('held: tenant ids with $pgt$, quotes, backslashes, semicolons, newlines and 1000 bytes reach every worker as themselves', async () => {
    const ids = [
      `$pgt$'; SET LOCAL pg_tenants.tenant = 'acme'; --`,
      `o'bri\\en "x"; $pgt1$ $$`,
      `line\nbreak -- /* x`,
      `${'é'.repeat(450)}$pgt`,
      'x'.repeat(1000),
    ]
    for (const id of ids) {
      const seen = await w().manager.withTenant(id, async (tx) => {
        await tx.query(`INSERT INTO ${w().items} (tenant, title) VALUES ($1, 'odd')`, [tx.tenant])
        await tx.query('SET LOCAL citus.force_max_query_parallelization = on')
        const values = await tx.query<{ v: string }>(`SELECT DISTINCT current_setting('pg_tenants.tenant', true) AS v FROM ${w().items}`)
        const tenants = await tx.query<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${w().items}`)
        return { values: values.rows.map((r) => r.v), tenants: tenants.rows.map((r) => r.tenant) }
      })
      expect(seen).toEqual({ values: [id], tenants: [id] })
    }
    const left = await w().manager.withAdmin(async (tx) => (await tx.query(`DELETE FROM ${w().items} WHERE title = 'odd'`)).rowCount)
    expect(left).toBe(ids.length)
  })

  // DEFECT (low): the Citus checked scope is two reads of the registry (`SELECT 1 AS
  // pg_tenants_found …` and the DO block's `IF EXISTS`), each with its own snapshot in READ
  // COMMITTED: a tenant deleted between them opens a scope with no tenant set, on the coordinator
  // nor on the workers (and without citus.propagate_set_commands). Alone it is fail-closed; with a
  // session-level tenant left on a worker connection (the test above) that scope reads it.
  it('a checked scope for a tenant deleted while it opens either does not open or is that tenant: it never reads what a worker connection was left with', async () => {
    const scopeOnly = { createIfMissing: false } // the checked path in every scope
    await w()
      .manager.createTenant('racer')
      .catch(() => undefined)
    // acme's rows are on one worker; leave 'acme' on the cached worker connection there.
    await w().manager.withTenant('acme', (tx) =>
      tx.query(`SELECT set_config('pg_tenants.tenant', $1, false) FROM ${w().items} WHERE tenant = $1 LIMIT 1`, [tx.tenant]),
    )
    const churn = new pg.Client({ connectionString: as(url, w().login) })
    await churn.connect()
    const registry = `${w().schema}.tenant_registry`
    let stop = false
    const churning = (async () => {
      while (!stop) {
        await churn.query(`DELETE FROM ${registry} WHERE id = 'racer'`)
        await churn.query(`INSERT INTO ${registry} (id) VALUES ('racer') ON CONFLICT DO NOTHING`)
      }
    })()
    let opened = 0
    let unset = 0
    let foreign = ''
    const start = Date.now()
    try {
      while (Date.now() - start < 8000 && foreign === '') {
        const seen = await w()
          .manager.withTenant(
            'racer',
            async (tx) => {
              const setting = (await tx.query<{ v: string }>(`SELECT coalesce(current_setting('pg_tenants.tenant', true), '') AS v`)).rows[0]!.v
              const rows = tally((await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)).rows)
              return { setting, rows }
            },
            scopeOnly,
          )
          .catch(() => undefined) // TENANT_NOT_FOUND: deleted before the scope's check, fine
        if (seen === undefined) continue
        opened++
        if (seen.setting !== 'racer') unset++
        if (seen.rows !== '') foreign = seen.rows
      }
    } finally {
      stop = true
      await churning.catch(() => undefined)
      await churn.end()
    }
    expect(opened).toBeGreaterThan(0)
    expect({ unset, foreign }).toEqual({ unset: 0, foreign: '' })
  }, 30_000)

  // KNOWN LIMIT (docs/scale-out.md, "Worker connections are Citus's"): SESSION_RESET releases
  // session advisory locks on the coordinator only; one taken in a query Citus pushes down is held
  // by the cached worker connection after the scope, and reaches the next scope of any tenant on
  // that coordinator connection. The one fix inside a scope, `SET LOCAL
  // citus.max_cached_conns_per_worker = 0`, opens new worker connections for every scope: measured
  // 1,440-1,512 µs a routed transaction with the cache, 16,472-20,781 µs without (/tmp/exp4.cjs).
  it.fails('a session advisory lock taken in a pushed-down query does not outlive the scope on the workers', async () => {
    const key = 7_000_000 + Math.floor(Math.random() * 1_000_000)
    const taken = await w().manager.withTenant(
      'acme',
      async (tx) =>
        (await tx.query<{ l: boolean }>(`SELECT pg_try_advisory_lock($2::bigint) AS l FROM ${w().items} WHERE tenant = $1 LIMIT 1`, [tx.tenant, key])).rows,
    )
    expect(taken).toEqual([{ l: true }])
    let held = 0
    for (const port of await workerPorts(url)) {
      held += await withClient(as(url, 'postgres', port), async (su) =>
        Number(
          (
            await su.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE l.locktype = 'advisory' AND l.objid = $1::bigint::oid AND a.usename = $2`,
              [key, w().options.tenantRole],
            )
          ).rows[0]!.n,
        ),
      )
    }
    expect(held).toBe(0)
  })

  // DEFECT (medium), not fixable by the library alone: every tenant's worker connections log in
  // as the one tenant role, and PostgreSQL shows a role the query text of its own backends. So a
  // scope reads, on the workers, the SQL other tenants' scopes are running there, literals
  // included (citus_stat_activity, or pg_stat_get_backend_activity in a pushed-down query). On a
  // single server the backends are the login's, hidden from the tenant role. Only a superuser
  // can stop it (ALTER ROLE <tenant role> SET track_activities = off, propagated to the workers):
  // docs/scale-out.md says so, check reports it (CITUS_ACTIVITY_VISIBLE), and test/citus.test.ts
  // shows the setting hides the text; this world leaves it unset, as a new setup would.
  it.fails("a tenant's scope cannot read the SQL another tenant's scope runs on the workers", async () => {
    const app = new pg.Pool({ connectionString: as(url, w().login), max: 2 })
    const other = fromPg(app, { ...w().options, tables: w().tables })
    const marker = `secret-${uniqueSuffix()}`
    try {
      const slow = other.withTenant('globex', (tx) =>
        // Routed to globex's shard, whole: the worker sleeps, whatever rows it sees.
        tx.query(`SELECT pg_sleep(1.5), count(*) FROM ${w().items} WHERE tenant = 'globex' AND title <> '${marker}'`),
      )
      let seen: unknown[] = []
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        await sleep(100)
        seen = await w().manager.withTenant(
          'acme',
          async (tx) =>
            (await tx.query(`SELECT usename, query FROM citus_stat_activity WHERE query LIKE $1 AND query NOT LIKE '%citus_stat_activity%'`, [`%${marker}%`]))
              .rows,
        )
      }
      await slow
      expect(seen).toEqual([])
    } finally {
      await app.end()
    }
  })
})

describe.skipIf(!citusUrl)(citusUrl ? 'Citus attacks, role strategy' : `Citus attacks, role strategy ${CITUS_SKIPPED}`, () => {
  const url = citusUrl!
  let world: World | undefined
  const w = () => world!

  beforeAll(async () => {
    world = await makeWorld(url, 'role')
  }, 180_000)
  afterAll(() => dropCitusWorld(url, world), 60_000)

  it('held: each tenant logs in to the workers as its own role, on every connection, and reads its own rows only', async () => {
    for (const tenant of ['acme', 'globex']) {
      const seen = await w().manager.withTenant(tenant, async (tx) => {
        await tx.query('SET LOCAL citus.force_max_query_parallelization = on')
        const users = await tx.query(`SELECT DISTINCT current_user::text AS u, session_user::text AS s FROM ${w().items}`)
        return { users: users.rows, counts: tally((await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)).rows) }
      })
      const role = w().options.rolePrefix + tenant
      expect(seen).toEqual({ users: [{ u: role, s: role }], counts: `${tenant}:20` })
    }
  })

  it("held: a tenant's scope does not see the SQL another tenant's scope runs on the workers (each its own worker login)", async () => {
    const app = new pg.Pool({ connectionString: as(url, w().login), max: 2 })
    const other = fromPg(app, { ...w().options, tables: w().tables })
    const marker = `secret-${uniqueSuffix()}`
    try {
      const slow = other.withTenant('globex', (tx) =>
        // Routed to globex's shard, whole: the worker sleeps, whatever rows it sees.
        tx.query(`SELECT pg_sleep(1.5), count(*) FROM ${w().items} WHERE tenant = 'globex' AND title <> '${marker}'`),
      )
      // The control: a superuser sees the query, or this test proves nothing.
      let control: unknown[] = []
      const seen: unknown[] = []
      for (let i = 0; i < 20 && control.length === 0; i++) {
        await sleep(100)
        seen.push(
          ...(await w().manager.withTenant(
            'acme',
            async (tx) =>
              (
                await tx.query<{ query: string }>(`SELECT query FROM citus_stat_activity WHERE query LIKE $1 AND query NOT LIKE '%citus_stat_activity%'`, [
                  `%${marker}%`,
                ])
              ).rows,
          )),
        )
        control = await withClient(
          url,
          async (su) =>
            (
              await su.query<{ query: string }>(`SELECT query FROM citus_stat_activity WHERE query LIKE $1 AND query NOT LIKE '%citus_stat_activity%'`, [
                `%${marker}%`,
              ])
            ).rows,
        )
      }
      await slow
      expect(control.length).toBeGreaterThan(0)
      expect(seen).toEqual([])
    } finally {
      await app.end()
    }
  })
})
