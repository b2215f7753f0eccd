/**
 * PGlite before 0.5.5 tags no result with its command (checked by hand on 0.5.4: `query('COMMIT')`
 * answers `{ fields, affectedRows }` and no `command`), so the driver could not see a COMMIT sent
 * inside a scope, and what ran after it ran unscoped (test/hardening.test.ts fails there). The
 * driver refuses such a PGlite at the scope's first statement. Here a real PGlite whose
 * transaction results have their `command` taken away stands in for the old version.
 */
import { PGlite, type Transaction } from '@electric-sql/pglite'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
import { afterAll, describe, expect, it } from 'vitest'
import { TenantError } from '../src/index.js'
import { leaveSuperuser, migrationSql, PostgresManager, withRls } from '../src/drizzle/index.js'

const todos = withRls(pgTable('todos', { id: serial('id').primaryKey(), tenant: text('tenant').notNull() }))

/** Results as PGlite before 0.5.5 gives them: no `command`. */
function untagged<T extends object>(result: T): T {
  const { command: _, ...rest } = result as T & { command?: unknown }
  return rest as T
}

/** `db`, except that the transactions it hands out answer without command tags. */
function likeOldPglite(db: PGlite): PGlite {
  const transaction = ((fn: (tx: Transaction) => Promise<unknown>) =>
    db.transaction((tx) =>
      fn(
        new Proxy(tx, {
          get(target, key, receiver) {
            if (key === 'query') return async (...args: Parameters<Transaction['query']>) => untagged(await target.query(...args))
            if (key === 'exec') return async (...args: Parameters<Transaction['exec']>) => (await target.exec(...args)).map(untagged)
            return Reflect.get(target, key, receiver) as unknown
          },
        }),
      ),
    )) as PGlite['transaction']
  return new Proxy(db, { get: (target, key, receiver) => (key === 'transaction' ? transaction : (Reflect.get(target, key, receiver) as unknown)) })
}

describe('a PGlite that tags no result with its command (before 0.5.5)', () => {
  const client = new PGlite()
  afterAll(() => client.close())

  it('is refused before the callback runs, with what to install', async () => {
    await leaveSuperuser(client)
    await client.exec('CREATE TABLE todos (id serial PRIMARY KEY, tenant text NOT NULL)')
    await client.exec(migrationSql([todos]).up)
    // The same instance, unwrapped, scopes as usual: the refusal is the missing tags' alone.
    const manager = PostgresManager.fromDrizzle(drizzle(client))
    expect(await manager.withTenant('acme', (tx) => tx.select().from(todos))).toEqual([])

    const old = PostgresManager.fromDrizzle(drizzle(likeOldPglite(client)))
    let ran = false
    const error = await old
      .withTenant('acme', () => {
        ran = true
        return Promise.resolve()
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toBeInstanceOf(TenantError)
    expect(error).toMatchObject({ code: 'UNSUPPORTED_CLIENT', message: expect.stringContaining('@electric-sql/pglite@^0.5.5') as unknown })
    expect(ran).toBe(false)
    // Nothing was left open: the instance still scopes.
    expect(await manager.withTenant('acme', (tx) => tx.select().from(todos))).toEqual([])
  })
})
