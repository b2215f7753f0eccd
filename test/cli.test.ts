/**
 * The `pg-tenants` CLI: the shell (dispatch, help, version, exit codes, one-line errors, colour,
 * progress, Ctrl-C) in-process through `main(argv, io)`, the built bin once as a real process,
 * and `tenants list | create | delete` against the server at DATABASE_URL for both strategies,
 * as a non-superuser CREATEROLE login that owns the tables (the production setup).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Command } from '../src/cli/command.js'
import { COMMANDS } from '../src/cli/commands.js'
import { Interrupted, progressFor } from '../src/cli/io.js'
import { buildMigration } from '../src/core/migration.js'
import type { Strategy, TenantOptions } from '../src/core/options.js'
import { bundleBin, fakeIo as fakeIoIn, makeTempDir, runCli, type FakeIoOptions, type Run } from './support/cli.js'
import { cleanupSql } from './support/fixture.js'
import { uniqueSuffix } from './support/targets.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DATABASE_URL = process.env['DATABASE_URL']
const UNREACHABLE = 'postgres://postgres@127.0.0.1:1/test'
// eslint-disable-next-line no-control-regex -- \x1b[ starts an ANSI colour sequence, which is what it looks for
const ANSI = /\x1b\[/

const fakeIo = (options: Omit<FakeIoOptions, 'cwd'> = {}) => fakeIoIn({ cwd: ROOT, ...options })

async function cli(argv: string[], options: Omit<FakeIoOptions, 'cwd'> = {}, commands?: readonly Command[]): Promise<Run> {
  return runCli(argv, { cwd: ROOT, ...options }, commands)
}

/** A usage error: exit 2, exactly one line on stderr, no stack, nothing on stdout. */
function expectUsageError(run: Run, pattern: RegExp): void {
  expect(run.code).toBe(2)
  expect(run.out).toBe('')
  expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
  expect(run.err).toMatch(/^pg-tenants: /)
  expect(run.err).toMatch(pattern)
  expect(run.err).not.toMatch(/\n\s+at /)
}

describe('cli shell', () => {
  it('prints the command list on --help, and on no command as a usage error', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.err).toBe('')
    expect(help.out).toMatch(/^Usage: pg-tenants <command>/)
    expect(help.out).toMatch(/tenants\s+list, create or delete tenants/)
    expect(help.out).toMatch(/Exit codes:/)
    const bare = await cli([])
    expect(bare.code).toBe(2)
    expect(bare.out).toBe('')
    expect(bare.err).toMatch(/^Usage: pg-tenants/)
  })

  it('prints the package version on --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(await cli(['--version'])).toEqual({ code: 0, out: `${version}\n`, err: '' })
    expect((await cli(['-v'])).out).toBe(`${version}\n`)
  })

  it('gives every command a help with usage, flags, exit codes and an example', async () => {
    expect(COMMANDS.map((c) => c.name)).toContain('tenants')
    for (const command of COMMANDS) {
      expect(command.help, command.name).toMatch(/Usage/i)
      expect(command.help, command.name).toMatch(/--[a-z]/)
      expect(command.help, command.name).toMatch(/Exit codes/i)
      expect(command.help, command.name).toMatch(/Example/i)
      for (const argv of [
        ['help', command.name],
        [command.name, '--help'],
        [command.name, 'list', '-h'],
      ]) {
        expect(await cli(argv), argv.join(' ')).toEqual({ code: 0, out: command.help + '\n', err: '' })
      }
    }
  })

  it('treats --help after "--" as an argument, not as a request for help', async () => {
    // `--help` here is a tenant id; the database is unreachable, so it fails on connecting.
    expectUsageError(await cli(['tenants', 'create', '--url', UNREACHABLE, '--', '--help']), /Cannot connect/)
  })

  it('refuses unknown commands, flags and subcommands with exit 2 and one line', async () => {
    expectUsageError(await cli(['nope']), /Unknown command "nope".*pg-tenants --help/)
    expectUsageError(await cli(['help', 'nope']), /Unknown command "nope"/)
    expect((await cli(['help', '--help'])).out).toMatch(/^Usage: pg-tenants <command>/)
    expectUsageError(await cli(['--nope']), /Unknown option --nope: flags go after the command/)
    expectUsageError(await cli(['tenants', 'list', '--nope']), /Unknown option '--nope'.*pg-tenants tenants --help/)
    expectUsageError(await cli(['tenants', 'list', '--url']), /argument missing/)
    expectUsageError(await cli(['tenants']), /Missing subcommand/)
    expectUsageError(await cli(['tenants', 'rename', 'a']), /Unknown subcommand "rename"/)
    expectUsageError(await cli(['tenants', 'create']), /needs at least one tenant id/)
    expectUsageError(await cli(['tenants', 'list', 'acme']), /takes no tenant id/)
    expectUsageError(await cli(['tenants', 'create', 'a', '--json']), /--json is a flag of `tenants list`/)
    expectUsageError(await cli(['tenants', 'delete', 'a', '--if-not-exists']), /--if-not-exists is a flag of `tenants create`/)
    expectUsageError(await cli(['tenants', 'list', '--sql', 'SELECT 1']), /--sql is a flag of `tenants run`/)
    expectUsageError(await cli(['tenants', 'run', 'acme', '--sql', 'SELECT 1']), /takes no tenant id/)
    expectUsageError(await cli(['tenants', 'create', '-5']), /Unknown option '-5'.*after '--'/)
  })

  it('refuses an unknown strategy, bad options and a bad --id-type before connecting', async () => {
    const url = ['--url', UNREACHABLE]
    expectUsageError(await cli(['tenants', 'list', '--strategy', 'nope', ...url]), /Unknown strategy "nope": use --strategy setting or --strategy role/)
    expectUsageError(await cli(['tenants', 'list', '--db-schema', 'bad name', ...url]), /Option schema must be a plain SQL name/)
    expectUsageError(await cli(['tenants', 'list', '--tenant-role', 'x', '--admin-role', 'x', ...url]), /must be two different roles/)
    expectUsageError(await cli(['tenants', 'list', '--id-type', 'float', ...url]), /Unknown --id-type "float": use text, integer, bigint, uuid/)
  })

  it('refuses the role strategy without a role prefix (flag or --schema) before connecting', async () => {
    const url = ['--url', UNREACHABLE]
    for (const action of [['list'], ['create', 'abc'], ['delete', 'abc']]) {
      expectUsageError(
        await cli(['tenants', ...action, '--strategy', 'role', '--tenant-role', 'x_rls', '--admin-role', 'x_admin', ...url]),
        /The role strategy needs the app's role prefix .*--role-prefix \(--role-prefix tenant_ for the default\), or --schema <file>/,
      )
    }
    // Said explicitly, even the default is taken: the command goes on to connect.
    expectUsageError(await cli(['tenants', 'list', '--strategy', 'role', '--role-prefix', 'tenant_', ...url]), /Cannot connect/)
  })

  it('takes the strategy and role prefix from --schema, and refuses flags that disagree with it', async () => {
    const dir = makeTempDir('cli-schema-')
    try {
      writeFileSync(
        join(dir, 'schema.ts'),
        `import { pgTable, integer } from 'drizzle-orm/pg-core'\nimport { withRls } from ${JSON.stringify(join(ROOT, 'src', 'drizzle', 'index.js'))}\n` +
          `export const t = withRls(pgTable('t', { tenant: integer('tenant') }), { strategy: 'role', rolePrefix: 'crm_t_' })\n`,
      )
      const schema = ['--schema', join(dir, 'schema.ts'), '--url', UNREACHABLE]
      expectUsageError(await cli(['tenants', 'list', ...schema, '--role-prefix', 'other_']), /--role-prefix other_ does not match the schema's withRls tables/)
      expectUsageError(await cli(['tenants', 'list', ...schema, '--strategy', 'setting']), /--strategy setting does not match/)
      // The id type comes from the tenant column too: an integer column takes no "abc".
      expectUsageError(await cli(['tenants', 'create', 'abc', ...schema]), /abc/)
      expectUsageError(await cli(['tenants', 'create', '42', ...schema]), /Cannot connect/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a bad tenant id before connecting (exit 2, nothing written)', async () => {
    const url = ['--url', UNREACHABLE]
    expectUsageError(await cli(['tenants', 'create', 'ok', '', ...url]), /Invalid tenant id "": it is empty\. Nothing was written\./)
    expectUsageError(await cli(['tenants', 'create', 'a\0b', ...url]), /NUL byte/)
    expectUsageError(
      await cli(['tenants', 'delete', 'x'.repeat(60), '--strategy', 'role', '--role-prefix', 'tenant_', ...url]),
      /60 bytes long; the limit here is 56 bytes/,
    )
    expectUsageError(await cli(['tenants', 'create', '12x', '--id-type', 'integer', ...url]), /the tenant column is integer: pass an integer/)
    expectUsageError(await cli(['tenants', 'create', 'not-a-uuid', '--id-type', 'uuid', ...url]), /pass a uuid string/)
  })

  it('reports a database that does not connect on one line with exit 2 and no stack', async () => {
    expectUsageError(
      await cli(['tenants', 'list', '--url', UNREACHABLE]),
      /Cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/test: connect ECONNREFUSED.*Is the server running/,
    )
    expectUsageError(await cli(['tenants', 'list', '--url', 'postgres://u:secret@127.0.0.1:1/test']), /u:\*\*\*@/)
    expect((await cli(['tenants', 'list', '--url', 'postgres://u:secret@127.0.0.1:1/test'])).err).not.toContain('secret')
    expectUsageError(await cli(['tenants', 'list', '--url', 'mysql://x@y/z']), /is not a postgres:\/\/ URL/)
    expectUsageError(await cli(['tenants', 'list']), /No database: pass --url .* or set DATABASE_URL/)
    const fromEnv = await cli(['tenants', 'list'], { env: { DATABASE_URL: UNREACHABLE } })
    expectUsageError(fromEnv, /Cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/test/)
  })

  it.skipIf(!DATABASE_URL)('explains a missing database and an unknown user on one line', async () => {
    const url = new URL(DATABASE_URL!)
    url.pathname = `/pgt_missing_${uniqueSuffix()}`
    expectUsageError(await cli(['tenants', 'list', '--url', url.toString()]), /database "pgt_missing_\w+" does not exist\. Create the database/)
    const user = new URL(DATABASE_URL!)
    user.username = `pgt_nobody_${uniqueSuffix()}`
    expectUsageError(await cli(['tenants', 'list', '--url', user.toString()]), /role "pgt_nobody_\w+" does not exist\. Check the user and password/)
  })

  it('turns an unexpected exception into exit 1 and one line; the stack only with PG_TENANTS_DEBUG=1', async () => {
    const boom: Command = {
      name: 'boom',
      summary: 'throws',
      help: 'Usage: pg-tenants boom',
      run: async () => {
        throw Object.assign(new Error('it broke\nsecond line'), { code: '42P01' })
      },
    }
    const quiet = await cli(['boom'], {}, [boom])
    expect(quiet.code).toBe(1)
    expect(quiet.err).toBe('pg-tenants: it broke [42P01] (PG_TENANTS_DEBUG=1 shows the stack)\n')
    const debug = await cli(['boom'], { env: { PG_TENANTS_DEBUG: '1' } }, [boom])
    expect(debug.code).toBe(1)
    expect(debug.err.split('\n')[0]).toBe('pg-tenants: it broke [42P01]')
    expect(debug.err).toMatch(/\n\s+at /)
  })

  it('exits 130 when interrupted: at once for a command that stops, after a grace for one that does not', async () => {
    const stops: Command = {
      name: 'stops',
      summary: '',
      help: '',
      run: (_argv, io) => new Promise((_, reject) => io.signal?.addEventListener('abort', () => reject(new Interrupted('Interrupted: did 1 of 3.')))),
    }
    const hangs: Command = { name: 'hangs', summary: '', help: '', run: () => new Promise(() => undefined) }
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 20)
    const started = Date.now()
    expect(await cli(['stops'], { signal: controller.signal }, [stops])).toEqual({ code: 130, out: '', err: 'pg-tenants: Interrupted: did 1 of 3.\n' })
    expect(Date.now() - started).toBeLessThan(1_000)
    const aborted = AbortSignal.abort()
    expect(await cli(['hangs'], { signal: aborted }, [hangs])).toEqual({ code: 130, out: '', err: 'pg-tenants: Interrupted.\n' })
  })

  it('colours only a TTY, and honours NO_COLOR and FORCE_COLOR', async () => {
    expect((await cli(['--help'])).out).not.toMatch(ANSI)
    expect((await cli(['--help'], { tty: true })).out).toMatch(ANSI)
    expect((await cli(['--help'], { tty: true, env: { NO_COLOR: '1' } })).out).not.toMatch(ANSI)
    expect((await cli(['--help'], { env: { FORCE_COLOR: '1' } })).out).toMatch(ANSI)
    expect((await cli(['nope'])).err).not.toMatch(ANSI)
    // eslint-disable-next-line no-control-regex -- \x1b[ starts an ANSI colour sequence, which is what it looks for
    expect((await cli(['nope'], { tty: true })).err).toMatch(/^\x1b\[31mpg-tenants:\x1b\[39m Unknown command/)
  })

  it('draws progress only on a TTY and for enough work, keeping printed lines above it', () => {
    const plain = fakeIo()
    const quiet = progressFor(plain.io)
    quiet.update(1, 100, 'a')
    quiet.print(plain.io.stdout, 'created a')
    quiet.end()
    expect(plain.out()).toBe('created a\n')
    expect(plain.err()).toBe('')

    const few = fakeIo({ tty: true })
    progressFor(few.io).update(1, 5, 'a')
    expect(few.err()).toBe('')

    const tty = fakeIo({ tty: true })
    const bar = progressFor(tty.io)
    bar.update(0, 40, 'line\nbreak')
    expect(tty.err()).toBe('\r\x1b[2K[........................] 0/40 line\\nbreak')
    bar.print(tty.io.stdout, 'created a')
    expect(tty.out()).toBe('created a\n')
    bar.update(40, 40, '')
    bar.end()
    // eslint-disable-next-line no-control-regex -- \x1b[2K: the ANSI sequence that clears the progress line
    expect(tty.err()).toMatch(/\[#{24}\] 40\/40 \r\x1b\[2K$/)
  })

  it('spawns the built bin: node dist/cli.js --help', async () => {
    const bin = await builtBin()
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
    const { FORCE_COLOR: _, ...inherited } = process.env
    const env = { ...inherited, NO_COLOR: '1' }
    const help = spawnSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8', env })
    expect(help.stderr).toBe('')
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^Usage: pg-tenants <command>/)
    const bad = spawnSync(process.execPath, [bin, 'nope'], { cwd: ROOT, encoding: 'utf8', env })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/^pg-tenants: Unknown command "nope"[^\n]*\n$/)
  })
})

/**
 * dist/cli.js as `npm run build` made it (CI builds before testing). When there is none, the
 * bin is bundled on its own into a temporary directory, as tsup would (split), instead of running the
 * whole build here: that build starts by removing dist/, under any other test that reads it.
 */
async function builtBin(): Promise<string> {
  const dist = join(ROOT, 'dist', 'cli.js')
  if (existsSync(dist)) return dist
  return bundleBin(mkdtempSync(join(tmpdir(), 'pg-tenants-cli-')))
}

describe.skipIf(!DATABASE_URL).each<Strategy>(['setting', 'role'])('tenants, %s strategy, on the server', (strategy) => {
  const suffix = uniqueSuffix()
  const schema = `pgt_cli_${suffix}`
  const owner = `pgt_cli_owner_${suffix}`
  const options: TenantOptions = {
    schema,
    strategy,
    rolePrefix: `pgt_ct${suffix}_`,
    tenantRole: `pgt_cli_rls_${suffix}`,
    adminRole: `pgt_cli_admin_${suffix}`,
    registryTable: `registry_${suffix}`,
  }
  const flags = [
    '--strategy',
    strategy,
    '--db-schema',
    schema,
    '--role-prefix',
    options.rolePrefix!,
    '--tenant-role',
    options.tenantRole!,
    '--admin-role',
    options.adminRole!,
    '--registry-table',
    options.registryTable!,
  ]
  let superPool: pg.Pool
  let url: string

  const tenants = (argv: string[], io: Parameters<typeof fakeIo>[0] = {}) => cli(['tenants', ...argv, '--url', url, ...flags], io)

  /** The tenants as the database holds them, read directly (not through the CLI). */
  async function stored(): Promise<string[]> {
    const { rows } =
      strategy === 'setting'
        ? await superPool.query<{ id: string }>(`SELECT id FROM "${schema}"."${options.registryTable}" ORDER BY id`)
        : await superPool.query<{ id: string }>(`SELECT substr(rolname, length($1) + 1) AS id FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1`, [
            options.rolePrefix,
          ])
    return rows.map((r) => r.id)
  }

  beforeAll(async () => {
    superPool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
    await superPool.query(`CREATE ROLE "${owner}" LOGIN CREATEROLE; CREATE SCHEMA "${schema}" AUTHORIZATION "${owner}"`)
    const u = new URL(DATABASE_URL!)
    u.username = owner
    u.password = ''
    url = u.toString()
    const ownerPool = new pg.Pool({ connectionString: url, max: 1 })
    try {
      await ownerPool.query(`CREATE TABLE "${schema}".todos (id serial PRIMARY KEY, tenant text NOT NULL, title text NOT NULL)`)
      await ownerPool.query(buildMigration([{ schema, name: 'todos', column: 'tenant', type: 'text' }], options).up)
    } finally {
      await ownerPool.end()
    }
  })

  afterAll(async () => {
    if (!superPool) return
    await superPool.query(cleanupSql(schema, options, owner))
    await superPool.end()
  })

  it('lists no tenants at first', async () => {
    expect(await tenants(['list'])).toEqual({ code: 0, out: '', err: '' })
    expect(await tenants(['list', '--json'])).toEqual({ code: 0, out: '[]\n', err: '' })
  })

  it('creates tenants, one line each, and lists them one per line or as JSON', async () => {
    expect(await tenants(['create', 'globex', 'acme', 'acme'])).toEqual({ code: 0, out: 'created globex\ncreated acme\n', err: '' })
    expect(await stored()).toEqual(['acme', 'globex'])
    expect(await tenants(['list'])).toEqual({ code: 0, out: 'acme\nglobex\n', err: '' })
    expect(await tenants(['list', '--json'])).toEqual({ code: 0, out: '["acme","globex"]\n', err: '' })
    const tty = await tenants(['list'], { tty: true })
    expect(tty.out).toBe('acme\nglobex\n')
    expect(tty.err).toMatch(new RegExp(`2 tenants \\(${strategy} strategy\\)`))
  })

  it('says so when a tenant exists: exit 1, the others still created; --if-not-exists skips it', async () => {
    const run = await tenants(['create', 'acme', 'initech'])
    expect(run.code).toBe(1)
    expect(run.out).toBe('created initech\n')
    expect(run.err).toBe('pg-tenants: tenant "acme" already exists; pass --if-not-exists to skip it.\n')
    expect(await tenants(['create', 'acme', '--if-not-exists'])).toEqual({ code: 0, out: 'skipped acme (already exists)\n', err: '' })
    expect(await stored()).toEqual(['acme', 'globex', 'initech'])
  })

  it('writes nothing when one id of many is bad (exit 2)', async () => {
    expectUsageError(await tenants(['create', 'hooli', '', 'piedpiper']), /Invalid tenant id "": it is empty/)
    expectUsageError(await tenants(['delete', 'acme', 'x'.repeat(2000)]), /bytes long/)
    expect(await stored()).toEqual(['acme', 'globex', 'initech'])
  })

  it('deletes tenants; a missing one is exit 1, or skipped with --if-exists', async () => {
    expect(await tenants(['delete', 'initech'])).toEqual({ code: 0, out: 'deleted initech\n', err: '' })
    const missing = await tenants(['delete', 'initech', 'globex'])
    expect(missing.code).toBe(1)
    expect(missing.out).toBe('deleted globex\n')
    expect(missing.err).toBe('pg-tenants: tenant "initech" does not exist; pass --if-exists to skip it.\n')
    expect(await tenants(['delete', 'initech', '--if-exists'])).toEqual({ code: 0, out: 'skipped initech (does not exist)\n', err: '' })
    expect(await stored()).toEqual(['acme'])
  })

  it('keeps odd ids exact: quotes, unicode, a leading "-" after "--", control characters shown as JSON', async () => {
    const odd = [`o'brien "x"`, 'zürich-東京', '-5', 'tab\there']
    const withFlags = (action: string) => ['tenants', action, '--url', url, ...flags, '--', ...odd]
    const created = [`created o'brien "x"`, 'created zürich-東京', 'created -5', 'created "tab\\there"']
    expect(await cli(withFlags('create'))).toEqual({ code: 0, out: created.map((line) => line + '\n').join(''), err: '' })
    expect(await stored()).toEqual(expect.arrayContaining(odd))
    const listed = await tenants(['list'])
    expect(listed.out.split('\n')).toEqual(expect.arrayContaining([`o'brien "x"`, 'zürich-東京', '-5', '"tab\\there"']))
    expect(JSON.parse((await tenants(['list', '--json'])).out)).toEqual(expect.arrayContaining(odd))
    expect((await cli(withFlags('delete'))).code).toBe(0)
    expect(await stored()).toEqual(['acme'])
  })

  it('writes uuid ids in lower case with --id-type uuid, as the app does', async () => {
    const id = '3F2504E0-4F89-11D3-9A0C-0305E82C3301'
    expect(await tenants(['create', id, '--id-type', 'uuid'])).toEqual({ code: 0, out: `created ${id.toLowerCase()}\n`, err: '' })
    expect(await stored()).toContain(id.toLowerCase())
    expect((await tenants(['delete', id, '--id-type', 'uuid'])).code).toBe(0)
  })

  it('shows progress and a summary on a TTY, with colour, for many ids', async () => {
    const ids = Array.from({ length: 25 }, (_, i) => `bulk${String(i).padStart(2, '0')}`)
    const run = await tenants(['create', ...ids], { tty: true })
    expect(run.code).toBe(0)
    expect(run.out).toContain('\x1b[32mcreated\x1b[39m bulk00\n')
    // eslint-disable-next-line no-control-regex -- \x1b[2K: the ANSI sequence that clears the progress line
    expect(run.err).toMatch(/\r\x1b\[2K\[[#.]{24}\] \d+\/25 /)
    expect(run.err).toMatch(/created 25 tenants/)
    expect(await stored()).toHaveLength(26)
    const plain = await tenants(['delete', ...ids])
    expect(plain.code).toBe(0)
    expect(plain.out).not.toMatch(ANSI)
    expect(plain.err).toBe('')
    expect(await stored()).toEqual(['acme'])
  })

  it('stops at the next tenant when interrupted (exit 130), keeping what was done', async () => {
    const run = await tenants(['create', 'late1', 'late2'], { signal: AbortSignal.abort() })
    expect(run).toEqual({ code: 130, out: '', err: 'pg-tenants: Interrupted: created 0 of 2 tenants; the other 2 were not attempted.\n' })
    expect(await stored()).toEqual(['acme'])
  })

  it.runIf(strategy === 'role')('creates the role with the prefix and tenant role of the withRls tables given with --schema', async () => {
    const dir = makeTempDir('cli-schema-')
    try {
      writeFileSync(
        join(dir, 'schema.ts'),
        `import { pgTable, text } from 'drizzle-orm/pg-core'\nimport { withRls } from ${JSON.stringify(join(ROOT, 'src', 'drizzle', 'index.js'))}\n` +
          `export const todos = withRls(pgTable('todos', { tenant: text('tenant') }), { strategy: 'role', rolePrefix: ${JSON.stringify(options.rolePrefix)}, tenantRole: ${JSON.stringify(options.tenantRole)} })\n`,
      )
      const others = ['--db-schema', schema, '--admin-role', options.adminRole!]
      const run = await cli(['tenants', 'create', 'viaschema', '--url', url, '--schema', join(dir, 'schema.ts'), ...others])
      expect(run).toEqual({ code: 0, out: 'created viaschema\n', err: '' })
      expect(await stored()).toContain('viaschema')
      expect((await cli(['tenants', 'delete', 'viaschema', '--url', url, '--schema', join(dir, 'schema.ts'), ...others])).code).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses options that do not match the database with exit 2, before writing', async () => {
    const wrong = strategy === 'setting' ? ['--registry-table', 'no_such_registry'] : ['--tenant-role', `pgt_none_${suffix}`]
    const run = await cli(['tenants', 'create', 'zeta', '--url', url, ...flags, ...wrong])
    expectUsageError(
      run,
      strategy === 'setting' ? /No tenant registry pgt_cli_\w+\.no_such_registry in this database/ : /No tenant role pgt_none_\w+ on this server/,
    )
    // How to run the migration, for drizzle-kit users too.
    expect(run.err).toContain(
      '(with drizzle-kit: npx pg-tenants generate --schema <file> --out <drizzle dir> && npx drizzle-kit migrate; otherwise the SQL of npx pg-tenants sql --schema <file>)',
    )
    expect(await stored()).toEqual(['acme'])
  })

  it('reports a refused statement on one line with exit 1', async () => {
    // A login that may connect but has no right to the registry or to create roles.
    const guest = `pgt_cli_guest_${suffix}`
    await superPool.query(`CREATE ROLE "${guest}" LOGIN; GRANT USAGE ON SCHEMA "${schema}" TO "${guest}"; GRANT "${options.tenantRole}" TO "${guest}"`)
    try {
      const u = new URL(url)
      u.username = guest
      const run = await cli(['tenants', 'create', 'zeta', '--url', u.toString(), ...flags])
      expect(run.code).toBe(1)
      expect(run.err.split('\n').filter(Boolean)).toHaveLength(1)
      if (strategy === 'setting') {
        // The engine says what is missing itself, and what to grant.
        expect(run.err).toMatch(/permission denied for table registry_\w+: .*GRANT SELECT, INSERT, DELETE ON .* TO <login>\. \[SETUP_MISSING\]/)
      } else {
        expect(run.err).toMatch(/permission denied.*\[42501\]/)
        expect(run.err).toMatch(/needs CREATEROLE for the role strategy, INSERT on the registry/)
      }
    } finally {
      await superPool.query(`DROP OWNED BY "${guest}"; DROP ROLE "${guest}"`)
    }
    expect(await stored()).toEqual(['acme'])
  })
})
