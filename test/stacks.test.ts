/**
 * The shared test body: the same behaviours, over every stack (test/support/stacks: Drizzle,
 * pg, PGlite, postgres.js, Drizzle on postgres.js, Kysely on each client), on every target the
 * stack runs on (PGlite, the server, PgBouncer), in both strategies. The tables are owned by a
 * login that is neither superuser nor BYPASSRLS and are FORCE ROW LEVEL SECURITY, so each
 * isolation test goes red when the protection is broken (the last test of a block breaks it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRlsViolation, TenantNotFound } from '../src/core/errors.js'
import { buildMigration, type TableSpec } from '../src/core/migration.js'
import type { Strategy, TenantOptions } from '../src/core/options.js'
import { assertTenantIsolation } from '../src/testing/index.js'
import { cleanupSql } from './support/fixture.js'
import { STACKS, type AnyManager, type Stack, type StackManager } from './support/stacks/index.js'
import { targets, uniqueSuffix, type Login, type Row, type Target } from './support/targets.js'
import { codeOf, codes, rejection } from './support/errors.js'

interface World {
  readonly target: Target
  readonly strategy: Strategy
  readonly schema: string
  readonly owner: string
  readonly options: TenantOptions
  readonly text: TableSpec
  readonly int: TableSpec
  readonly login: Login
  cleanup(): Promise<void>
}

async function createWorld(target: Target, strategy: Strategy, extra: TenantOptions = {}): Promise<World> {
  const suffix = uniqueSuffix()
  const schema = `pgs_${suffix}`
  const owner = `pgs_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy,
    rolePrefix: `pgs_t${suffix}_`,
    tenantRole: `pgs_rls_${suffix}`,
    adminRole: `pgs_admin_${suffix}`,
    ...extra,
  }
  await target.superExec(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}";`)
  const login = await target.login(owner)
  const text: TableSpec = { schema, name: 'items', column: 'tenant', type: 'text' }
  const int: TableSpec = { schema, name: 'nums', column: 'tenant', type: 'integer' }
  await login.exec(
    `CREATE TABLE "${schema}".items (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL);
     CREATE TABLE "${schema}".nums (id serial PRIMARY KEY, tenant integer NOT NULL, title text NOT NULL);`,
  )
  await login.exec(buildMigration([text, int], options).up)
  return {
    target,
    strategy,
    schema,
    owner,
    options,
    text,
    int,
    login,
    cleanup: () => target.superExec(cleanupSql(schema, options, owner)).then(() => undefined),
  }
}

for (const factory of targets()) {
  for (const stack of STACKS.filter((s) => s.supports(factory.name))) {
    for (const strategy of ['setting', 'role'] as const) {
      describe(`${stack.name} on ${factory.name}, ${strategy} strategy`, () => {
        body(factory, stack, strategy)
      })
    }
    // Citus mode's scope message (a DO block) through every driver's BEGIN, and its policies, on
    // a plain server: test/citus.test.ts runs them on Citus.
    if (factory.name === 'node-postgres') {
      describe(`${stack.name} on ${factory.name}, setting strategy, Citus mode`, () => {
        body(factory, stack, 'setting', { citus: true })
      })
    }
  }
}

function body(factory: { create(): Promise<Target> }, stack: Stack, strategy: Strategy, extra: TenantOptions = {}): void {
  let w: World
  let s: StackManager
  let m: AnyManager
  const items = () => `"${w.schema}".items`
  const tenantRole = (id: string) => (strategy === 'role' ? `${w.options.rolePrefix}${id}` : w.options.tenantRole)

  beforeAll(async () => {
    w = await createWorld(await factory.create(), strategy, extra)
    s = await stack.open(w.login, w.options, [w.text], { knownTenantTtlMs: 0 })
    m = s.manager
  })
  afterAll(async () => {
    try {
      await s?.end()
    } finally {
      try {
        await w?.cleanup()
      } finally {
        await w?.target.close()
      }
    }
  })

  const q = (handle: unknown, sql: string, params: readonly unknown[] = []) => s.query(handle, sql, params)

  it('tests as the login it claims to: not superuser, not BYPASSRLS, the tables FORCE row-level security', async () => {
    const [row] = await s.outside(
      `SELECT current_user::text AS login, (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS privileged,
              (SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE oid IN ('${items()}'::regclass, '"${w.schema}".nums'::regclass)) AS forced`,
    )
    expect(row).toEqual({ login: w.owner, privileged: false, forced: true })
  })

  it('isolates reads, updates and deletes; a row for another tenant is refused', async () => {
    await m.withTenant('iso-a', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ($1, 'a1'), ($1, 'a2')`, ['iso-a']))
    await m.withTenant('iso-b', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ($1, 'b1')`, ['iso-b']))
    const seen = await m.withTenant('iso-a', async (tx) => {
      expect(tx.tenant).toBe('iso-a')
      await q(tx, `UPDATE ${items()} SET title = title || '!'`)
      return q(tx, `SELECT tenant, title FROM ${items()} ORDER BY title`)
    })
    expect(seen).toEqual([
      { tenant: 'iso-a', title: 'a1!' },
      { tenant: 'iso-a', title: 'a2!' },
    ])
    await m.withTenant('iso-a', (tx) => q(tx, `DELETE FROM ${items()}`))
    expect(await m.withTenant('iso-b', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([{ title: 'b1' }])
    const error = await rejection(m.withTenant('iso-a', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('iso-b', 'planted')`)))
    expect(isRlsViolation(error)).toBe(true)
    expect(await m.withTenant('iso-b', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([{ title: 'b1' }])
  })

  it('runs tenant work as an unprivileged role and admin work as the admin role; outside a scope the login sees nothing', async () => {
    const role = await m.withTenant('who', async (tx) => (await q(tx, 'SELECT current_user::text AS r'))[0]?.['r'])
    expect(role).toBe(tenantRole('who'))
    expect(await m.withAdmin(async (tx) => (await q(tx, 'SELECT current_user::text AS r'))[0]?.['r'])).toBe(w.options.adminRole)
    await m.withTenant('who', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('who', 'x')`))
    expect(await s.outside(`SELECT count(*)::int AS n FROM ${items()}`)).toEqual([{ n: 0 }])
  })

  it('admin scopes and sessions see and write every tenant', async () => {
    await m.withTenant('adm-a', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('adm-a', 'x')`))
    await m.withTenant('adm-b', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('adm-b', 'y')`))
    const tenants = await m.withAdmin(async (tx) =>
      (await q(tx, `SELECT DISTINCT tenant FROM ${items()} WHERE tenant LIKE 'adm-%' ORDER BY 1`)).map((r) => r['tenant']),
    )
    expect(tenants).toEqual(['adm-a', 'adm-b'])
    const session = await m.newSession()
    try {
      await q(session, `UPDATE ${items()} SET title = 'by-admin' WHERE tenant LIKE 'adm-%'`)
      await session.commit()
    } finally {
      await session.close()
    }
    expect(await m.withTenant('adm-b', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([{ title: 'by-admin' }])
  })

  it('creates, lists and deletes tenants, never deletes data; an unknown tenant with createIfMissing: false never runs the callback', async () => {
    await m.createTenant('life')
    expect(codeOf(await rejection(m.createTenant('life')))).toBe('TENANT_ALREADY_EXISTS')
    expect((await m.listTenants()).has('life')).toBe(true)
    await m.withTenant('life', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('life', 'kept')`))
    await m.deleteTenant('life')
    expect((await m.listTenants()).has('life')).toBe(false)
    let called = false
    const error = await rejection(
      m.withTenant(
        'life',
        async () => {
          called = true
        },
        { createIfMissing: false },
      ),
    )
    expect(error).toBeInstanceOf(TenantNotFound)
    expect(called).toBe(false)
    expect(await m.withTenant('life', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([{ title: 'kept' }])
    await expect(m.deleteTenant('never-made')).rejects.toBeInstanceOf(TenantNotFound)
  })

  it('rejects bad tenant ids and options before any SQL is sent', async () => {
    const ints = await stack.open(w.login, w.options, [w.int])
    try {
      for (const [manager, bad] of [
        [m, ''],
        [m, 'a\0b'],
        [m, 42],
        [ints.manager, 1.5],
        [ints.manager, 'not-an-int'],
        [ints.manager, 2 ** 31],
      ] as const) {
        let called = false
        const error = await rejection(
          manager.withTenant(bad, async () => {
            called = true
          }),
        )
        expect(codeOf(error), String(bad)).toBe('INVALID_TENANT_ID')
        expect(called).toBe(false)
      }
      expect(await ints.manager.withTenant(7, async (tx) => q(tx, `SELECT count(*)::int AS n FROM "${w.schema}".nums`))).toEqual([{ n: 0 }])
    } finally {
      await ints.end()
    }
    expect(codeOf(await rejection(m.withTenant('opts', async () => undefined, { isolationLevel: 'chaos' as never })))).toBe('INVALID_OPTIONS')
    expect(codeOf(await rejection(m.withTenant('opts', async () => undefined, { createIfMisssing: false } as never)))).toBe('INVALID_OPTIONS')
  })

  it('keeps 40 concurrent scopes over 8 tenants apart', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `conc-${i % 8}`)
    const results = await Promise.all(
      ids.map((id, i) =>
        m.withTenant(id, async (tx) => {
          await q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ($1, $2)`, [id, `t${i}`])
          return q(tx, `SELECT DISTINCT tenant FROM ${items()}`)
        }),
      ),
    )
    results.forEach((rows, i) => expect(rows).toEqual([{ tenant: ids[i] }]))
  })

  it('keeps session work only when committed, stays scoped after commit, and refuses use after close', async () => {
    const session = await m.newTenantSession('sess')
    expect(session.tenant).toBe('sess')
    await q(session, `INSERT INTO ${items()} (tenant, title) VALUES ('sess', 'kept')`)
    await session.commit()
    await q(session, `INSERT INTO ${items()} (tenant, title) VALUES ('sess', 'dropped')`)
    await session.rollback()
    expect((await q(session, 'SELECT current_user::text AS r'))[0]?.['r']).toBe(tenantRole('sess'))
    await q(session, `INSERT INTO ${items()} (tenant, title) VALUES ('sess', 'uncommitted')`)
    await session.close()
    await session.close()
    expect(session.closed).toBe(true)
    expect(codeOf(await rejection(q(session, 'SELECT 1')))).toBe('SESSION_CLOSED')
    expect(await m.withTenant('sess', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([{ title: 'kept' }])
  })

  it('transaction options ride with BEGIN, in scopes and on every transaction of a session', async () => {
    const modes = `SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro`
    expect(await m.withTenant('opt', (tx) => q(tx, modes), { isolationLevel: 'serializable', accessMode: 'read only' })).toEqual([
      { iso: 'serializable', ro: 'on' },
    ])
    expect(await m.withAdmin((tx) => q(tx, modes), { isolationLevel: 'repeatable read' })).toEqual([{ iso: 'repeatable read', ro: 'off' }])
    const readOnly = await rejection(
      m.withTenant('opt', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('opt', 'x')`), { accessMode: 'read only' }),
    )
    expect(codeOf(readOnly)).toBe('25006')
    const session = await m.newTenantSession('opt', { isolationLevel: 'serializable' })
    try {
      await session.commit()
      expect(await q(session, modes)).toEqual([{ iso: 'serializable', ro: 'off' }])
    } finally {
      await session.close()
    }
  })

  it("refuses the caller's SET TRANSACTION in a scope with transaction options: a known tenant, an admin scope, a session's next transaction", async () => {
    const cached = await stack.open(w.login, w.options, [w.text]) // the default TTL: a known tenant's scope opens unchecked
    try {
      const c = cached.manager
      await c.withTenant('settx', async () => undefined)
      const refused = (run: Promise<unknown>) => rejection(run).then(codes)
      const writes = `INSERT INTO ${items()} (tenant, title) VALUES ('settx', 'written')`
      const readOnly = { accessMode: 'read only' } as const
      expect(
        await refused(c.withTenant('settx', async (tx) => cached.query(tx, 'SET TRANSACTION READ WRITE').then(() => cached.query(tx, writes)), readOnly)),
      ).toContain('25001')
      expect(
        await refused(c.withTenant('settx', (tx) => cached.query(tx, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED'), { isolationLevel: 'serializable' })),
      ).toContain('25001')
      expect(await refused(c.withAdmin(async (tx) => cached.query(tx, 'SET TRANSACTION READ WRITE').then(() => cached.query(tx, writes)), readOnly))).toContain(
        '25001',
      )
      const session = await c.newTenantSession('settx', readOnly)
      try {
        await session.commit()
        expect(await refused(cached.query(session, 'SET TRANSACTION READ WRITE'))).toContain('25001')
      } finally {
        await session.close()
      }
    } finally {
      await cached.end()
    }
    expect(await m.withAdmin((tx) => q(tx, `SELECT count(*)::int AS n FROM ${items()} WHERE title = 'written'`))).toEqual([{ n: 0 }])
  })

  it('a COMMIT or ROLLBACK sent by the callback ends the scope: nothing after it runs unscoped', async () => {
    await m.withTenant('victim', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('victim', 'secret')`))
    for (const end of ['COMMIT', 'ROLLBACK', 'ROLLBACK AND CHAIN']) {
      let seen: unknown = 'not run'
      const error = await rejection(
        m.withTenant('attacker', async (tx) => {
          await q(tx, end).catch(() => undefined)
          seen = await q(tx, `SELECT title FROM ${items()}`).catch((e: unknown) => codeOf(e))
          await q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('victim', 'planted')`)
        }),
      )
      expect(codes(error), end).toEqual(expect.arrayContaining([expect.stringMatching(/^(SESSION_CLOSED|UNSUPPORTED_OPERATION)$/)]))
      expect(seen, end).toBe('SESSION_CLOSED')
    }
    expect(await m.withAdmin((tx) => q(tx, `SELECT count(*)::int AS n FROM ${items()} WHERE title = 'planted'`))).toEqual([{ n: 0 }])
    // A savepoint rolled back (tagged ROLLBACK too) is not mistaken for the end of the scope.
    const role = await m.withTenant('attacker', async (tx) => {
      await q(tx, 'SAVEPOINT sp1')
      await q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('attacker', 'undone')`)
      await q(tx, 'ROLLBACK TO SAVEPOINT sp1')
      return (await q(tx, 'SELECT current_user::text AS r'))[0]?.['r']
    })
    expect(role).toBe(tenantRole('attacker'))
    expect(await m.withTenant('attacker', (tx) => q(tx, `SELECT title FROM ${items()}`))).toEqual([])
  })

  it('refuses a query on a scope that has finished (a handle kept, an await forgotten)', async () => {
    let kept: unknown
    await m.withTenant('late', async (tx) => {
      kept = tx
    })
    expect(codeOf(await rejection(q(kept, `SELECT title FROM ${items()}`)))).toBe('SESSION_CLOSED')
  })

  it('a scope inside a scope fails at once with NESTED_SCOPE', { timeout: 10_000 }, async () => {
    const error = await m.withTenant('outer', () => rejection(m.withTenant('inner', async () => 1)))
    expect(codeOf(error)).toBe('NESTED_SCOPE')
    expect(codeOf(await m.withTenant('outer', () => rejection(m.withAdmin(async () => 1))))).toBe('NESTED_SCOPE')
  })

  it('a tenant deleted by another manager: the next scope is still scoped, or TenantNotFound', async () => {
    const other = await stack.open(w.login, w.options, [w.text])
    try {
      await other.manager.withTenant('gone', (tx) => q(tx, 'SELECT 1')) // cached there (default TTL)
      await m.deleteTenant('gone')
      const outcome = await other.manager
        .withTenant('gone', (tx) => q(tx, 'SELECT current_user::text AS r'), { createIfMissing: false })
        .catch((e: unknown) => e)
      if (outcome instanceof TenantNotFound) return
      expect(outcome).toEqual([{ r: tenantRole('gone') }])
    } finally {
      await other.end()
    }
  })

  it('leaves no state on a pooled connection (pool of one): settings, roles, temporary tables, LISTEN, advisory locks', { timeout: 30_000 }, async () => {
    const one = await w.target.login(w.owner, { max: 1 })
    const single = await stack.open(one, w.options, [w.text], { max: 1 })
    try {
      const pid = w.target.name === 'pgbouncer' ? '' : ', pg_backend_pid() AS pid'
      const probe = `SELECT current_user::text AS login, current_setting('search_path') AS path, coalesce(current_setting('pg_tenants.tenant', true), '') AS tenant,
        (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks${pid}`
      let clean = await single.outside(probe)
      const leftovers = [
        'SET search_path = pg_catalog',
        `SELECT set_config('pg_tenants.tenant', 'pool-a', false)`,
        `SET ROLE "${tenantRole('pool-a')}"`,
        'CREATE TEMP TABLE staging (v text)',
        'SELECT pg_advisory_lock(424242)::text',
        ...(w.target.name === 'pglite' ? [] : ['LISTEN pg_tenants_stack_channel']),
      ]
      for (const leave of leftovers) {
        for (const ending of ['commit', 'rollback'] as const) {
          const outcome = single.manager.withTenant('pool-a', async (tx) => {
            await single.query(tx, leave, [])
            if (ending === 'rollback') throw new Error('caller failure')
          })
          if (ending === 'rollback') await expect(outcome, leave).rejects.toThrow('caller failure')
          else await outcome
          // A session-level SET ROLE may be the connection's own: the driver destroys the connection
          // (another backend then, so the pid is not compared).
          const withoutPid = (rows: Row[]) => rows.map(({ pid: _pid, ...rest }) => rest)
          const after = await single.outside(probe)
          if (leave.startsWith('SET ROLE')) {
            expect(withoutPid(after), `${leave} (${ending})`).toEqual(withoutPid(clean))
            clean = after
          } else expect(after, `${leave} (${ending})`).toEqual(clean)
          const next = await single.manager.withTenant('pool-b', (tx) =>
            single.query(tx, `SELECT current_user::text AS r, to_regclass('pg_temp.staging') IS NULL AS no_temp`, []),
          )
          expect(next, `${leave} (${ending})`).toEqual([{ r: tenantRole('pool-b'), no_temp: true }])
        }
      }
    } finally {
      await single.end()
      await one.end()
    }
  })

  it('check() passes, and the testing kit holds, on the migrated database', { timeout: 30_000 }, async () => {
    const report = await m.check({ schemas: [w.schema] })
    expect(report.findings.filter((f) => f.severity !== 'notice')).toEqual([])
    expect(report.tables).toEqual(expect.arrayContaining([`${w.schema}.items`, `${w.schema}.nums`]))
    const summary = await assertTenantIsolation(m, {
      tables: [
        { spec: w.text, row: (tenant) => ({ tenant, title: 'probe' }) },
        { spec: w.int, row: (tenant) => ({ tenant, title: 'probe' }) },
      ],
    })
    expect(summary.tables).toEqual([`${w.schema}.items`, `${w.schema}.nums`])
  })

  it('goes red when the protection is broken: NO FORCE ROW LEVEL SECURITY lets the owner outside a scope read every row', async () => {
    await m.withTenant('red', (tx) => q(tx, `INSERT INTO ${items()} (tenant, title) VALUES ('red', 'x')`))
    await w.login.exec(`ALTER TABLE ${items()} NO FORCE ROW LEVEL SECURITY`)
    try {
      const [row] = await s.outside(`SELECT count(*)::int AS n FROM ${items()}`)
      expect(Number(row?.['n'])).toBeGreaterThan(0) // what the "outside a scope sees nothing" test would then see
      const report = await m.check({ schemas: [w.schema] })
      expect(report.findings.map((f) => f.code)).toContain('FORCE_DISABLED')
    } finally {
      await w.login.exec(`ALTER TABLE ${items()} FORCE ROW LEVEL SECURITY`)
    }
  })
}
