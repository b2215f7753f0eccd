/**
 * Per-table checks that do not involve policies: row level security switched on and forced, an
 * index led by the tenant column, the non-empty check, and keys that reach across tenants
 * (UNIQUE constraints and foreign keys without the tenant column).
 *
 * @module
 */
import { derivedNames } from '../core/migration.js'
import { quoteIdent, quoteLiteral } from '../core/quote.js'
import { asOwner, finding, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import type { TenantTable } from './tables.js'

/** ENABLE and FORCE row level security. */
export function checkFlags(table: TenantTable, login: Login, found: Found): void {
  if (!table.rls) {
    found.push(
      finding(
        'RLS_DISABLED',
        'error',
        table.label,
        "row level security is disabled: its policies are ignored and every role with a grant sees and writes every tenant's rows",
        asOwner(table.owner, login, `ALTER TABLE ${table.sql} ENABLE ROW LEVEL SECURITY;`),
      ),
    )
  }
  if (!table.force) {
    const owner = table.owner === login.name ? `its owner "${table.owner}", the login this check runs as,` : `its owner "${table.owner}"`
    found.push(
      finding(
        'FORCE_DISABLED',
        'error',
        table.label,
        `row level security is not forced: ${owner} bypasses the policies and sees every tenant's rows outside a scope (and so do views it owns)`,
        asOwner(table.owner, login, `ALTER TABLE ${table.sql} FORCE ROW LEVEL SECURITY;`),
      ),
    )
  }
}

/** Index, non-empty check, unique keys and foreign keys of every table, in four queries. */
export async function checkKeys(db: CheckDb, tables: readonly TenantTable[], login: Login, found: Found): Promise<void> {
  if (tables.length === 0) return
  const oids = JSON.stringify(tables.map((t) => t.oid))
  const byOid = new Map(tables.map((t) => [t.oid, t]))
  // Each of these fixes is DDL on the table: its owner's to run.
  const owned: Found = []
  await indexes(db, oids, byOid, owned)
  await emptyChecks(db, oids, byOid, owned)
  await uniques(db, oids, byOid, owned)
  await foreignKeys(db, oids, byOid, owned)
  for (const f of owned) {
    const table = tables.find((t) => t.label === f.object)
    found.push(table ? Object.freeze({ ...f, fix: asOwner(table.owner, login, f.fix) }) : f)
  }
}

type Tables = ReadonlyMap<string, TenantTable>

async function indexes(db: CheckDb, oids: string, byOid: Tables, found: Found): Promise<void> {
  // The same test as the migration's: an index whose first key is the tenant column itself (not
  // an expression over it), and not partial: a partial index serves only the queries whose
  // condition implies its predicate, which a tenant scope's queries need not.
  const rows = await db.rows(
    `SELECT i.indrelid::text AS table_oid, i.indkey[0]::int AS first FROM pg_index i
     WHERE i.indrelid IN (SELECT json_array_elements_text($1::json)::oid) AND i.indpred IS NULL AND i.indisvalid`,
    [oids],
  )
  for (const table of byOid.values()) {
    if (rows.some((r) => r['table_oid'] === table.oid && Number(r['first']) === table.attnum)) continue
    const { index } = derivedNames(table.spec)
    found.push(
      finding(
        'TENANT_INDEX_MISSING',
        'warning',
        table.label,
        `no index starts with the tenant column "${table.spec.column}": every scoped query reads the whole table`,
        `CREATE INDEX ${quoteIdent(index)} ON ${table.sql} (${quoteIdent(table.spec.column)});`,
      ),
    )
  }
}

/**
 * A CHECK constraint on the tenant column alone counts when it rejects the empty tenant: its
 * expression is tried with the column bound to `''` (false, or a data exception such as a failed
 * cast, rejects it; NULL and true let it through). The expression is deparsed against a temporary
 * mirror (the tenant column at its position): deparsing against the table would lock it.
 */
async function emptyChecks(db: CheckDb, oids: string, byOid: Tables, found: Found): Promise<void> {
  const textual = [...byOid.values()].filter((t) => t.spec.type === 'text' || t.spec.type === 'varchar')
  if (textual.length === 0) return
  const rows = await db.rows(
    // Only expressions that call nothing but PostgreSQL's own immutable functions are evaluated:
    // a CHECK is the table owner's code, and the check must never run it with its own rights (a
    // volatile or user-defined function could write, sleep or run programs). The others are not
    // counted: the migration's own CHECK (tenant <> '') is always safe.
    `SELECT c.oid::text AS oid, c.conrelid::text AS table_oid, c.conkey::int[] AS keys,
       c.conbin::text !~ '[{](COERCETODOMAIN|ROWCOMPARE|MINMAX) ' AND NOT EXISTS (
         SELECT FROM regexp_matches(c.conbin::text, ':(?:funcid|opfuncid) ([0-9]+)', 'g') m(id)
         LEFT JOIN pg_proc p ON p.oid = m.id[1]::oid
         WHERE p.oid IS NULL OR p.provolatile <> 'i' OR p.pronamespace <> 'pg_catalog'::regnamespace) AS safe
     FROM pg_constraint c
     WHERE c.contype = 'c' AND c.conrelid IN (SELECT json_array_elements_text($1::json)::oid)`,
    [oids],
  )
  const candidates = rows
    .map((r) => ({ oid: String(r['oid']), table: byOid.get(String(r['table_oid'])), keys: (r['keys'] as number[] | null) ?? [], safe: r['safe'] === true }))
    .filter(
      (c): c is { oid: string; table: TenantTable; keys: number[]; safe: boolean } =>
        c.table !== undefined && textual.includes(c.table) && c.keys.length === 1 && c.keys[0] === c.table.attnum && c.safe,
    )
  const rejecting = await rejectsEmpty(db, candidates)
  for (const table of textual) {
    if (candidates.some((c) => c.table === table && rejecting.has(c.oid))) continue
    const { check } = derivedNames(table.spec)
    const what = candidates.some((c) => c.table === table)
      ? `the CHECK constraints on the tenant column "${table.spec.column}" all let an empty tenant ('') through`
      : `no CHECK constraint on the tenant column "${table.spec.column}"`
    found.push(
      finding(
        'EMPTY_TENANT_ALLOWED',
        'warning',
        table.label,
        `${what}: a row with an empty tenant can be stored, which is what an unset tenant looks like`,
        `ALTER TABLE ${table.sql} ADD CONSTRAINT ${quoteIdent(check)} CHECK (${quoteIdent(table.spec.column)} <> '');`,
      ),
    )
  }
}

/** The constraints (by oid) whose expression rejects `''`. Without a temporary mirror (no
 * TEMPORARY privilege), every candidate is taken on trust, as DRIFT_NOT_CHECKED says. */
async function rejectsEmpty(db: CheckDb, candidates: readonly { oid: string; table: TenantTable }[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set()
  const tables = [...new Set(candidates.map((c) => c.table))]
  const mirrors = tables.map((table, i) => {
    const column = table.spec.column
    const pads = Array.from(
      { length: table.attnum - 1 },
      (_, n) => `${quoteIdent(`pgt_pad_${n + 1}` === column ? `pgt_pad_${n + 1}_` : `pgt_pad_${n + 1}`)} int`,
    )
    return {
      table,
      name: `pgt_check_empty_${i + 1}`,
      sql: `CREATE TEMP TABLE pgt_check_empty_${i + 1} (${[...pads, `${quoteIdent(column)} ${table.columnType}`].join(', ')});`,
    }
  })
  const attempt = await db.sandbox(async () => {
    await db.exec(mirrors.map((m) => m.sql).join('\n'))
    const deparsed = await db.rows(
      `SELECT c.oid::text AS oid, pg_get_expr(c.conbin, m.mirror) AS expr
       FROM json_to_recordset($1::json) AS m(con oid, mirror regclass) JOIN pg_constraint c ON c.oid = m.con`,
      [JSON.stringify(candidates.map((c) => ({ con: c.oid, mirror: `pg_temp.${mirrors.find((m) => m.table === c.table)!.name}` })))],
    )
    const tries = deparsed.map((row) => {
      const table = candidates.find((c) => c.oid === row['oid'])!.table
      return {
        oid: String(row['oid']),
        sql: `SELECT ${quoteLiteral(String(row['oid']))}::text AS oid, (${String(row['expr'])})::boolean AS ok FROM (SELECT ''::${table.columnType} AS ${quoteIdent(table.spec.column)}) AS pgt_empty`,
      }
    })
    const rejected = new Set<string>()
    // All at once; should one fail, one by one, each in a savepoint of its own.
    const all = await db.sandbox(() => db.rows(tries.map((t) => t.sql).join('\nUNION ALL\n')))
    if (all.ok) {
      for (const row of all.value) if (row['ok'] === false) rejected.add(String(row['oid']))
      return rejected
    }
    for (const t of tries) {
      const one = await db.sandbox(() => db.rows(t.sql))
      if (one.ok ? one.value[0]?.['ok'] === false : /^22/.test(String((one.error as { code?: unknown })?.code))) rejected.add(t.oid)
    }
    return rejected
  })
  return attempt.ok ? attempt.value : new Set(candidates.map((c) => c.oid))
}

/**
 * A unique key without the tenant column is shared by all tenants: inserting a value another
 * tenant has fails with 23505, which tells that it exists. Keys whose every column is generated
 * (serial, identity, a default such as gen_random_uuid()) are left alone: their values are not
 * chosen by tenants, and docs/known-limits.md lists sequences as a known residual.
 */
async function uniques(db: CheckDb, oids: string, byOid: Tables, found: Found): Promise<void> {
  const rows = await db.rows(
    `SELECT i.indrelid::text AS table_oid, ic.relname::text AS index, n.nspname::text AS schema, con.conname::text AS constraint_name,
       i.indisprimary AS primary,
       ARRAY(SELECT i.indkey[k]::int FROM generate_series(0, i.indnkeyatts - 1) k)::int[] AS keys,
       ARRAY(SELECT coalesce(a.attname::text, '') FROM generate_series(0, i.indnkeyatts - 1) k
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k] ORDER BY k)::text[] AS columns,
       ARRAY(SELECT coalesce(a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', false) FROM generate_series(0, i.indnkeyatts - 1) k
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k] ORDER BY k)::bool[] AS generated,
       i.indexprs IS NOT NULL AS expressions
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
     LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
     WHERE i.indisunique AND i.indrelid IN (SELECT json_array_elements_text($1::json)::oid)
     ORDER BY 1, 2`,
    [oids],
  )
  for (const row of rows) {
    const table = byOid.get(String(row['table_oid']))
    if (!table) continue
    const keys = row['keys'] as number[]
    if (keys.includes(table.attnum)) continue
    const generated = row['generated'] as boolean[]
    if (row['expressions'] !== true && generated.every(Boolean)) continue
    const columns = (row['columns'] as string[]).filter((c) => c !== '')
    const col = quoteIdent(table.spec.column)
    const list = [col, ...columns.map(quoteIdent)].join(', ')
    const constraint = row['constraint_name'] as string | null
    const kind = row['primary'] === true ? 'PRIMARY KEY' : 'UNIQUE'
    const what = constraint ? `${kind} constraint "${constraint}"` : `unique index "${String(row['index'])}"`
    const fix =
      row['expressions'] === true
        ? `-- re-create unique index ${quoteIdent(String(row['index']))} with ${col} as its first key`
        : constraint
          ? `ALTER TABLE ${table.sql} DROP CONSTRAINT ${quoteIdent(constraint)}, ADD CONSTRAINT ${quoteIdent(constraint)} ${kind} (${list});`
          : `DROP INDEX ${quoteIdent(String(row['schema']))}.${quoteIdent(String(row['index']))}; CREATE UNIQUE INDEX ${quoteIdent(String(row['index']))} ON ${table.sql} (${list});`
    found.push(
      finding(
        'UNIQUE_WITHOUT_TENANT',
        'warning',
        table.label,
        `${what} on (${columns.join(', ') || 'an expression'}) does not include the tenant column: a tenant inserting a value another tenant already has gets a unique violation (23505), which reveals that the value exists`,
        fix,
      ),
    )
  }
}

/**
 * A foreign key from one tenant table to another that does not match on the tenant column lets a
 * row point at another tenant's row (the key check does not apply row-level security), and
 * lets a tenant probe which keys exist.
 */
async function foreignKeys(db: CheckDb, oids: string, byOid: Tables, found: Found): Promise<void> {
  const rows = await db.rows(
    `SELECT con.conname::text AS name, con.conrelid::text AS table_oid, con.confrelid::text AS ref_oid,
       con.conkey::int[] AS keys, con.confkey::int[] AS ref_keys,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS ref_columns
     FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conrelid IN (SELECT json_array_elements_text($1::json)::oid)
     ORDER BY 2, 1`,
    [oids],
  )
  for (const row of rows) {
    const table = byOid.get(String(row['table_oid']))
    const ref = byOid.get(String(row['ref_oid']))
    if (!table || !ref) continue // a key to a shared table (a lookup table) is fine
    const keys = row['keys'] as number[]
    const refKeys = row['ref_keys'] as number[]
    if (keys.some((k, i) => k === table.attnum && refKeys[i] === ref.attnum)) continue
    const name = String(row['name'])
    const columns = row['columns'] as string[]
    const refColumns = row['ref_columns'] as string[]
    const from = [table.spec.column, ...columns].map(quoteIdent).join(', ')
    const to = [ref.spec.column, ...refColumns].map(quoteIdent).join(', ')
    found.push(
      finding(
        'FOREIGN_KEY_WITHOUT_TENANT',
        'warning',
        table.label,
        `foreign key "${name}" (${columns.join(', ')}) → ${ref.label} (${refColumns.join(', ')}) does not match on the tenant column: a row can reference another tenant's row, and a tenant can probe which keys exist (key checks ignore row-level security)`,
        `ALTER TABLE ${ref.sql} ADD UNIQUE (${to}); -- unless it has such a key already\n` +
          `ALTER TABLE ${table.sql} DROP CONSTRAINT ${quoteIdent(name)}, ADD CONSTRAINT ${quoteIdent(name)} FOREIGN KEY (${from}) REFERENCES ${ref.sql} (${to});`,
      ),
    )
  }
}
