/**
 * `pg-tenants demo`: the repository's `npm run demo` (examples/demo.ts, bundled into the CLI), so
 * that it runs from an installed package too. It needs drizzle-orm, @electric-sql/pglite and pg,
 * optional peers of pg-tenants: a missing one is a usage error that says what to install.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { parseFlags } from '../args.js'
import type { Command } from '../command.js'
import { EXIT, UsageError } from '../io.js'

const FLAGS = {
  url: { type: 'string' },
  stack: { type: 'string' },
} as const

/** What the demo imports on each stack (pg and PGlite always: its setup uses them). */
const PEERS: Readonly<Record<string, readonly string[]>> = {
  drizzle: ['drizzle-orm', '@electric-sql/pglite', 'pg'],
  pg: ['@electric-sql/pglite', 'pg'],
  pglite: ['@electric-sql/pglite', 'pg'],
  'postgres-js': ['@electric-sql/pglite', 'pg', 'postgres'],
  kysely: ['@electric-sql/pglite', 'pg', 'kysely'],
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the demo: two tenants, isolated by row-level security, on in-memory PGlite',
  help: `Usage: pg-tenants demo [--url <postgres://…>] [--stack <stack>]

Runs the pg-tenants demo end to end: a withRls table, its migration, two tenants that each see
only their own rows, a write into the other tenant refused, a tenant session, withAdmin, and
nothing visible outside a scope (fail closed). It runs as an ordinary login role, not as a
superuser (row-level security does not bind a superuser).

By default it runs on an in-memory PGlite database and leaves nothing behind. With --url it runs
on that server instead (DATABASE_URL is not used: a demo only goes where it is sent); the URL's
user must be able to create roles and schemas. It works in the schema tenants_demo with the roles
tenants_demo_app, tenants_demo_rls and tenants_demo_admin, and drops them at the end.

It runs on Drizzle by default; --stack picks another (pg and postgres-js need --url, pglite runs
without it, drizzle and kysely run on either).
It needs @electric-sql/pglite and pg next to pg-tenants, and the stack's own package:
  npm install @electric-sql/pglite pg drizzle-orm

  --url <postgres://…>        run on this server instead of in-memory PGlite
  --stack <stack>             drizzle (default), pg, pglite, postgres-js, kysely
  -h, --help                  this help

Exit codes: 0 the demo ran; 1 it failed; 2 bad input (a missing package, an unknown flag).

Examples:
  npx pg-tenants demo
  npx pg-tenants demo --url postgres://postgres@127.0.0.1:5432/postgres
  npx pg-tenants demo --stack pglite`,

  async run(argv) {
    const { values } = parseFlags('demo', argv, FLAGS)
    if (values.url !== undefined && !/^postgres(?:ql)?:\/\//.test(values.url)) {
      throw new UsageError('--url must be a postgres:// URL: pass --url postgres://user@host:5432/db, or leave it out for in-memory PGlite.')
    }
    const stack = values.stack ?? 'drizzle'
    const peers = PEERS[stack]
    if (peers === undefined) throw new UsageError(`Unknown --stack ${JSON.stringify(stack)}: use one of ${Object.keys(PEERS).join(', ')}.`)
    if (stack === 'pg' && values.url === undefined)
      throw new UsageError('--stack pg needs a server: pass --url postgres://user@host:5432/db (or use --stack pglite).')
    if (stack === 'pglite' && values.url !== undefined) throw new UsageError('--stack pglite runs on in-memory PGlite: leave out --url (or use --stack pg).')
    const require = createRequire(import.meta.url)
    const missing = peers.filter((name) => {
      try {
        require.resolve(name)
        return false
      } catch {
        return true
      }
    })
    if (missing.length > 0) {
      throw new UsageError(`The demo needs ${missing.join(', ')} next to pg-tenants: npm install ${peers.join(' ')}.`)
    }
    // The demo takes its database from DATABASE_URL, read as it starts: it sees --url, or none.
    const before = { url: process.env['DATABASE_URL'], stack: process.env['PG_TENANTS_DEMO_STACK'] }
    if (values.url === undefined) delete process.env['DATABASE_URL']
    else process.env['DATABASE_URL'] = values.url
    process.env['PG_TENANTS_DEMO_STACK'] = stack
    try {
      await import('../../../examples/demo.js')
    } finally {
      restore('DATABASE_URL', before.url)
      restore('PG_TENANTS_DEMO_STACK', before.stack)
    }
    return EXIT.ok
  },
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
}
