/**
 * The example app's list endpoint (examples/todo-api), requests per second over real HTTP:
 * `scoped` is the app as it ships (the tenant middleware, then one `manager.scoped()` statement:
 * BEGIN with the scoping, the SELECT, COMMIT) and `plain` the same handler without tenant scoping
 * (the same JWT check, then the same query on a plain Drizzle database with an explicit
 * `WHERE tenant = <claim>`, autocommit; `plain tx`: the same in a transaction, BEGIN and COMMIT
 * being the round trips a scope adds, as when a request holds one transaction). Both servers run in this process with pools of the same
 * size, on the same table and rows (`plain` logs in as the server's superuser, which row-level
 * security does not bind: what an app without it would see); a keep-alive load loop (node:http
 * Agent, CONCURRENCY clients) drives them in interleaved rounds, and the ratio scoped/plain is the
 * median of the rounds' ratios (target ≥ 0.95).
 *
 * Usage: `npm run bench:todo-api` (DATABASE_URL: a superuser URL, default the local test server;
 * TODO_BENCH_ROUNDS, TODO_BENCH_MS, TODO_BENCH_CONCURRENCY, TODO_BENCH_POOL to change the run).
 *
 * @module
 */
import http from 'node:http'
import { asc, eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { Hono } from 'hono'
import pg from 'pg'
import { runWithTenant } from '../src/index.js'
import { createApp } from '../examples/todo-api/app.js'
import { mintToken, secretKey, tenantOf } from '../examples/todo-api/auth.js'
import { openDatabase, type TodoDatabase } from '../examples/todo-api/database.js'
import { schema as tables, todos } from '../examples/todo-api/schema.js'
import { listen, type RunningServer } from '../examples/todo-api/server.js'
import { DATABASE_URL, serverInfo, superExec } from './lib/setup.js'

const ROUNDS = Number(process.env['TODO_BENCH_ROUNDS'] ?? 6)
const ROUND_MS = Number(process.env['TODO_BENCH_MS'] ?? 1500)
const CONCURRENCY = Number(process.env['TODO_BENCH_CONCURRENCY'] ?? 16)
const POOL = Number(process.env['TODO_BENCH_POOL'] ?? 8)
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli']
const TODOS_EACH = 10
const key = secretKey('the todo-api benchmark secret, 32 characters or more')

/** The list handler without tenant scoping: the app's columns, an explicit WHERE on the claim. */
function plainApp(url: string, schema: string): { app: Hono; pool: pg.Pool } {
  // GET /todos autocommit (one round trip); GET /tx/todos the same in a transaction (BEGIN,
  // SELECT, COMMIT: the round trips of a scope, without its scoping).
  const pool = new pg.Pool({ connectionString: url, max: POOL, options: `-c search_path=${schema}` })
  const db = drizzle(pool, { schema: tables })
  const columns = { id: todos.id, tenant: todos.tenant, title: todos.title, done: todos.done, createdAt: todos.createdAt }
  const app = new Hono()
  for (const [path, inTransaction] of [
    ['/todos', false],
    ['/tx/todos', true],
  ] as const) {
    app.get(path, async (c) => {
      const tenant = await tenantOf(c.req.header('authorization'), key)
      if (tenant === undefined) return c.json({ error: { code: 'UNAUTHORIZED', message: 'A valid bearer token is required.' } }, 401)
      const list = (q: Pick<typeof db, 'select'>) => q.select(columns).from(todos).where(eq(todos.tenant, tenant)).orderBy(asc(todos.id))
      return c.json(inTransaction ? await db.transaction(async (tx) => list(tx)) : await list(db))
    })
  }
  return { app, pool }
}

/** GET `path` on `agent`'s keep-alive sockets; resolves with the status and body. */
function get(agent: http.Agent, url: URL, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end()
  })
}

/** Requests per second of GET /todos on `server` for `ms`, CONCURRENCY clients, tenants in turn. */
async function load(server: RunningServer, tokens: readonly string[], ms: number, path = '/todos'): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const url = new URL(path, server.url)
  const until = performance.now() + ms
  let done = 0
  const client = async (n: number) => {
    for (let i = n; performance.now() < until; i += CONCURRENCY) {
      const { status } = await get(agent, url, tokens[i % tokens.length]!)
      if (status !== 200) throw new Error(`GET /todos answered ${status}`)
      done++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, n) => client(n)))
  const seconds = (performance.now() - started) / 1000
  agent.destroy()
  return done / seconds
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function main(): Promise<void> {
  const { superuser, version } = await serverInfo(DATABASE_URL)
  if (!superuser) throw new Error('bench:todo-api needs a superuser DATABASE_URL (it creates the app login, and the plain variant reads as it).')
  const schema = `todo_bench_${process.pid.toString(36)}`
  let database: TodoDatabase | undefined
  let plain: ReturnType<typeof plainApp> | undefined
  const servers: RunningServer[] = []
  try {
    database = await openDatabase({ url: DATABASE_URL, schema, poolSize: POOL })
    const { manager } = database
    const db = manager.scoped()
    for (const tenant of TENANTS) {
      await runWithTenant(tenant, () => db.insert(todos).values(Array.from({ length: TODOS_EACH }, (_, i) => ({ tenant, title: `${tenant} todo ${i}` }))))
    }
    plain = plainApp(DATABASE_URL, schema)
    const scopedServer = await listen(createApp({ manager, key }))
    const plainServer = await listen(plain.app)
    servers.push(scopedServer, plainServer)
    const tokens = await Promise.all(TENANTS.map((t) => mintToken(key, t)))

    // Both answer the same, tenant by tenant, before anything is timed.
    const agent = new http.Agent({ keepAlive: true })
    for (const token of tokens) {
      const [a, b] = await Promise.all([scopedServer, plainServer].map((s) => get(agent, new URL('/todos', s.url), token)))
      if (a!.status !== 200 || a!.body !== b!.body || (JSON.parse(a!.body) as unknown[]).length !== TODOS_EACH) {
        throw new Error(`the two variants disagree: ${a!.status} ${a!.body.slice(0, 80)} / ${b!.status} ${b!.body.slice(0, 80)}`)
      }
    }
    agent.destroy()

    console.log(
      `todo-api GET /todos (${TODOS_EACH} rows), PostgreSQL ${version}, pools of ${POOL}, ${CONCURRENCY} keep-alive clients, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms`,
    )
    const variants = {
      scoped: () => load(scopedServer, tokens, ROUND_MS),
      plain: () => load(plainServer, tokens, ROUND_MS),
      'plain tx': () => load(plainServer, tokens, ROUND_MS, '/tx/todos'),
    }
    // warm-up: JIT, prepared plans, pool connections
    for (const [server, path] of [
      [scopedServer, '/todos'],
      [plainServer, '/todos'],
      [plainServer, '/tx/todos'],
    ] as const)
      await load(server, tokens, 500, path)
    const ratios: number[] = []
    const txRatios: number[] = []
    const rows: string[] = ['| round | scoped req/s | plain req/s | plain tx req/s | scoped / plain | scoped / plain tx |', '|---|---|---|---|---|---|']
    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate which goes first, so that none always runs on a warmer (or hotter) machine.
      const names = Object.keys(variants) as (keyof typeof variants)[]
      const order = [...names.slice(round % 3), ...names.slice(0, round % 3)]
      const rps: Partial<Record<keyof typeof variants, number>> = {}
      for (const name of order) rps[name] = await variants[name]()
      const { scoped = 0, plain: bare = 1, 'plain tx': tx = 1 } = rps
      ratios.push(scoped / bare)
      txRatios.push(scoped / tx)
      rows.push(`| ${round} | ${scoped.toFixed(0)} | ${bare.toFixed(0)} | ${tx.toFixed(0)} | ${(scoped / bare).toFixed(3)} | ${(scoped / tx).toFixed(3)} |`)
    }
    console.log(rows.join('\n'))
    const ratio = median(ratios)
    console.log(
      `median scoped / plain: ${ratio.toFixed(3)} (target ≥ 0.95: ${ratio >= 0.95 ? 'met' : 'NOT met'}); scoped / plain tx: ${median(txRatios).toFixed(3)}`,
    )
  } finally {
    for (const s of servers) await s.close()
    await plain?.pool.end()
    await database?.close()
    if (database) {
      const { names } = database
      await superExec(DATABASE_URL, `DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(names.schema)} CASCADE`)
      for (const role of [names.login, names.options.tenantRole!, names.options.adminRole!]) {
        const [found] = await superExec(DATABASE_URL, `SELECT FROM pg_roles WHERE rolname = ${pg.escapeLiteral(role)}`)
        if (found?.rowCount === 1) await superExec(DATABASE_URL, `DROP OWNED BY ${pg.escapeIdentifier(role)} CASCADE; DROP ROLE ${pg.escapeIdentifier(role)}`)
      }
    }
  }
}

await main()
