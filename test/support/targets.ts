/**
 * The databases every shared test body runs on: embedded PGlite always, the server at
 * DATABASE_URL when it is set, and the same server through PgBouncer in transaction pooling mode
 * at PGBOUNCER_URL when that is set (.ci/pgbouncer.sh starts one). A target hands out "logins": a Drizzle database connected as a
 * given role (a non-superuser table owner, or the superuser), so that nothing passes only
 * because a superuser bypasses row-level security.
 */
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import pg from 'pg'
import { afterAll, beforeAll, describe } from 'vitest'
import type { AnyPgDatabase } from '../../src/drizzle/bind.js'

export type Row = Record<string, unknown>

/** The rows of a Drizzle `execute` result (node-postgres and PGlite both return `{ rows }`). */
export function rowsOf(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows
}

/** A database connection as one role. */
export interface Login {
  readonly db: AnyPgDatabase
  /** The client `db` is built on: a `pg.Pool`, or the PGlite instance. */
  readonly client: pg.Pool | PGlite
  /** The connection string of this login (the server or PgBouncer); undefined on PGlite. */
  readonly url: string | undefined
  /** Runs SQL (several statements allowed) as this login, outside any scope. */
  exec(sql: string): Promise<Row[]>
  /** How many connections were checked out so far (a scope that sends SQL checks one out). */
  acquires(): number
  /** Makes this login the current one (PGlite has one session; a no-op on a server). */
  activate(): Promise<void>
  end(): Promise<void>
}

export interface Target {
  readonly name: 'pglite' | 'node-postgres' | 'pgbouncer'
  /** Runs SQL as the superuser. */
  superExec(sql: string): Promise<Row[]>
  /** A login as `role`, or as the superuser when `role` is null. */
  login(role: string | null, options?: { max?: number }): Promise<Login>
  close(): Promise<void>
}

export interface TargetFactory {
  readonly name: Target['name']
  create(): Promise<Target>
}

/** Targets for this run: PGlite, plus node-postgres when DATABASE_URL is set, plus node-postgres
 * through PgBouncer when PGBOUNCER_URL is set too. */
export function targets(): TargetFactory[] {
  const list: TargetFactory[] = [{ name: 'pglite', create: pgliteTarget }]
  const url = process.env['DATABASE_URL']
  const bouncer = process.env['PGBOUNCER_URL']
  if (url) list.push({ name: 'node-postgres', create: () => nodePgTarget('node-postgres', url, url) })
  if (url && bouncer) list.push({ name: 'pgbouncer', create: () => nodePgTarget('pgbouncer', url, bouncer) })
  return list
}

/** Declares `body` once per target, in a describe block that starts the target before its tests
 * and closes it after; `target()` is the started target. */
export function describeTargets(body: (target: () => Target) => void): void {
  for (const factory of targets()) {
    describe(factory.name, () => {
      let target: Target | undefined
      beforeAll(async () => {
        target = await factory.create()
      })
      afterAll(async () => {
        await target?.close()
      })
      body(() => {
        if (!target) throw new Error(`target ${factory.name} did not start`)
        return target
      })
    })
  }
}

/** A short random suffix for per-fixture schema and role names (roles are cluster-wide). */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`
}

async function pgliteTarget(): Promise<Target> {
  const lite = await PGlite.create()
  let current: string | null = null
  let acquired = 0
  const transaction = lite.transaction.bind(lite)
  lite.transaction = (fn: never) => {
    acquired++
    return transaction(fn)
  }
  const use = async (role: string | null) => {
    await lite.exec(role === null ? 'RESET ROLE' : `SET ROLE "${role}"`)
    current = role
  }
  return {
    name: 'pglite',
    async superExec(sql) {
      const previous = current
      await use(null)
      try {
        return (await lite.exec(sql)).flatMap((r) => r.rows as Row[])
      } finally {
        await use(previous).catch(() => use(null)) // the previous role may just have been dropped
      }
    },
    async login(role) {
      const db = drizzlePglite(lite)
      const login: Login = {
        db,
        client: lite,
        url: undefined,
        async exec(sql) {
          await login.activate()
          return (await lite.exec(sql)).flatMap((r) => r.rows as Row[])
        },
        acquires: () => acquired,
        activate: () => use(role),
        end: async () => undefined,
      }
      await login.activate()
      return login
    },
    close: () => lite.close(),
  }
}

/** Setup (`superExec`) goes straight to the server at `directUrl`; logins connect to `loginUrl`,
 * which is the same server or PgBouncer in front of it. */
async function nodePgTarget(name: 'node-postgres' | 'pgbouncer', directUrl: string, loginUrl: string): Promise<Target> {
  const superPool = new pg.Pool({ connectionString: directUrl, max: 2 })
  const pools: pg.Pool[] = []
  return {
    name,
    async superExec(sql) {
      const result = (await superPool.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[]
      return (Array.isArray(result) ? result : [result]).flatMap((r) => r.rows as Row[])
    },
    async login(role, options = {}) {
      const u = new URL(loginUrl)
      if (role !== null) u.username = role
      const pool = new pg.Pool({ connectionString: u.toString(), max: options.max ?? 5 })
      pools.push(pool)
      let acquired = 0
      pool.on('acquire', () => acquired++)
      return {
        db: drizzleNodePg(pool),
        client: pool,
        url: u.toString(),
        async exec(sql) {
          const result = (await pool.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[]
          return (Array.isArray(result) ? result : [result]).flatMap((r) => r.rows as Row[])
        },
        acquires: () => acquired,
        activate: async () => undefined,
        end: () => pool.end(),
      }
    },
    async close() {
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)))
      await superPool.end()
    },
  }
}
