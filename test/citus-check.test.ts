/**
 * checkDatabase on Citus (CITUS_URL: a superuser URL of a coordinator with workers), both
 * strategies, as the non-superuser login that owns a distributed tenant table migrated in Citus
 * mode: clean but for notices (the LOGIN roles among them); then each protection broken by hand on
 * one shard (FORCE off, a policy dropped, the isolation policy widened) is found on that shard and
 * node, and its fix mends it; a foreign PERMISSIVE policy is an error, a RESTRICTIVE one is found
 * PERMISSIVE on the shards; Citus mode off is CITUS_MODE_OFF; a moved shard still passes. Each
 * breakage is first shown to leak (or to fail) for real, so that its test proves something.
 *
 * Names are unique per run: roles are cluster-wide, and other Citus tests share the database.
 */
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { checkDatabase, type CheckCode, type CheckOptions, type CheckReport } from '../src/index.js'
import { migrationStatements, type TableSpec } from '../src/core/migration.js'
import type { Strategy } from '../src/core/options.js'
import { fromPg, type PostgresManager } from '../src/pg/index.js'
import { describeFindings } from './support/findings.js'
import { uniqueSuffix } from './support/targets.js'
import { applyOneByOne, as, CITUS_SKIPPED, citusLogin, citusUrl, dropCitusWorld, withClient } from './support/citus.js'

interface World {
  readonly schema: string
  readonly login: string
  readonly options: { strategy: Strategy; citus: true; schema: string; tenantRole: string; adminRole: string; rolePrefix: string }
  readonly specs: TableSpec[]
  readonly items: string
  readonly app: pg.Pool
  readonly manager: PostgresManager
}

/** A login owning a schema with `items`, distributed in a colocation group of its own (a shard
 * move then moves no other test's shards), migrated in Citus mode, with two tenants' rows. */
async function makeWorld(url: string, strategy: Strategy): Promise<World> {
  const id = `${strategy[0]}${uniqueSuffix()}`
  const { schema, login, options: names } = await citusLogin(url, 'pgtcc', id, strategy)
  const options = names
  const items = `${schema}.items`
  const specs: TableSpec[] = [{ schema, name: 'items', column: 'tenant', type: 'text' }]
  await withClient(as(url, login), async (c) => {
    await c.query(`CREATE TABLE ${items} (tenant text NOT NULL, id bigserial, title text NOT NULL, PRIMARY KEY (tenant, id))`)
    await c.query(`SELECT create_distributed_table($1, 'tenant', colocate_with => 'none')`, [items])
  })
  await applyOneByOne(as(url, login), migrationStatements(specs, options).up)
  // The superuser's one step of docs/scale-out.md (CITUS_ACTIVITY_VISIBLE otherwise).
  await withClient(url, (su) => su.query(`ALTER ROLE "${options.tenantRole}" SET track_activities = off`))
  const app = new pg.Pool({ connectionString: as(url, login), max: 4 })
  const manager = fromPg(app, { ...options, tables: specs.map((s) => ({ schema: s.schema, name: s.name, type: s.type })) })
  for (const tenant of ['acme', 'globex']) {
    await manager.createTenant(tenant)
    await manager.withTenant(tenant, (tx) => tx.query(`INSERT INTO ${items} (tenant, title) VALUES ($1, 'one'), ($1, 'two')`, [tenant]))
  }
  return { schema, login, options, specs, items, app, manager }
}

/** The placement of the shard that holds `tenant`'s rows of `table`. */
async function shardOf(url: string, table: string, tenant: string): Promise<{ shard: string; name: string; host: string; port: number }> {
  return withClient(url, async (su) => {
    const { rows } = await su.query<{ shard: string; name: string; host: string; port: number }>(
      `SELECT s.shardid::text AS shard, shard_name($1::regclass, s.shardid)::text AS name, p.nodename::text AS host, p.nodeport::int AS port
       FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
       WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2::text)`,
      [table, tenant],
    )
    return rows[0]!
  })
}

/** Runs `sql` on one worker only, as the superuser (run_command_on_shards would run it on every
 * shard, whatever a WHERE on its result says). */
async function onWorker(url: string, host: string, port: number, sql: string): Promise<void> {
  await withClient(url, async (su) => {
    const { rows } = await su.query<{ success: boolean; result: string }>(
      `SELECT success, result FROM master_run_on_worker(ARRAY[$1], ARRAY[$2]::int[], ARRAY[$3], false)`,
      [host, port, sql],
    )
    expect(rows[0], sql).toMatchObject({ success: true })
  })
}

const codes = (report: CheckReport) => report.findings.map((f) => f.code)

describe.skipIf(!citusUrl).each(['setting', 'role'] as const)(
  citusUrl ? 'check on Citus, %s strategy' : `check on Citus, %s strategy ${CITUS_SKIPPED}`,
  (strategy) => {
    const url = citusUrl!
    let world: World | undefined
    const w = () => world!
    const check = (extra: CheckOptions = {}) => checkDatabase(w().app, { ...w().options, tables: w().specs, schemas: [w().schema], ...extra })
    /** What the login sees outside any scope: nothing, while every shard is protected. */
    const unscoped = async () => Number((await w().app.query<{ n: string }>(`SELECT count(*) AS n FROM ${w().items}`)).rows[0]!.n)
    /** The other tenant's rows that acme's scope sees: none, while every shard is protected. */
    const acmeSeesOthers = () =>
      w().manager.withTenant('acme', async (tx) => Number((await tx.query(`SELECT count(*) AS n FROM ${w().items} WHERE tenant <> 'acme'`)).rows[0]!['n']))
    async function expectClean() {
      const report = await check()
      expect(report.ok, describeFindings(report)).toBe(true)
      expect(
        report.findings.filter((f) => f.severity !== 'notice'),
        describeFindings(report),
      ).toEqual([])
    }
    /** The one finding of `code` on the table, which names `shard` on its node. */
    async function expectShardFinding(code: CheckCode, shard: { shard: string; host: string; port: number }, what: RegExp) {
      const report = await check()
      expect(report.ok).toBe(false)
      const hits = report.findings.filter((f) => f.code === code)
      expect(hits, describeFindings(report)).toHaveLength(1)
      expect(hits[0]!.severity).toBe('error')
      expect(hits[0]!.object).toBe(w().items)
      expect(hits[0]!.message).toContain(`shard ${shard.shard} on ${shard.host}:${shard.port}`)
      expect(hits[0]!.message).toMatch(/on 1 of \d+ shard placements/)
      expect(hits[0]!.message).toMatch(what)
      return hits[0]!
    }

    beforeAll(async () => {
      world = await makeWorld(url, strategy)
    }, 120_000)
    afterAll(() => dropCitusWorld(url, world), 60_000)
    // What a test broke is mended even when it failed half-way, so that the next one starts clean.
    afterEach(async () => {
      if (!world) return
      const roles = [w().options.tenantRole, w().options.adminRole, ...(strategy === 'role' ? [`${w().options.rolePrefix}acme`] : [])]
      await withClient(url, async (su) => {
        for (const policy of ['shared_titles', 'no_drafts', 'acme_all']) await su.query(`DROP POLICY IF EXISTS ${policy} ON ${w().items}`)
        await su.query(`DROP TABLE IF EXISTS ${w().schema}.refs`)
        for (const role of roles) await su.query(`ALTER ROLE "${role}" LOGIN`)
      })
      await applyOneByOne(as(url, w().login), migrationStatements(w().specs, w().options).up)
    }, 60_000)

    it('passes on the migrated distributed table, with notices only: the LOGIN roles among them, with pg_hba.conf lines', async () => {
      const report = await check()
      expect(report.ok, describeFindings(report)).toBe(true)
      expect(report.tables).toEqual([w().items])
      expect(
        report.findings.filter((f) => f.severity !== 'notice'),
        describeFindings(report),
      ).toEqual([])
      expect(codes(report)).not.toContain('ROLE_CAN_LOGIN')
      const login = report.findings.filter((f) => f.code === 'CITUS_ROLE_LOGIN')
      expect(login).toHaveLength(1)
      expect(login[0]!.message).toContain(`"${w().options.tenantRole}"`)
      expect(login[0]!.message).toContain(`"${w().options.adminRole}"`)
      if (strategy === 'role') expect(login[0]!.message).toContain('2 tenant roles')
      expect(login[0]!.fix).toMatch(/^host +all +\S+ +all +reject$/m)
      // The protection it vouches for holds: nothing outside a scope, nothing of globex in acme's.
      expect(await unscoped()).toBe(0)
      expect(await acmeSeesOthers()).toBe(0)
    })

    it('SHARD_NOT_PROTECTED: FORCE off on one shard, where the owner login then sees the rows outside a scope; the fix on the shards mends it', async () => {
      const shard = await shardOf(url, w().items, 'globex')
      await onWorker(url, shard.host, shard.port, `ALTER TABLE ${shard.name} NO FORCE ROW LEVEL SECURITY`)
      expect(await unscoped()).toBeGreaterThanOrEqual(2) // globex's rows (and acme's, should they share the shard)
      const hit = await expectShardFinding('SHARD_NOT_PROTECTED', shard, /row level security is not forced/)
      await w().app.query(hit.fix)
      await expectClean()
      expect(await unscoped()).toBe(0)
    })

    it('SHARD_NOT_PROTECTED: a policy dropped on one shard (withAdmin then misses its rows); re-running the migration mends it', async () => {
      const shard = await shardOf(url, w().items, 'acme')
      const adminSees = () => w().manager.withAdmin(async (tx) => Number((await tx.query(`SELECT count(*) AS n FROM ${w().items}`)).rows[0]!['n']))
      expect(await adminSees()).toBe(4)
      await onWorker(url, shard.host, shard.port, `DROP POLICY pg_tenants_admin ON ${shard.name}`)
      expect(await adminSees()).toBeLessThanOrEqual(2)
      await expectShardFinding('SHARD_NOT_PROTECTED', shard, /policy pg_tenants_admin is missing/)
      await applyOneByOne(as(url, w().login), migrationStatements(w().specs, w().options).up)
      await expectClean()
      expect(await adminSees()).toBe(4)
    })

    it("SHARD_NOT_PROTECTED: the isolation policy widened on one shard, where acme's scope then sees globex's rows; its fix mends it", async () => {
      const shard = await shardOf(url, w().items, 'globex')
      await onWorker(
        url,
        shard.host,
        shard.port,
        `DROP POLICY pg_tenants_isolation ON ${shard.name}; CREATE POLICY pg_tenants_isolation ON ${shard.name} TO ${w().options.tenantRole} USING (true)`,
      )
      expect(await acmeSeesOthers()).toBe(2)
      const hit = await expectShardFinding('SHARD_NOT_PROTECTED', shard, /policy pg_tenants_isolation differs: USING \(true\), expected/)
      await w().app.query(hit.fix)
      await expectClean()
      expect(await acmeSeesOthers()).toBe(0)
    })

    it('PERMISSIVE_POLICY: another permissive policy TO public is an error in Citus mode (no RESTRICTIVE policy holds it)', async () => {
      await w().app.query(`CREATE POLICY shared_titles ON ${w().items} FOR SELECT TO public USING (title = 'one')`)
      expect(await acmeSeesOthers()).toBe(1)
      const report = await check()
      const hits = report.findings.filter((f) => f.code === 'PERMISSIVE_POLICY')
      expect(
        hits.map((f) => [f.severity, f.object]),
        describeFindings(report),
      ).toEqual([['error', w().items]])
      expect(hits[0]!.message).toMatch(/applies to the tenant role and in Citus mode no policy is RESTRICTIVE/)
      // Propagated to every shard as it is: the shards agree with the coordinator.
      expect(codes(report)).not.toContain('SHARD_NOT_PROTECTED')
      await w().app.query(hits[0]!.fix)
      await expectClean()
    })

    it.runIf(strategy === 'role')('PERMISSIVE_POLICY: a permissive policy TO one tenant role is an error in Citus mode too', async () => {
      await w().app.query(`CREATE POLICY acme_all ON ${w().items} FOR SELECT TO "${w().options.rolePrefix}acme" USING (true)`)
      expect(await acmeSeesOthers()).toBe(2)
      const report = await check()
      const hits = report.findings.filter((f) => f.code === 'PERMISSIVE_POLICY')
      expect(
        hits.map((f) => [f.severity, f.object]),
        describeFindings(report),
      ).toEqual([['error', w().items]])
      await w().app.query(hits[0]!.fix)
      await expectClean()
      expect(await acmeSeesOthers()).toBe(0)
    })

    it('SHARD_NOT_PROTECTED: a RESTRICTIVE policy of the coordinator is PERMISSIVE on every shard, where it widens', async () => {
      await w().app.query(`CREATE POLICY no_drafts ON ${w().items} AS RESTRICTIVE FOR SELECT TO public USING (title <> 'draft')`)
      expect(await acmeSeesOthers()).toBe(2) // ORed on the shards: every row that is no draft
      const report = await check()
      const hits = report.findings.filter((f) => f.code === 'SHARD_NOT_PROTECTED')
      expect(hits, describeFindings(report)).toHaveLength(1)
      expect(hits[0]!.message).toMatch(/on (\d+) of \1 shard placements, policy "no_drafts" is RESTRICTIVE on the coordinator but PERMISSIVE here/)
      await w().app.query(hits[0]!.fix)
      await expectClean()
      expect(await acmeSeesOthers()).toBe(0)
    })

    it('CITUS_ROLE_LOGIN: an error for a NOLOGIN tenant role (Citus cannot connect to the workers as it: the scope fails); its fix mends it', async () => {
      const role = strategy === 'setting' ? w().options.tenantRole : `${w().options.rolePrefix}acme`
      await withClient(url, (su) => su.query(`ALTER ROLE "${role}" NOLOGIN`))
      // On new sessions: a session keeps the connections to the workers it has opened.
      const fresh = new pg.Pool({ connectionString: as(url, w().login), max: 1 })
      const scope = () =>
        fromPg(fresh, { ...w().options, tables: w().specs.map((s) => ({ schema: s.schema, name: s.name, type: s.type })) }).withTenant('acme', async (tx) =>
          Number((await tx.query(`SELECT count(*) AS n FROM ${w().items} WHERE tenant <> 'acme'`)).rows[0]!['n']),
        )
      try {
        await expect(scope()).rejects.toThrow(/not permitted to log in/)
      } finally {
        await fresh.end()
      }
      const report = await check()
      const hits = report.findings.filter((f) => f.code === 'CITUS_ROLE_LOGIN' && f.severity === 'error')
      expect(hits, describeFindings(report)).toHaveLength(1)
      expect(hits[0]!.object).toBe(strategy === 'setting' ? `role "${role}"` : `tenant roles "${w().options.rolePrefix}…"`)
      await w().app.query(hits[0]!.fix) // the login has CREATEROLE
      await expectClean()
      expect(await acmeSeesOthers()).toBe(0)
    })

    it('CITUS_MODE_OFF: the same tables checked without citus: true', async () => {
      const report = await check({ citus: false })
      expect(report.ok).toBe(false)
      const hits = report.findings.filter((f) => f.code === 'CITUS_MODE_OFF')
      expect(hits, describeFindings(report)).toHaveLength(1)
      expect(hits[0]!.message).toContain(`${w().items} (distributed)`)
      expect(hits[0]!.fix).toContain('citus: true')
      expect(codes(report)).not.toContain('SHARD_NOT_PROTECTED')
    })

    it('still passes after a shard move (the moved placement keeps RLS, FORCE and the policies)', async () => {
      const shard = await shardOf(url, w().items, 'globex')
      const target = await withClient(url, async (su) => {
        const { rows } = await su.query<{ host: string; port: number }>(
          `SELECT nodename::text AS host, nodeport::int AS port FROM pg_dist_node WHERE shouldhaveshards AND noderole = 'primary' AND isactive
           AND (nodename, nodeport) <> ($1, $2) ORDER BY nodeport LIMIT 1`,
          [shard.host, shard.port],
        )
        return rows[0]!
      })
      await withClient(url, (su) =>
        su.query(`SELECT citus_move_shard_placement($1, $2, $3, $4, $5, shard_transfer_mode => 'block_writes')`, [
          shard.shard,
          shard.host,
          shard.port,
          target.host,
          target.port,
        ]),
      )
      const moved = await shardOf(url, w().items, 'globex')
      expect([moved.host, moved.port]).toEqual([target.host, target.port])
      await expectClean()
      expect(await unscoped()).toBe(0)
      expect(await acmeSeesOthers()).toBe(0)
      // And the check reads the placement where it now is.
      await onWorker(url, moved.host, moved.port, `ALTER TABLE ${moved.name} NO FORCE ROW LEVEL SECURITY`)
      const hit = await expectShardFinding('SHARD_NOT_PROTECTED', moved, /not forced/)
      await w().app.query(hit.fix)
      await expectClean()
    }, 120_000)

    it('CITUS_REFERENCE_TABLE: a tenant table made a reference table is a warning; its placements are checked too', async () => {
      const refs = `${w().schema}.refs`
      const specs: TableSpec[] = [...w().specs, { schema: w().schema, name: 'refs', column: 'tenant', type: 'text' }]
      await w().app.query(`CREATE TABLE ${refs} (tenant text NOT NULL, id bigserial, PRIMARY KEY (tenant, id))`)
      await w().app.query(`SELECT create_reference_table($1)`, [refs])
      await applyOneByOne(as(url, w().login), migrationStatements(specs, w().options).up)
      try {
        const report = await check({ tables: specs })
        expect(
          report.findings.filter((f) => f.severity !== 'notice').map((f) => [f.code, f.severity, f.object]),
          describeFindings(report),
        ).toEqual([['CITUS_REFERENCE_TABLE', 'warning', refs]])
        // One copy on a worker.
        const placement = await withClient(url, async (su) => {
          const { rows } = await su.query<{ shard: string; name: string; host: string; port: number }>(
            `SELECT shardid::text AS shard, shard_name::text AS name, nodename::text AS host, nodeport::int AS port FROM citus_shards
           WHERE table_name = $1::regclass AND (nodename, nodeport) IN (SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0)
           ORDER BY nodeport LIMIT 1`,
            [refs],
          )
          return rows[0]!
        })
        await onWorker(url, placement.host, placement.port, `ALTER TABLE ${placement.name} NO FORCE ROW LEVEL SECURITY`)
        const broken = await check({ tables: specs })
        const hits = broken.findings.filter((f) => f.code === 'SHARD_NOT_PROTECTED')
        expect(
          hits.map((f) => f.object),
          describeFindings(broken),
        ).toEqual([refs])
        expect(hits[0]!.message).toContain(`shard ${placement.shard} on ${placement.host}:${placement.port}`)
      } finally {
        await w().app.query(`DROP TABLE ${refs}`)
      }
      await expectClean()
    }, 120_000)
  },
)

describe.skipIf(!citusUrl)(citusUrl ? 'check on Citus, the plain migration' : `check on Citus, the plain migration ${CITUS_SKIPPED}`, () => {
  const url = citusUrl!
  let world: World | undefined
  const w = () => world!
  const plain = () => ({ ...w().options, citus: false, tenantRole: `${w().options.tenantRole}_p`, adminRole: `${w().options.adminRole}_p` })

  beforeAll(async () => {
    world = await makeWorld(url, 'setting')
  }, 120_000)
  afterAll(() => dropCitusWorld(url, world, [`${w().options.tenantRole}_p`, `${w().options.adminRole}_p`]), 60_000)

  it('CITUS_MODE_OFF: the plain migration applied statement by statement to a distributed table (as psql -f does) leaves every row to the login', async () => {
    const table = `${w().schema}.plain`
    const specs: TableSpec[] = [{ schema: w().schema, name: 'plain', column: 'tenant', type: 'text' }]
    await w().app.query(`CREATE TABLE ${table} (tenant text NOT NULL, id bigserial, PRIMARY KEY (tenant, id))`)
    await w().app.query(`SELECT create_distributed_table($1, 'tenant', colocate_with => 'none')`, [table])
    await w().app.query(`INSERT INTO ${table} (tenant) VALUES ('acme'), ('globex')`)
    const failed: string[] = []
    for (const statement of migrationStatements(specs, plain()).up) {
      await w()
        .app.query(statement)
        .catch((e: Error) => failed.push(e.message))
    }
    // The migration's own guard refuses first (psql -f without ON_ERROR_STOP goes on past it); then
    // Citus refuses the sub-selects of the two tenant policies; pg_tenants_admin (USING true) stays.
    expect(failed).toHaveLength(3)
    expect(failed[0]).toMatch(/are Citus tables, which need the migration in Citus mode/)
    expect(failed[1]).toMatch(/SubLink|Subqueries are not supported/)
    expect(Number((await w().app.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n)).toBe(2)
    const report = await checkDatabase(w().app, { ...plain(), tables: specs, schemas: [w().schema] })
    const hits = report.findings.filter((f) => f.code === 'CITUS_MODE_OFF')
    expect(hits, describeFindings(report)).toHaveLength(1)
    expect(hits[0]!.severity).toBe('error')
    expect(hits[0]!.message).toContain(`${table} (distributed)`)
  })
})
