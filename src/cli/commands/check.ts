/**
 * `pg-tenants check`: runs `checkDatabase` against a live database and prints what it found,
 * grouped by object, each with its fix; `--json` for machines. Exit 1 on any finding, so that CI
 * and app start-up scripts can stop on it.
 *
 * @module
 */
import { checkDatabase } from '../../check/check-database.js'
import { CHECK_CODES, type CheckCode, type CheckFinding, type CheckReport } from '../../check/types.js'
import type { TableSpec } from '../../core/migration.js'
import type { TenantOptions } from '../../core/options.js'
import { parseFlags, TENANT_OPTION_FLAGS, TENANT_OPTION_HELP, tenantOptionsFrom } from '../args.js'
import type { Command } from '../command.js'
import { DATABASE_FLAGS, DATABASE_HELP, openDatabase } from '../db.js'
import { EXIT, progressFor, styleFor, UsageError, type Style } from '../io.js'
import { loadSchemaTables, schemaOptions, schemaSpecs } from '../schema.js'

const FLAGS = {
  ...DATABASE_FLAGS,
  schema: { type: 'string' },
  column: { type: 'string' },
  'discover-in': { type: 'string' },
  json: { type: 'boolean' },
  ignore: { type: 'string' },
  ...TENANT_OPTION_FLAGS,
} as const

const HELP = `Usage: pg-tenants check [--url <postgres://…|pgdata dir>] [--as <role>] [--schema <file>] [--json] [--ignore CODE,…] [tenancy options]

Checks a live database for what would let tenants see or change each other's rows: row level
security off or not forced, pg-tenants policies missing or different from what it generates,
permissive policies that widen access, superuser / BYPASSRLS / owning tenant and admin roles,
TRUNCATE / TRIGGER / REFERENCES grants, missing tenant indexes, UNIQUE keys and foreign keys
without the tenant column, views without security_invoker, tenant and admin roles that may create
temporary tables. Each finding comes with the SQL that fixes it. Read-only: it runs in one transaction that it rolls back, and locks no table.

${DATABASE_HELP}
  --schema <file>             the module that exports your withRls tables (.ts, .js); tables
                              it does not declare but that have a tenant column or a
                              pg_tenants_* policy are checked too (TABLE_NOT_DECLARED); without
                              it, every such table is checked
  --column <name>             without --schema: the tenant column's name, default: tenant
  --discover-in <schema,…>    without --schema: look only in these database schemas
  --json                      print the report as JSON ({ ok, findings, tables })
  --ignore <CODE,…>           leave these finding codes out (comma-separated)
  -h, --help                  this help

${TENANT_OPTION_HELP}

Codes: ${CHECK_CODES.join(', ')}.
Each is explained in docs/check.md ("Finding codes") of the pg-tenants repository.

Exit codes:
  0    nothing found
  1    findings (or the database refused a query)
  2    bad input: unknown flag or code, a schema that does not load, an unknown strategy, a URL
       that does not connect

Examples:
  npx pg-tenants check --url postgres://app@127.0.0.1:5432/app --schema ./src/db/schema.ts
  npx pg-tenants check --json --ignore TENANT_INDEX_MISSING | jq '.findings[].code'`

export const checkCommand: Command = {
  name: 'check',
  summary: "check a live database for what would let tenants see each other's rows",
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags('check', argv, FLAGS)
    const ignore = ignoredCodes(values.ignore)
    const flags = tenantOptionsFrom(values)
    let options: TenantOptions = flags
    let tables: TableSpec[] | undefined
    if (values.schema !== undefined) {
      const discovery = values.column !== undefined ? '--column' : values['discover-in'] !== undefined ? '--discover-in' : undefined
      if (discovery) throw new UsageError(`${discovery} is for discovery: with --schema, the schema's withRls tables are checked.`)
      const schemaTables = await loadSchemaTables(values.schema, io.cwd)
      const resolved = schemaOptions(schemaTables, flags)
      options = resolved
      tables = schemaSpecs(schemaTables, resolved)
    }
    const db = await openDatabase(values, io)
    const progress = progressFor(io)
    let report: CheckReport
    try {
      report = await checkDatabase(db.client, {
        ...options,
        ...(tables ? { tables } : {}),
        ...(values.column !== undefined ? { column: values.column } : {}),
        ...(values['discover-in'] !== undefined
          ? {
              schemas: values['discover-in']
                .split(',')
                .map((x) => x.trim())
                .filter(Boolean),
            }
          : {}),
        ignore,
        onProgress: (done, total, what) => progress.update(done, total, what),
      })
    } finally {
      progress.end()
      await db.end().catch(() => undefined)
    }
    io.stdout.write(values.json === true ? JSON.stringify(report, null, 2) + '\n' : render(report, styleFor(io.stdout, io.env)))
    return report.ok ? EXIT.ok : EXIT.failure
  },
}

function ignoredCodes(value: string | undefined): CheckCode[] {
  const codes = (value ?? '')
    .split(',')
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean)
  const unknown = codes.find((c) => !(CHECK_CODES as readonly string[]).includes(c))
  if (unknown !== undefined) {
    throw new UsageError(`Unknown finding code ${JSON.stringify(unknown)} in --ignore: the codes are listed by \`pg-tenants check --help\`.`)
  }
  return codes as CheckCode[]
}

/** The human report: a summary line, then the findings grouped by object, errors first. */
export function render(report: CheckReport, style: Style): string {
  const tables = report.tables.length === 1 ? '1 tenant table' : `${report.tables.length} tenant tables`
  if (report.findings.length === 0) return `${style.green('ok')}: no findings, ${tables} checked${list(report.tables)}\n`
  const count = (severity: CheckFinding['severity']) => report.findings.filter((f) => f.severity === severity).length
  const [errors, warnings, notices] = [count('error'), count('warning'), count('notice')]
  const counts = [
    errors && `${errors} error${errors > 1 ? 's' : ''}`,
    warnings && `${warnings} warning${warnings > 1 ? 's' : ''}`,
    notices && `${notices} notice${notices > 1 ? 's' : ''}`,
  ]
    .filter(Boolean)
    .join(', ')
  const groups = new Map<string, CheckFinding[]>()
  for (const f of report.findings) groups.set(f.object, [...(groups.get(f.object) ?? []), f])
  const order = { error: 0, warning: 1, notice: 2 } as const
  const rank = (fs: readonly CheckFinding[]) => Math.min(...fs.map((f) => order[f.severity]))
  const ordered = [...groups].sort(([, a], [, b]) => rank(a) - rank(b))
  const verdict = report.ok ? style.green('ok') : style.red('FAIL')
  const lines = [`${verdict}: ${counts} on ${tables}${list(report.tables)}`, '']
  for (const [object, findings] of ordered) {
    lines.push(style.bold(object))
    for (const f of [...findings].sort((a, b) => order[a.severity] - order[b.severity])) {
      const tag = f.severity === 'error' ? style.red('error  ') : f.severity === 'warning' ? style.yellow('warning') : style.dim('notice ')
      lines.push(`  ${tag} ${style.bold(f.code)}: ${f.message}`)
      const [first, ...rest] = f.fix.split('\n')
      lines.push(`          ${style.dim('fix:')} ${first ?? ''}`)
      for (const line of rest) lines.push(`               ${line}`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

function list(tables: readonly string[]): string {
  if (tables.length === 0) return ''
  const shown = tables.slice(0, 5).join(', ')
  return ` (${shown}${tables.length > 5 ? `, … ${tables.length - 5} more` : ''})`
}
