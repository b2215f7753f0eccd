/**
 * `pg-tenants generate` when a tenant column changes type, on a partitioned table, deployed in two
 * steps as an app would: the first migrations are applied, then the column is widened
 * (varchar(40) to varchar(80)) in a drizzle-kit migration, which `generate` edits so that the
 * policies of the table and of its partitions make way for the ALTER. Applied with drizzle-orm's
 * migrator (what `drizzle-kit migrate` runs) on PGlite and on the server at DATABASE_URL, as an
 * ordinary role; tenants stay isolated, with ids the old width would have refused.
 */
import { PGlite } from '@electric-sql/pglite'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveOptions } from '../src/core/options.js'
import { POLICY_NAMES, tenantCondition } from '../src/core/policy.js'
import type { AnyPgDatabase } from '../src/drizzle/bind.js'
import { leaveSuperuser, PostgresManager } from '../src/drizzle/index.js'
import { makeTempDir, runCli } from './support/cli.js'
import { uniqueSuffix } from './support/targets.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DATABASE_URL = process.env['DATABASE_URL']

type Exec = (text: string) => Promise<Record<string, unknown>[]>

interface Database {
  readonly db: AnyPgDatabase
  readonly exec: Exec
  migrate(folder: string): Promise<void>
  close(): Promise<void>
}

/** A fresh database, as an ordinary role that owns what it creates. */
interface Target {
  readonly name: string
  open(): Promise<Database>
  teardown(): Promise<void>
}

const suffix = uniqueSuffix()
const options = { tenantRole: `pgt_gen_rls_${suffix}`, adminRole: `pgt_gen_admin_${suffix}` }

function targets(): Target[] {
  const list: Target[] = []
  const dir = makeTempDir('cli-generate-pglite-')
  list.push({
    name: 'pglite',
    async open() {
      const lite = await PGlite.create(join(dir, 'pgdata'))
      await leaveSuperuser(lite)
      const db = drizzlePglite(lite)
      return {
        db,
        exec: async (text) => (await lite.query<Record<string, unknown>>(text)).rows,
        migrate: (folder) => migratePglite(db, { migrationsFolder: folder }),
        close: () => lite.close(),
      }
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true })
    },
  })
  if (DATABASE_URL) {
    const owner = `pgt_gen_owner_${suffix}`
    const database = `pgt_gen_${suffix}`
    const url = new URL(DATABASE_URL)
    url.username = owner
    url.password = ''
    url.pathname = `/${database}`
    let admin: pg.Pool | undefined
    list.push({
      name: 'node-postgres',
      async open() {
        if (!admin) {
          admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
          await admin.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE`)
          await admin.query(`CREATE DATABASE "${database}" OWNER "${owner}"`)
        }
        const pool = new pg.Pool({ connectionString: url.toString(), max: 3 })
        // pool.end() resolves before its clients' sockets have closed, so the DROP DATABASE … WITH (FORCE)
        // of the teardown can still terminate one of them: its error must not reach a pool with no listener.
        pool.on('error', () => undefined)
        const db = drizzleNodePg(pool)
        return {
          db,
          exec: async (text) => (await pool.query(text)).rows as Record<string, unknown>[],
          migrate: (folder) => migrateNodePg(db, { migrationsFolder: folder }),
          close: () => pool.end(),
        }
      },
      async teardown() {
        if (!admin) return
        await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
        await admin.query(`DROP ROLE IF EXISTS "${options.tenantRole}", "${options.adminRole}", "${owner}"`)
        await admin.end()
      },
    })
  }
  return list
}

for (const target of targets()) {
  describe(`a partitioned tenant table whose tenant column is widened, on ${target.name}`, () => {
    const cwd = makeTempDir('cli-generate-')
    const out = join(cwd, 'drizzle')
    afterAll(async () => {
      await target.teardown()
      rmSync(cwd, { recursive: true, force: true })
    })

    const schema = (length: number) =>
      writeFileSync(
        join(cwd, 'schema.ts'),
        `import { pgTable, serial, text, varchar } from 'drizzle-orm/pg-core'\nimport { withRls } from ${JSON.stringify(join(ROOT, 'src', 'drizzle', 'index.js'))}\n` +
          `export const events = withRls(pgTable('events', { id: serial('id'), kind: text('kind').notNull(), tenant: varchar('tenant', { length: ${length} }).notNull() }), { tenantRole: '${options.tenantRole}' })\n`,
      )
    /** A drizzle-kit migration: its SQL, its snapshot (events with the tenant column's type) and its journal entry. */
    const kitMigration = (idx: number, tag: string, statements: string[], length: number) => {
      const using = tenantCondition(resolveOptions(options), 'tenant', 'varchar')
      const tables = {
        'public.events': {
          name: 'events',
          schema: '',
          columns: { id: { name: 'id', type: 'serial' }, kind: { name: 'kind', type: 'text' }, tenant: { name: 'tenant', type: `varchar(${length})` } },
          policies: { [POLICY_NAMES.access]: { name: POLICY_NAMES.access, as: 'PERMISSIVE', for: 'ALL', to: ['public'], using, withCheck: using } },
          isRLSEnabled: true,
        },
      }
      const prefix = tag.split('_')[0]!
      writeFileSync(join(out, `${tag}.sql`), statements.join('--> statement-breakpoint\n'))
      writeFileSync(
        join(out, 'meta', `${prefix}_snapshot.json`),
        JSON.stringify({ id: `snap-${idx}`, prevId: `snap-${idx - 1}`, version: '7', dialect: 'postgresql', tables }),
      )
      const journalPath = join(out, 'meta', '_journal.json')
      const journal =
        idx === 0 ? { version: '7', dialect: 'postgresql', entries: [] as object[] } : (JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: object[] })
      journal.entries.push({ idx, version: '7', when: Date.now(), tag, breakpoints: true })
      writeFileSync(journalPath, JSON.stringify(journal))
    }
    const generate = () => runCli(['generate', '--schema', 'schema.ts', '--out', 'drizzle', '--admin-role', options.adminRole], { cwd })

    it('deploys, widens, deploys again: the ALTER goes through, every partition keeps its policies, tenants stay isolated', async () => {
      mkdirSync(join(out, 'meta'), { recursive: true })
      schema(40)
      kitMigration(
        0,
        '0000_events',
        [
          `CREATE TABLE "events" ("id" serial, "kind" text NOT NULL, "tenant" varchar(40) NOT NULL) PARTITION BY LIST ("kind");`,
          `CREATE TABLE "events_a" PARTITION OF "events" FOR VALUES IN ('a');`,
          `CREATE TABLE "events_b" PARTITION OF "events" FOR VALUES IN ('b');`,
          `ALTER TABLE "events" ENABLE ROW LEVEL SECURITY;`,
        ],
        40,
      )
      const first = await generate()
      expect(first.err).toBe('')
      expect(first.code).toBe(0)
      let database = await target.open()
      try {
        await database.migrate(out)
      } finally {
        await database.close()
      }

      schema(80)
      kitMigration(2, '0002_widen', ['ALTER TABLE "events" ALTER COLUMN "tenant" SET DATA TYPE varchar(80);'], 80)
      const second = await generate()
      expect(second.err).toMatch(/^pg-tenants: edited drizzle\/0002_widen\.sql: a tenant column changes type there/)
      expect(second.out).toMatch(/^Wrote drizzle\/0003_pg_tenants\.sql/)
      expect(readFileSync(join(out, '0002_widen.sql'), 'utf8')).toContain(`pg_partition_tree('"public"."events"'::regclass) WHERE level > 0`)

      database = await target.open()
      try {
        await database.migrate(out)
        const [column] = await database.exec(
          `SELECT character_maximum_length AS n FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'tenant'`,
        )
        expect(column).toEqual({ n: 80 })
        const tables = await database.exec(
          `SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
             (SELECT array_agg(polname::text ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies
           FROM pg_class c WHERE c.relname IN ('events', 'events_a', 'events_b') ORDER BY 1`,
        )
        const policies = Object.values(POLICY_NAMES).sort()
        expect(tables).toEqual(['events', 'events_a', 'events_b'].map((name) => ({ name, rls: true, force: true, policies })))

        const manager = PostgresManager.fromDrizzle(database.db, options)
        const wide = `tenant-${'w'.repeat(60)}` // longer than the old 40
        for (const [tenant, kind] of [
          [wide, 'a'],
          ['other', 'b'],
        ] as const) {
          await manager.withTenant(tenant, (tx) => tx.execute(sql`INSERT INTO events (kind, tenant) VALUES (${kind}, ${tenant})`))
        }
        const seen = await manager.withTenant(wide, async (tx) => (await tx.execute(sql`SELECT kind, tenant FROM events`)) as unknown)
        expect(rowsOf(seen)).toEqual([{ kind: 'a', tenant: wide }])
        expect(await database.exec('SELECT count(*)::int AS n FROM events')).toEqual([{ n: 0 }]) // FORCE: the owner sees none
      } finally {
        await database.close()
      }
    }, 240_000)
  })
}

function rowsOf(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : ((result as { rows: Record<string, unknown>[] }).rows ?? [])
}
