/**
 * The tables the scope-overhead benchmark reads, as SQL and as Drizzle tables, and the keys its
 * transactions walk.
 *
 * @module
 */
import { pgSchema, serial, text } from 'drizzle-orm/pg-core'
import { withRls } from '../../src/drizzle/index.js'
import { keyWalk } from '../lib/workload.js'
import { ROWS, SCHEMA, TENANTS } from './config.js'

/** The scoped table and its RLS-free twin (same rows and indexes), for every driver. */
export const TABLES_SQL = `
  CREATE TABLE ${SCHEMA}.items (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items (id, tenant, payload)
    SELECT g, 't' || (g % ${TENANTS}), md5(g::text) FROM generate_series(1, ${ROWS}) g;
  SELECT setval(pg_get_serial_sequence('${SCHEMA}.items', 'id'), ${ROWS});
  CREATE TABLE ${SCHEMA}.items_plain (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
  INSERT INTO ${SCHEMA}.items_plain SELECT * FROM ${SCHEMA}.items;
  SELECT setval(pg_get_serial_sequence('${SCHEMA}.items_plain', 'id'), ${ROWS});
  CREATE INDEX items_plain_tenant_idx ON ${SCHEMA}.items_plain (tenant);
  ALTER TABLE ${SCHEMA}.items_plain ADD CONSTRAINT items_plain_tenant_not_empty CHECK (tenant <> '');`

const s = pgSchema(SCHEMA)
/** The tenant table: RLS enabled and forced, the library's policies. */
export const items = withRls(s.table('items', { id: serial('id').primaryKey(), tenant: text('tenant').notNull(), payload: text('payload') }))
/**
 * The baseline's table: the same columns, rows, primary key, tenant index and check, but no RLS.
 * The baseline runs as the same owner login; on `items` it would see zero rows (FORCE RLS, no
 * tenant in scope: fail closed), so its select would return nothing and do less work than the
 * scoped one. On this copy both do the same work: find one row by primary key and return it.
 */
export const itemsPlain = s.table('items_plain', {
  id: serial('id').primaryKey(),
  tenant: text('tenant').notNull(),
  payload: text('payload'),
})

export type ItemsTable = typeof items | typeof itemsPlain

/** Row `id` belongs to tenant `t${id % TENANTS}`; transaction i reads keyAt(i), or keyOf(i, j) for j < STMTS. */
export const { tenantOf, keyAt, keyOf } = keyWalk(ROWS, TENANTS)
