/**
 * `npm run example:todo-api`: the multi-tenant todo API on http://127.0.0.1:3000 (PORT), on an
 * in-memory PGlite, or on the PostgreSQL of DATABASE_URL. Tokens are HS256 JWTs signed with
 * TODO_API_SECRET; without it, a random secret is made for this run and printed, with a token
 * for each demo tenant. See README.md.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { TenantAlreadyExists } from '../../src/index.js'
import { createApp } from './app.js'
import { mintToken, secretKey } from './auth.js'
import { openDatabase } from './database.js'
import { listen } from './server.js'

const DEMO_TENANTS = ['acme', 'globex']

const given = process.env['TODO_API_SECRET']
const secret = given ?? randomBytes(32).toString('hex')
const key = secretKey(secret)
const database = await openDatabase({ url: process.env['DATABASE_URL'] })
const { manager } = database

for (const tenant of DEMO_TENANTS) {
  try {
    await manager.createTenant(tenant)
  } catch (error) {
    if (!(error instanceof TenantAlreadyExists)) throw error
  }
}

const server = await listen(createApp({ manager, key }), Number(process.env['PORT'] ?? 3000), process.env['HOST'] ?? '127.0.0.1')
console.log(`todo API on ${server.url} (${database.label}); tenants: ${[...(await manager.listTenants())].join(', ')}`)
if (given === undefined) {
  console.log(`No TODO_API_SECRET: this run signs with a random one. To mint tokens for it:\n  export TODO_API_SECRET=${secret}`)
}
for (const tenant of DEMO_TENANTS) console.log(`  ${tenant} token (1 h): ${await mintToken(key, tenant)}`)

const stop = () => {
  console.log('stopping')
  void server.close().then(() => database.close())
}
process.once('SIGINT', stop).once('SIGTERM', stop)
