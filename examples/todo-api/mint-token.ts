/**
 * Mints a demo token for the todo API: `npx tsx examples/todo-api/mint-token.ts <tenant> [expiry]`
 * (expiry a jose time span, default 1h: 15m, 2d, …), signed with TODO_API_SECRET (the server's).
 *
 * @module
 */
import { mintToken, secretKey } from './auth.js'

const [tenant, expiresIn = '1h'] = process.argv.slice(2)
const secret = process.env['TODO_API_SECRET']
if (tenant === undefined || secret === undefined) {
  console.error("usage: TODO_API_SECRET=<the server's secret> npx tsx examples/todo-api/mint-token.ts <tenant> [expiry, default 1h]")
  process.exit(2)
}
console.log(await mintToken(secretKey(secret), tenant, expiresIn))
