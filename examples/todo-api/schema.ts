/** The todo API's one table: `withRls` marks it tenant-scoped (its `tenant` column). */
import { boolean, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import { withRls } from '../../src/drizzle/index.js'

// No schema of its own: the table lives in the app's schema, found through search_path.
export const todos = withRls(
  pgTable('todos', {
    id: serial('id').primaryKey(),
    tenant: text('tenant').notNull(),
    title: text('title').notNull(),
    done: boolean('done').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  }),
)

export const schema = { todos }

/** The same table as SQL, for the migration (drizzle-kit would generate it in a real app). */
export const CREATE_TODOS = `CREATE TABLE IF NOT EXISTS todos (
  id serial PRIMARY KEY,
  tenant text NOT NULL,
  title text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
)`
