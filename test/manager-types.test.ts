/**
 * The types of a manager passed between modules (issue "Hardening, part 2", item 17): typed
 * `PostgresManager<any>` or `AnyPostgresManager`, a scope's `tx` still has Drizzle's query
 * builder (it was `never` for `any`). Checked by `tsc` (the repository's typecheck includes test/);
 * the runtime part only makes the file a test.
 */
import { pgTable, text } from 'drizzle-orm/pg-core'
import { describe, expectTypeOf, it } from 'vitest'
import type { AnyPostgresManager, PostgresManager } from '../src/drizzle/index.js'

const todos = pgTable('todos', { tenant: text('tenant').notNull(), title: text('title') })

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function withAny(manager: PostgresManager<any>) {
  return manager.withTenant('acme', (tx) => tx.select().from(todos))
}

async function withAnyManager(manager: AnyPostgresManager) {
  await manager.withAdmin((tx) => tx.insert(todos).values({ tenant: 'acme', title: 'x' }))
  return manager.withTenant('acme', (tx) => tx.select().from(todos))
}

describe('manager types', () => {
  it('PostgresManager<any> and AnyPostgresManager type queries, not never', () => {
    expectTypeOf(withAny).returns.resolves.toEqualTypeOf<{ tenant: string; title: string | null }[]>()
    expectTypeOf(withAnyManager).returns.resolves.toEqualTypeOf<{ tenant: string; title: string | null }[]>()
  })
})
