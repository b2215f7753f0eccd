/**
 * The migration on a real database: `up` is idempotent and leaves RLS, FORCE, the three policies,
 * a tenant index and the non-empty check in place; `down` removes them and keeps every row; `up`
 * again restores isolation. Runs on every target and both strategies, as the owning login.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { sqlState, TenantError } from '../src/core/errors.js'
import { buildMigration, migrationStatements, tableStatements, type TableSpec } from '../src/core/migration.js'
import { POLICY_NAMES } from '../src/core/policy.js'
import { migrationSql } from '../src/drizzle/index.js'
import { createFixture, TENANT_PAIRS, type Fixture, type TypeName } from './support/fixture.js'
import { describeTargets, type Row } from './support/targets.js'

const STRATEGIES = ['setting', 'role'] as const
const TYPES: TypeName[] = ['text', 'varchar', 'integer', 'bigint', 'uuid']
/** A third tenant per column type, first used after `down` and `up` again. */
const FRESH = { text: 'fresh', varchar: 'fresh', integer: 3, bigint: 3n, uuid: randomUUID() } as const

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loops over tables of different types
type AnyTable = any

describeTargets((target) => {
  for (const strategy of STRATEGIES) {
    describe(`${strategy} strategy`, () => {
      let f: Fixture
      const sqlFor = () => migrationSql(Object.values(f.tables), f.options)
      const rel = (type: TypeName) => `"${f.schema}"."items_${type}"`

      /** RLS flags, policies, tenant-led indexes and the non-empty check of one table. */
      async function catalog(type: TypeName) {
        const r = rel(type)
        const [flags] = await f.login.exec(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = '${r}'::regclass`)
        const policies = await f.login.exec(
          `SELECT polname AS name, polpermissive AS permissive FROM pg_policy WHERE polrelid = '${r}'::regclass ORDER BY polname`,
        )
        const [indexes] = await f.login.exec(
          `SELECT count(*)::int AS n FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
           WHERE i.indrelid = '${r}'::regclass AND a.attname = 'tenant'`,
        )
        const checks = await f.login.exec(`SELECT conname AS name FROM pg_constraint WHERE conrelid = '${r}'::regclass AND contype = 'c'`)
        return { flags, policies, tenantIndexes: indexes?.['n'], checks: checks.map((c) => c['name']) }
      }

      /** Row count as admin (through the manager, RLS on). */
      async function adminCount(type: TypeName): Promise<number> {
        const rows: Row[] = await f.manager(type).withAdmin((tx) => tx.select().from(f.tables[type] as AnyTable))
        return rows.length
      }

      async function expectProtected(type: TypeName) {
        const c = await catalog(type)
        expect(c.flags, type).toEqual({ rls: true, force: true })
        expect(c.policies, type).toEqual(
          [
            { name: POLICY_NAMES.access, permissive: true },
            { name: POLICY_NAMES.admin, permissive: true },
            { name: POLICY_NAMES.isolation, permissive: false },
          ].sort((a, b) => a.name.localeCompare(b.name)),
        )
        expect(c.tenantIndexes, type).toBe(1)
        const textual = type === 'text' || type === 'varchar'
        expect(c.checks, type).toEqual(textual ? [`pgt_items_${type}_tenant_not_empty`] : [])
      }

      async function seed(tag: string) {
        for (const type of TYPES) {
          const m = f.manager(type)
          const table: AnyTable = f.tables[type]
          for (const id of TENANT_PAIRS[type]) {
            await m.withTenant(id, (tx) => tx.insert(table).values({ tenant: id, title: `${tag}-${String(id)}` }))
          }
        }
      }

      beforeAll(async () => {
        f = await createFixture(target(), strategy, 'owner')
      })
      afterAll(async () => {
        if (!f) return
        await f.login.activate()
        await f.login.exec(sqlFor().up).catch(() => undefined) // roles back, should a test stop after `down`
        await f.cleanup()
      })
      beforeEach(async () => {
        await f.login.activate()
      })

      it('up protects every table, and a second up is harmless', async () => {
        await seed('first')
        const before = await Promise.all(TYPES.map(adminCount))
        expect(before).toEqual(TYPES.map(() => 2))
        for (const type of TYPES) await expectProtected(type)

        await f.login.exec(sqlFor().up)
        for (const type of TYPES) await expectProtected(type)
        expect(await Promise.all(TYPES.map(adminCount))).toEqual(before)
        for (const type of TYPES) {
          const [a] = TENANT_PAIRS[type]
          const seen: Row[] = await f.manager(type).withTenant(a, (tx) => tx.select().from(f.tables[type] as AnyTable))
          expect(
            seen.map((r) => r['tenant']),
            type,
          ).toEqual([a])
        }
      })

      it('refuses an empty text or varchar tenant, even for the admin (23514)', async () => {
        for (const type of ['text', 'varchar'] as const) {
          const error = await f
            .manager(type)
            .withAdmin((tx) => tx.insert(f.tables[type] as AnyTable).values({ tenant: '', title: 'empty' }))
            .then(
              () => expect.unreachable(`${type}: an empty tenant was stored`),
              (e: unknown) => e,
            )
          expect(sqlState(error), type).toBe('23514')
        }
      })

      it('down removes the protection and keeps every row; up restores isolation', async () => {
        await seed('cycle')
        const counts = await Promise.all(TYPES.map(adminCount))
        expect(Math.min(...counts)).toBeGreaterThan(0)
        const registry = `"${f.schema}"."tenant_registry"`
        const listedBefore = strategy === 'setting' ? await f.manager().listTenants() : undefined

        await f.login.exec(sqlFor().down)
        for (const [i, type] of TYPES.entries()) {
          const c = await catalog(type)
          expect(c.flags, type).toEqual({ rls: false, force: false })
          expect(c.policies, type).toEqual([])
          expect(c.checks, type).toEqual([])
          const [row] = await f.login.exec(`SELECT count(*)::int AS n FROM ${rel(type)}`) // as the owner
          expect(row?.['n'], type).toBe(counts[i])
        }
        const [reg] = await f.login.exec(`SELECT to_regclass('${registry}')::text AS t`)
        if (strategy === 'setting') {
          expect(reg?.['t'], 'the registry lists tenants, so it is kept').not.toBeNull()
          const ids = await f.login.exec(`SELECT id FROM ${registry}`)
          expect(new Set(ids.map((r) => r['id']))).toEqual(listedBefore)
        } else {
          expect(reg?.['t']).toBeNull()
        }

        await f.login.exec(sqlFor().up)
        for (const [i, type] of TYPES.entries()) {
          await expectProtected(type)
          const m = f.manager(type)
          const table: AnyTable = f.tables[type]
          // A tenant created after the second `up` sees its own row and none of the old ones.
          const fresh = FRESH[type]
          await m.withTenant(fresh, (tx) => tx.insert(table).values({ tenant: fresh, title: 'fresh' }))
          const seenByFresh: Row[] = await m.withTenant(fresh, (tx) => tx.select().from(table))
          expect(
            seenByFresh.map((r) => [r['tenant'], r['title']]),
            type,
          ).toEqual([[fresh, 'fresh']])
          const [a, b] = TENANT_PAIRS[type]
          const seenByA: Row[] = await m.withTenant(a, (tx) => tx.select().from(table))
          expect(seenByA.length, type).toBeGreaterThan(0)
          expect(
            seenByA.every((r) => r['tenant'] === a),
            type,
          ).toBe(true)
          const seenByB: Row[] = await m.withTenant(b, (tx) => tx.select().from(table))
          expect(seenByA.length + seenByB.length, type).toBe(counts[i])
        }
        const [outside] = await f.login.exec(`SELECT count(*)::int AS n FROM ${rel('text')}`)
        expect(outside?.['n'], 'the owner outside a scope sees nothing again').toBe(0)
      })

      // `down` must not drop the tenant group role while tenant roles are members of it: that
      // would silently cut them off their grants, and `up` could not know to re-grant them.
      it.runIf(strategy === 'role')('keeps role-strategy tenants working across down and up', async () => {
        const m = f.manager()
        await m.createTenant('survivor')
        await m.withTenant('survivor', (tx) => tx.insert(f.tables.text as AnyTable).values({ tenant: 'survivor', title: 's' }))
        await f.login.exec(sqlFor().down)
        await f.login.exec(sqlFor().up)
        expect((await m.listTenants()).has('survivor')).toBe(true)
        const seen: Row[] = await m.withTenant('survivor', (tx) => tx.select().from(f.tables.text as AnyTable))
        expect(seen.map((r) => r['title'])).toEqual(['s'])
      })
    })
  }
})

// No name reaches the SQL text raw (S5): a control character would end a `--` comment line and
// run the rest of the name as SQL.
describe('names in the migration SQL', () => {
  const evil = 'evil\nSELECT pg_sleep(0); CREATE TABLE pwned(); --'
  const base: TableSpec = { schema: 'public', name: 'todos', column: 'tenant', type: 'text' }

  it('refuses a control character in the schema, table or column name (INVALID_OPTIONS)', () => {
    const specs: TableSpec[] = [
      { ...base, name: evil },
      { ...base, schema: 'app\r' },
      { ...base, column: 'ten\u007fant' },
      { ...base, column: 'ten\u0000ant' },
      { ...base, name: 'tab\tle' },
    ]
    for (const spec of specs) {
      for (const build of [() => buildMigration([spec]), () => migrationStatements([spec]), () => tableStatements(spec)]) {
        let error: unknown
        try {
          build()
        } catch (e) {
          error = e
        }
        expect(error, JSON.stringify(spec)).toBeInstanceOf(TenantError)
        expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
        expect((error as Error).message).toMatch(/holds a control character \(U\+0000–U\+001F, U\+007F\).*rename it/)
        expect((error as Error).message).not.toMatch(/[\n\r]/)
      }
    }
  })

  it('escapes what is left in comment lines, so that every comment stays one line', () => {
    const odd: TableSpec = { ...base, name: 'line\u2028sep\u0085nel' }
    const { up, down } = buildMigration([odd])
    for (const text of [up, down]) {
      const comments = text.split('\n').filter((line) => line.startsWith('--'))
      expect(comments.some((line) => line.includes('line\\u2028sep\\u0085nel'))).toBe(true)
      for (const line of comments) expect(line).not.toMatch(/[\u2028\u0085]/)
    }
  })
})
