#!/usr/bin/env node
/**
 * The `pg-tenants` executable: `main` on the real process. The first Ctrl-C asks the command to
 * stop at its next safe point (`Io.signal`); a second one exits at once. Both exit with 130.
 * SIGTERM and SIGHUP exit through `process.exit` too, so that 'exit' listeners remove what a
 * command had half-written.
 *
 * @module
 */
import { EXIT, oneLine } from './io.js'
import { main } from './main.js'

const controller = new AbortController()
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(EXIT.interrupted)
  controller.abort()
})
// Terminated or hung up: exit as the signal would, but through process.exit, so that 'exit'
// listeners (which remove a half-written migration or a temporary schema bundle) still run.
process.on('SIGTERM', () => process.exit(128 + 15))
process.on('SIGHUP', () => process.exit(128 + 1))

// `pg-tenants tenants list | head -1`: the reader went away; stop quietly, as other Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok)
    throw error
  })
}

// Whatever escapes `main` (an error thrown from a stray callback): one line and exit 1 as well.
process.on('uncaughtException', (error: unknown) => {
  const message = error instanceof Error ? oneLine(error.message) || error.name : oneLine(String(error))
  process.stderr.write(`pg-tenants: ${message}\n`)
  if (process.env['PG_TENANTS_DEBUG'] === '1' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`)
  process.exit(EXIT.failure)
})

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
})
// After an interruption a command may have left work behind (a query in flight, an open pool):
// nothing of it is wanted any more.
if (code === EXIT.interrupted) process.exit(code)
process.exitCode = code
