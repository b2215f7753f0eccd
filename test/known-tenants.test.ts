/**
 * The `setting` strategy remembers tenants it saw exist and then skips the registry lookup. That
 * shortcut must never outlive a deletion it knows of, and must never be taken when the caller
 * asked for the checked path (`createIfMissing: false`).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { TenantNotFound } from '../src/core/errors.js'
import { PostgresManager } from '../src/drizzle/index.js'
import { createFixture, type Fixture } from './support/fixture.js'
import { targets, type Row, type Target } from './support/targets.js'

for (const factory of targets()) {
  describe(`${factory.name}, setting strategy`, () => {
    let target: Target
    let f: Fixture
    beforeAll(async () => {
      target = await factory.create()
      f = await createFixture(target, 'setting', 'owner')
    })
    afterAll(async () => {
      await f?.cleanup()
      await target?.close()
    })
    beforeEach(async () => {
      await f.login.activate()
    })

    it('re-registers a tenant it deleted itself on the next default withTenant', async () => {
      const m = f.manager()
      await m.withTenant('kt-self', (tx) => tx.insert(f.tables.text).values({ tenant: 'kt-self', title: 'x' }))
      expect((await m.listTenants()).has('kt-self')).toBe(true)

      await m.deleteTenant('kt-self')
      expect((await m.listTenants()).has('kt-self')).toBe(false)

      const seen: Row[] = await m.withTenant('kt-self', (tx) => tx.select().from(f.tables.text))
      expect(seen.map((r) => r['title'])).toEqual(['x'])
      expect((await m.listTenants()).has('kt-self')).toBe(true)
    })

    it('checks the registry with createIfMissing: false, even for a tenant it saw recently', async () => {
      const first = f.manager()
      const other = PostgresManager.fromDrizzle(f.login.db, f.options) // "another process"
      await first.withTenant('kt-other', (tx) => tx.insert(f.tables.text).values({ tenant: 'kt-other', title: 'y' }))
      // Seen by `first` through both paths: it is now in its known-tenant memory.
      await first.withTenant('kt-other', async () => undefined, { createIfMissing: false })

      await other.deleteTenant('kt-other')
      expect((await first.listTenants()).has('kt-other')).toBe(false)

      let called = false
      const error = await first
        .withTenant(
          'kt-other',
          async () => {
            called = true
          },
          { createIfMissing: false },
        )
        .then(
          () => expect.unreachable('a deleted tenant was scoped'),
          (e: unknown) => e,
        )
      expect(error).toBeInstanceOf(TenantNotFound)
      expect(called).toBe(false)
      await expect(first.newTenantSession('kt-other', { createIfMissing: false })).rejects.toBeInstanceOf(TenantNotFound)
      expect((await first.listTenants()).has('kt-other')).toBe(false)
    })
  })
}
