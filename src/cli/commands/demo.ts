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
} as const

/** What the demo imports (pg and drizzle-orm/node-postgres even on PGlite). */
const PEERS = ['drizzle-orm', '@electric-sql/pglite', 'pg'] as const

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the demo: two tenants, isolated by row-level security, on in-memory PGlite',
  help: `Usage: pg-tenants demo [--url <postgres://…>]

Runs the pg-tenants demo end to end: a withRls table, its migration, two tenants that each see
only their own rows, a write into the other tenant refused, a tenant session, withAdmin, and
nothing visible outside a scope (fail closed). It runs as an ordinary login role, not as a
superuser (row-level security does not bind a superuser).

By default it runs on an in-memory PGlite database and leaves nothing behind. With --url it runs
on that server instead (DATABASE_URL is not used: a demo only goes where it is sent); the URL's
user must be able to create roles and schemas. It works in the schema tenants_demo with the roles
tenants_demo_app, tenants_demo_rls and tenants_demo_admin, and drops them at the end.

It needs drizzle-orm, @electric-sql/pglite and pg next to pg-tenants:
  npm install drizzle-orm @electric-sql/pglite pg

  --url <postgres://…>        run on this server instead of in-memory PGlite
  -h, --help                  this help

Exit codes: 0 the demo ran; 1 it failed; 2 bad input (a missing package, an unknown flag).

Examples:
  npx pg-tenants demo
  npx pg-tenants demo --url postgres://postgres@127.0.0.1:5432/postgres`,

  async run(argv) {
    const { values } = parseFlags('demo', argv, FLAGS)
    if (values.url !== undefined && !/^postgres(?:ql)?:\/\//.test(values.url)) {
      throw new UsageError('--url must be a postgres:// URL: pass --url postgres://user@host:5432/db, or leave it out for in-memory PGlite.')
    }
    const require = createRequire(import.meta.url)
    const missing = PEERS.filter((name) => {
      try {
        require.resolve(name)
        return false
      } catch {
        return true
      }
    })
    if (missing.length > 0) {
      throw new UsageError(`The demo needs ${missing.join(', ')} next to pg-tenants: npm install ${PEERS.join(' ')}.`)
    }
    // The demo takes its database from DATABASE_URL, read as it starts: it sees --url, or none.
    const before = process.env['DATABASE_URL']
    if (values.url === undefined) delete process.env['DATABASE_URL']
    else process.env['DATABASE_URL'] = values.url
    try {
      await import('../../../examples/demo.js')
    } finally {
      if (before === undefined) delete process.env['DATABASE_URL']
      else process.env['DATABASE_URL'] = before
    }
    return EXIT.ok
  },
}
