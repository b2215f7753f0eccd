/** What the demo needs of a stack: its manager, and the two queries it runs through a scope's
 * handle (or a session), written with that stack's own API. */
import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'
import type { TenantManager } from '../../src/adapter.js'

/** Where the demo runs, as its login role APP_ROLE: an embedded PGlite, or a server. */
export type Database = { readonly kind: 'pglite'; readonly client: PGlite } | { readonly kind: 'server'; readonly pool: pg.Pool; readonly url: string }

export interface Todo {
  readonly title: string
  readonly tenant: string
}

export interface DemoStack {
  /** How the demo names the stack: `Drizzle`, `pg (no ORM)`, … */
  readonly label: string
  readonly manager: TenantManager<object, object>
  /** Inserts a todo through a scope's handle or a session. */
  readonly add: (handle: object, todo: Todo) => Promise<void>
  /** Every todo the handle sees (no WHERE: row-level security filters). */
  readonly list: (handle: object) => Promise<Todo[]>
  /** How many todos the stack's client sees outside any scope. */
  readonly outside: () => Promise<number>
  readonly close: () => Promise<void>
}

/** The options the migration and every stack's manager share. */
export const options = { schema: 'tenants_demo', tenantRole: 'tenants_demo_rls', adminRole: 'tenants_demo_admin' }
export const TODOS = { schema: options.schema, name: 'todos', column: 'tenant', type: 'text' } as const
