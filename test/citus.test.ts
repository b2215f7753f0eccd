/**
 * Tenant tables distributed on Citus (docs/scale-out.md), both strategies, on a coordinator with
 * workers: the migration applies one statement at a time (tables distributed before it and after
 * it), scopes isolate (reads, own writes, cross-tenant writes rejected), the owner login outside
 * any scope sees nothing on the coordinator nor on the shards on the workers, routed queries go
 * to one shard, sessions reopen, and a moved shard keeps all of it. Runs when CITUS_URL names a
 * coordinator as a superuser (whose workers accept the same login on loopback); skipped otherwise.
 *
 * The tests that prove the protection can fail break it by hand: FORCE off on the shards, and the
 * migration without Citus mode (Citus re-creates the RESTRICTIVE policy as PERMISSIVE there).
 */
import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { bigserial, pgSchema, primaryKey, text } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrationStatements, tableStatements, type TableSpec } from '../src/core/migration.js'
import { resolveOptions, type Strategy } from '../src/core/options.js'
import { createPolicySql, dropPolicySql, tenantPolicies } from '../src/core/policy.js'
import { fromDrizzle, tenantFilter, withRls } from '../src/drizzle/index.js'
import { fromPg, type PostgresManager } from '../src/pg/index.js'
import { assertTenantIsolation } from '../src/testing/index.js'
import { uniqueSuffix } from './support/targets.js'
import { applyOneByOne, as, CITUS_SKIPPED, citusLogin, citusUrl, dropCitusWorld, withClient } from './support/citus.js'

interface World {
  readonly strategy: Strategy
  readonly schema: string
  readonly login: string
  readonly options: {
    strategy: Strategy
    citus: true
    schema: string
    tenantRole: string
    adminRole: string
    rolePrefix: string
    sharedTables: Record<string, 'read'>
  }
  readonly app: pg.Pool
  readonly manager: PostgresManager
  readonly items: string
  readonly notes: string
}

/** A login owning a schema with two distributed tables, migrated in Citus mode: `items`
 * distributed before the migration, `notes` after it. */
async function makeWorld(url: string, strategy: Strategy): Promise<World> {
  const id = `${strategy[0]}${uniqueSuffix()}`
  const { schema, login, options: names } = await citusLogin(url, 'pgtc', id, strategy)
  const options = {
    ...names,
    // A reference table (a copy on every node) that every tenant reads.
    sharedTables: { plans: 'read' as const },
  }
  const items = `${schema}.items`
  const notes = `${schema}.notes`
  const specs: TableSpec[] = [
    { schema, name: 'items', column: 'tenant', type: 'text' },
    { schema, name: 'notes', column: 'tenant', type: 'text' },
  ]
  await withClient(as(url, login), async (c) => {
    await c.query(`CREATE TABLE ${items} (tenant text NOT NULL, id bigserial, title text NOT NULL, PRIMARY KEY (tenant, id))`)
    await c.query(`CREATE TABLE ${notes} (tenant text NOT NULL, id bigserial, body text NOT NULL, PRIMARY KEY (tenant, id))`)
    await c.query(`SELECT create_distributed_table($1, 'tenant')`, [items])
    await c.query(`CREATE TABLE ${schema}.plans (name text PRIMARY KEY, seats int NOT NULL)`)
    await c.query(`INSERT INTO ${schema}.plans VALUES ('free', 1), ('team', 10)`)
    await c.query(`SELECT create_reference_table($1)`, [`${schema}.plans`])
  })
  await applyOneByOne(as(url, login), migrationStatements(specs, options).up)
  await withClient(as(url, login), (c) => c.query(`SELECT create_distributed_table($1, 'tenant', colocate_with => $2)`, [notes, items]))
  // The superuser's one step of docs/scale-out.md: other tenants' SQL text hidden on the workers.
  await withClient(url, (su) => su.query(`ALTER ROLE "${options.tenantRole}" SET track_activities = off`))
  const app = new pg.Pool({ connectionString: as(url, login), max: 4 })
  const manager = fromPg(app, { ...options, tables: specs.map((s) => ({ schema: s.schema, name: s.name, type: s.type })) })
  return { strategy, schema, login, options, app, manager, items, notes }
}

/** The workers' ports and the shards of `table`, with where each placement is. */
async function placements(url: string, table: string): Promise<{ shard: string; port: number; name: string }[]> {
  return withClient(url, async (su) => {
    const { rows } = await su.query<{ shardid: string; nodeport: number; shard_name: string }>(
      `SELECT shardid::text, nodeport, shard_name::text FROM citus_shards WHERE table_name = $1::regclass ORDER BY shardid`,
      [table],
    )
    return rows.map((r) => ({ shard: r.shardid, port: r.nodeport, name: r.shard_name }))
  })
}

/** Rows of every shard of `table` as `user`, read on the workers directly, outside any scope. */
async function rowsOnWorkers(url: string, table: string, user: string): Promise<number> {
  let total = 0
  for (const p of await placements(url, table)) {
    total += await withClient(as(url, user, p.port), async (c) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${p.name}`)).rows[0]!.n))
  }
  return total
}

const taskCount = (plan: { rows: Record<string, unknown>[] }) => {
  const text = plan.rows.map((r) => String(r['QUERY PLAN'])).join('\n')
  return Number(/Task Count: (\d+)/.exec(text)?.[1])
}

describe.skipIf(!citusUrl).each(['setting', 'role'] as const)(citusUrl ? 'Citus, %s strategy' : `Citus, %s strategy ${CITUS_SKIPPED}`, (strategy) => {
  const url = citusUrl!
  let world: World | undefined
  const w = () => world!

  beforeAll(async () => {
    world = await makeWorld(url, strategy)
    for (const tenant of ['acme', 'globex']) {
      await w().manager.withTenant(tenant, async (tx) => {
        // VALUES, not INSERT … SELECT: Citus runs the latter as a COPY, which PostgreSQL refuses
        // under row level security.
        const values = Array.from({ length: 20 }, (_, i) => `($1, 'item ${i + 1}')`).join(', ')
        await tx.query(`INSERT INTO ${w().items} (tenant, title) VALUES ${values}`, [tx.tenant])
        await tx.query(`INSERT INTO ${w().notes} (tenant, body) VALUES ($1, 'note')`, [tx.tenant])
      })
    }
  }, 120_000)
  afterAll(() => dropCitusWorld(url, world), 60_000)

  it('put RLS, FORCE and the three policies, PERMISSIVE, on every shard of both tables', async () => {
    for (const table of [w().items, w().notes]) {
      const shards = await withClient(url, (su) =>
        su.query<{ result: string; success: boolean }>(
          `SELECT success, result FROM run_command_on_shards($1, $cmd$SELECT relrowsecurity::text || relforcerowsecurity::text || ':' ||
               (SELECT string_agg(polname || '=' || polpermissive, ',' ORDER BY polname) FROM pg_policy WHERE polrelid = '%1$s'::regclass)
               FROM pg_class WHERE oid = '%1$s'::regclass$cmd$)`,
          [table],
        ),
      )
      expect(shards.rows.length).toBeGreaterThan(1)
      for (const row of shards.rows) {
        expect(row).toEqual({ success: true, result: 'truetrue:pg_tenants_access=true,pg_tenants_admin=true,pg_tenants_isolation=true' })
      }
    }
  })

  it('scopes read only their tenant, on every shard', async () => {
    const seen = await w().manager.withTenant('acme', async (tx) => (await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)).rows)
    expect(seen).toEqual([{ tenant: 'acme', n: 20 }])
    const notes = await w().manager.withTenant('globex', async (tx) => (await tx.query(`SELECT tenant FROM ${w().notes}`)).rows)
    expect(notes).toEqual([{ tenant: 'globex' }])
    // A join of the co-located tables runs on the shards, as the tenant.
    const joined = await w().manager.withTenant(
      'acme',
      async (tx) => (await tx.query(`SELECT count(*)::int AS n FROM ${w().items} i JOIN ${w().notes} n USING (tenant)`)).rows,
    )
    expect(joined).toEqual([{ n: 20 }])
  })

  it('a shared reference table is read by every tenant, joined on the shards, and written by none', async () => {
    const joined = await w().manager.withTenant(
      'acme',
      async (tx) =>
        (
          await tx.query(`SELECT p.name, count(*)::int AS n FROM ${w().items} i JOIN ${w().schema}.plans p ON p.name = 'team' WHERE i.tenant = $1 GROUP BY 1`, [
            tx.tenant,
          ])
        ).rows,
    )
    expect(joined).toEqual([{ name: 'team', n: 20 }])
    await expect(w().manager.withTenant('acme', (tx) => tx.query(`UPDATE ${w().schema}.plans SET seats = 0`))).rejects.toMatchObject({ code: '42501' })
  })

  it('own writes go through; writes for another tenant are rejected and change nothing', async () => {
    await w().manager.withTenant('acme', async (tx) => {
      await tx.query(`INSERT INTO ${w().items} (tenant, title) VALUES ($1, 'own')`, [tx.tenant])
      await tx.query(`DELETE FROM ${w().items} WHERE tenant = $1 AND title = 'own'`, [tx.tenant])
    })
    await expect(
      w().manager.withTenant('acme', (tx) => tx.query(`INSERT INTO ${w().items} (tenant, title) VALUES ('globex', 'planted')`)),
    ).rejects.toMatchObject({ code: '42501' })
    const touched = await w().manager.withTenant('acme', async (tx) => {
      const updated = await tx.query(`UPDATE ${w().items} SET title = 'hijacked' WHERE tenant = 'globex'`)
      const deleted = await tx.query(`DELETE FROM ${w().items} WHERE tenant = 'globex'`)
      return [updated.rowCount, deleted.rowCount]
    })
    expect(touched).toEqual([0, 0])
    // Moving a row to another tenant: Citus refuses to change the distribution column (0A000)
    // before RLS would (42501); either way nothing moves.
    await expect(w().manager.withTenant('acme', (tx) => tx.query(`UPDATE ${w().items} SET tenant = 'globex' WHERE tenant = 'acme'`))).rejects.toMatchObject({
      code: expect.stringMatching(/^(0A000|42501)$/) as unknown,
    })
    const globex = await w().manager.withAdmin(
      async (tx) => (await tx.query(`SELECT count(*)::int AS n FROM ${w().items} WHERE tenant = 'globex' AND title LIKE 'item %'`)).rows,
    )
    expect(globex).toEqual([{ n: 20 }])
  })

  it('the owner login outside any scope sees and writes nothing: on the coordinator and on the shards', async () => {
    await withClient(as(url, w().login), async (c) => {
      expect((await c.query(`SELECT count(*)::int AS n FROM ${w().items}`)).rows).toEqual([{ n: 0 }])
      await expect(c.query(`INSERT INTO ${w().items} (tenant, title) VALUES ('acme', 'x')`)).rejects.toMatchObject({ code: '42501' })
    })
    expect(await rowsOnWorkers(url, w().items, w().login)).toBe(0)
    // And the tenant role logging in to a worker by itself: no tenant set, no row.
    expect(await rowsOnWorkers(url, w().items, w().options.tenantRole)).toBe(0)
  })

  it('the admin scope sees every row', async () => {
    const n = await w().manager.withAdmin(async (tx) => (await tx.query(`SELECT count(*)::int AS n FROM ${w().items}`)).rows[0])
    expect(n).toEqual({ n: 40 })
  })

  it('a tenant that does not exist opens no scope; an unknown tenant created on first use starts empty', async () => {
    await expect(w().manager.withTenant('nobody', () => Promise.resolve(1), { createIfMissing: false })).rejects.toMatchObject({ code: 'TENANT_NOT_FOUND' })
    const fresh = await w().manager.withTenant('initech', async (tx) => (await tx.query(`SELECT count(*)::int AS n FROM ${w().items}`)).rows[0])
    expect(fresh).toEqual({ n: 0 })
  })

  it('routes a query that names the tenant to one shard; without it, to every shard', async () => {
    const shards = (await placements(url, w().items)).length
    const [routed, fanned] = await w().manager.withTenant('acme', async (tx) => [
      taskCount(await tx.query(`EXPLAIN SELECT title FROM ${w().items} WHERE tenant = $1 AND id = 3`, [tx.tenant])),
      taskCount(await tx.query(`EXPLAIN SELECT title FROM ${w().items} WHERE id = 3`)),
    ])
    expect(routed).toBe(1)
    expect(fanned).toBe(shards)
  })

  it('routes a Drizzle query through tenantFilter to one shard, and it reads the same rows', async () => {
    const s = pgSchema(w().schema)
    const items = withRls(
      s.table('items', { tenant: text('tenant').notNull(), id: bigserial('id', { mode: 'number' }), title: text('title').notNull() }, (t) => [
        primaryKey({ columns: [t.tenant, t.id] }),
      ]),
    )
    const db = drizzle(w().app, { schema: { items } })
    const manager = fromDrizzle(db, w().options)
    const { tasks, rows, all } = await manager.withTenant('globex', async (tx) => {
      const query = tx
        .select()
        .from(items)
        .where(and(tenantFilter(items, tx.tenant), eq(items.id, 3)))
      const plan = await tx.execute<Record<string, unknown>>(sql`EXPLAIN ${query}`)
      return { tasks: taskCount(plan), rows: await query, all: await tx.select().from(items).where(tenantFilter(items, tx.tenant)) }
    })
    expect(tasks).toBe(1)
    expect(rows.map((r) => r.tenant)).toEqual(rows.length === 0 ? [] : ['globex'])
    expect(all).toHaveLength(20)
    // Another tenant's id in the filter narrows to nothing: RLS still decides.
    const other = await manager.withTenant('globex', (tx) => tx.select().from(items).where(tenantFilter(items, 'acme')))
    expect(other).toEqual([])
  })

  it('a session commits and reopens scoped, on the shards too', async () => {
    const session = await w().manager.newTenantSession('globex')
    try {
      await session.query(`INSERT INTO ${w().items} (tenant, title) VALUES ($1, 'from a session')`, ['globex'])
      await session.commit()
      const { rows } = await session.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)
      expect(rows).toEqual([{ tenant: 'globex', n: 21 }])
      await session.query(`DELETE FROM ${w().items} WHERE title = 'from a session'`)
      await session.commit()
    } finally {
      await session.close()
    }
  })

  it('a moved shard keeps RLS, FORCE and the policies: still isolated, still closed to the owner', async () => {
    const [acmeShard] = (
      await withClient(url, (su) =>
        su.query<{ shardid: string; nodeport: number }>(
          `SELECT s.shardid::text, s.nodeport FROM citus_shards s WHERE s.table_name = $1::regclass AND s.shardid = get_shard_id_for_distribution_column($1, 'acme')`,
          [w().items],
        ),
      )
    ).rows
    const target = acmeShard!.nodeport === 9701 ? 9702 : 9701
    const source = acmeShard!.nodeport
    await withClient(url, (su) =>
      su.query(`SELECT citus_move_shard_placement($1::bigint, '127.0.0.1', $2, '127.0.0.1', $3, shard_transfer_mode => 'block_writes')`, [
        acmeShard!.shardid,
        source,
        target,
      ]),
    )
    const moved = (await placements(url, w().items)).find((p) => p.shard === acmeShard!.shardid)
    expect(moved?.port).toBe(target)
    const seen = await w().manager.withTenant('acme', async (tx) => (await tx.query(`SELECT tenant, count(*)::int AS n FROM ${w().items} GROUP BY 1`)).rows)
    expect(seen).toEqual([{ tenant: 'acme', n: 20 }])
    const policies = await withClient(as(url, w().login, target), async (c) => {
      await c.query('SET citus.override_table_visibility = off') // Citus hides shards from pg_class
      return (
        await c.query<{ force: boolean; policies: number }>(
          `SELECT c.relforcerowsecurity AS force, (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies FROM pg_class c WHERE c.oid = $1::regclass`,
          [moved!.name],
        )
      ).rows
    })
    expect(policies).toEqual([{ force: true, policies: 3 }])
    expect(await rowsOnWorkers(url, w().items, w().login)).toBe(0)
  })

  it('check() is clean but for notices, and the testing kit holds, on the distributed tables', { timeout: 60_000 }, async () => {
    const report = await w().manager.check({ schemas: [w().schema] })
    expect(report.findings.filter((f) => f.severity !== 'notice').map((f) => `${f.code} ${f.object}`)).toEqual([])
    expect(report.findings.map((f) => f.code)).toContain('CITUS_ROLE_LOGIN')
    const summary = await assertTenantIsolation(w().manager, {
      tables: [
        { spec: { schema: w().schema, name: 'items', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, title: 'probe' }) },
        { spec: { schema: w().schema, name: 'notes', column: 'tenant', type: 'text' }, row: (tenant) => ({ tenant, body: 'probe' }) },
      ],
    })
    expect(summary.tables).toEqual([w().items, w().notes])
  })

  it("hides another tenant's SQL on the workers with track_activities off for the tenant role, and check says when it is not", async () => {
    const marker = `secret-${uniqueSuffix()}`
    const peek = () =>
      w().manager.withTenant('acme', async (tx) => {
        const { rows } = await tx.query(`SELECT query FROM citus_stat_activity WHERE query LIKE $1 AND query NOT LIKE '%citus_stat_activity%'`, [`%${marker}%`])
        return rows.length
      })
    const seenWhileSlow = async () => {
      const other = new pg.Pool({ connectionString: as(url, w().login), max: 1 })
      try {
        const manager = fromPg(other, { ...w().options, tables: [{ schema: w().schema, name: 'items', type: 'text' }] })
        const slow = manager.withTenant('globex', (tx) =>
          tx.query(`SELECT pg_sleep(1), count(*) FROM ${w().items} WHERE tenant = 'globex' AND title <> '${marker}'`),
        )
        let seen = 0
        for (let i = 0; i < 8 && seen === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100))
          seen = await peek()
        }
        await slow
        return seen
      } finally {
        await other.end()
      }
    }
    if (strategy === 'role') {
      // Each tenant is its own worker login: nothing to hide, nothing to report.
      expect(await seenWhileSlow()).toBe(0)
      return
    }
    expect(await seenWhileSlow()).toBe(0)
    await withClient(url, (su) => su.query(`ALTER ROLE "${w().options.tenantRole}" RESET track_activities`))
    try {
      const report = await w().manager.check({ schemas: [w().schema] })
      expect(report.findings.filter((f) => f.code === 'CITUS_ACTIVITY_VISIBLE').map((f) => f.severity)).toEqual(['warning'])
      // What the finding is about: with the setting gone, acme's scope reads globex's SQL.
      expect(await seenWhileSlow()).toBeGreaterThan(0)
    } finally {
      await withClient(url, (su) => su.query(`ALTER ROLE "${w().options.tenantRole}" SET track_activities = off`))
    }
  })

  it('goes red when the protection is broken by hand: FORCE off on the shards lets the owner see every row there', async () => {
    await withClient(url, (su) => su.query(`SELECT run_command_on_shards($1, 'ALTER TABLE %s NO FORCE ROW LEVEL SECURITY')`, [w().notes]))
    try {
      expect(await rowsOnWorkers(url, w().notes, w().login)).toBe(2)
    } finally {
      await withClient(url, (su) => su.query(`SELECT run_command_on_shards($1, 'ALTER TABLE %s FORCE ROW LEVEL SECURITY')`, [w().notes]))
    }
    expect(await rowsOnWorkers(url, w().notes, w().login)).toBe(0)
  })
})

describe.skipIf(!citusUrl)(citusUrl ? 'Citus without Citus mode' : `Citus without Citus mode ${CITUS_SKIPPED}`, () => {
  let world: World | undefined
  beforeAll(async () => {
    world = await makeWorld(citusUrl!, 'setting')
  }, 120_000)
  afterAll(() => dropCitusWorld(citusUrl!, world, [`${world!.options.tenantRole}_p`, `${world!.options.adminRole}_p`]), 60_000)

  it('the plain migration refuses a distributed table before changing anything, saying to use Citus mode', async () => {
    const w = world!
    const spec: TableSpec = { schema: w.schema, name: 'items', column: 'tenant', type: 'text' }
    const plain = { ...w.options, citus: false, tenantRole: `${w.options.tenantRole}_p`, adminRole: `${w.options.adminRole}_p` }
    await expect(applyOneByOne(as(citusUrl!, w.login), migrationStatements([spec], plain).up)).rejects.toMatchObject({
      code: '0A000',
      message: expect.stringContaining(`${w.items} are Citus tables, which need the migration in Citus mode`) as unknown,
      hint: expect.stringContaining('citus: true') as unknown,
    })
    // One more table, the same way.
    await expect(applyOneByOne(as(citusUrl!, w.login), tableStatements(spec, plain).up)).rejects.toThrow(/are Citus tables/)
    const roles = await withClient(citusUrl!, (su) => su.query(`SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2)`, [plain.tenantRole, plain.adminRole]))
    expect(roles.rows).toEqual([])
    // Without the guard, Citus refuses the policies' sub-select, saying nothing of what to do.
    const withoutGuard = migrationStatements([spec], plain).up.filter((st) => !st.includes('are Citus tables'))
    await expect(applyOneByOne(as(citusUrl!, w.login), withoutGuard)).rejects.toThrow(/SubLink|Subqueries are not supported/)
  })

  it('is why Citus mode binds every policy itself: a RESTRICTIVE policy comes back PERMISSIVE on the shards, and the owner sees every row', async () => {
    const w = world!
    // The plain shape without its sub-select: RESTRICTIVE isolation, an admin policy of `true`.
    const plain = tenantPolicies(resolveOptions({ ...w.options, citus: false }), 'tenant', 'text').map((p) => ({
      ...p,
      using: p.using.replace(/^"tenant" = \(SELECT (.*)\)$/s, '"tenant" = ($1)'),
      withCheck: p.withCheck.replace(/^"tenant" = \(SELECT (.*)\)$/s, '"tenant" = ($1)'),
    }))
    expect(plain.find((p) => p.name === 'pg_tenants_isolation')?.permissive).toBe(false)
    await applyOneByOne(
      as(citusUrl!, w.login),
      plain.flatMap((p) => [dropPolicySql(p, w.items), createPolicySql(p, w.items)]),
    )
    const onShards = await withClient(citusUrl!, (su) =>
      su.query<{ result: string }>(
        `SELECT DISTINCT result FROM run_command_on_shards($1, $cmd$SELECT polpermissive::text FROM pg_policy WHERE polrelid = '%s'::regclass AND polname = 'pg_tenants_isolation'$cmd$)`,
        [w.items],
      ),
    )
    expect(onShards.rows).toEqual([{ result: 'true' }])
    await w.manager.withTenant('acme', (tx) => tx.query(`INSERT INTO ${w.items} (tenant, title) VALUES ($1, 'a')`, [tx.tenant]))
    await w.manager.withTenant('globex', (tx) => tx.query(`INSERT INTO ${w.items} (tenant, title) VALUES ($1, 'b')`, [tx.tenant]))
    // The login is a member of the admin role, whose policy is `true`: only the RESTRICTIVE
    // isolation policy kept it out, and the shards have none.
    expect(await rowsOnWorkers(citusUrl!, w.items, w.login)).toBe(2)
    const viaCoordinator = await withClient(
      as(citusUrl!, w.login),
      async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${w.items}`)).rows,
    )
    expect(viaCoordinator).toEqual([{ n: 2 }])
  })
})
