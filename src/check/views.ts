/**
 * Views over tenant tables. A view without `security_invoker` reads its tables with its owner's
 * rights: row-level security is checked against the owner, not against the role of the tenant
 * scope, so the view is only as tight as the policies that apply to its owner, and a superuser or
 * BYPASSRLS owner hands every tenant's rows to whoever may read the view. A
 * materialized view has no row-level security at all: it holds what its owner saw at refresh.
 *
 * @module
 */
import { quoteIdent } from '../core/quote.js'
import { asOwner, finding, type Found } from './finding.js'
import type { Login } from './roles.js'
import type { CheckDb } from './session.js'
import type { TenantTable } from './tables.js'

/** What a view can be over: a tenant table, or a partition of one (with its `root`). */
type Base = Pick<TenantTable, 'oid' | 'label' | 'owner' | 'force'> & { readonly root?: Pick<TenantTable, 'label'> }

/** Reports views (direct or through other views) over the tenant tables and their partitions. */
export async function checkViews(db: CheckDb, tables: readonly Base[], tenantRole: string, login: Login, found: Found): Promise<void> {
  if (tables.length === 0) return
  const rows = await db.rows(
    `WITH RECURSIVE over(view, base) AS (
       SELECT DISTINCT r.ev_class, d.refobjid FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
       WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
         AND d.refobjid IN (SELECT json_array_elements_text($1::json)::oid) AND r.ev_class <> d.refobjid
       UNION
       SELECT r.ev_class, over.base FROM over
       JOIN pg_depend d ON d.refobjid = over.view AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
       JOIN pg_rewrite r ON r.oid = d.objid
       WHERE r.ev_class <> over.view
     )
     SELECT v.oid::text AS oid, n.nspname::text AS schema, v.relname::text AS name, v.relkind::text AS kind,
       coalesce(v.reloptions, '{}')::text[] AS options, pg_get_userbyid(v.relowner)::text AS owner,
       o.rolsuper AS owner_super, o.rolbypassrls AS owner_bypass,
       coalesce(has_table_privilege(t.oid, v.oid, 'SELECT'), false) AS tenant_reads,
       array_agg(DISTINCT over.base::text)::text[] AS bases
     FROM over JOIN pg_class v ON v.oid = over.view JOIN pg_namespace n ON n.oid = v.relnamespace
     JOIN pg_roles o ON o.oid = v.relowner LEFT JOIN pg_roles t ON t.rolname = $2
     WHERE v.relkind IN ('v', 'm')
     GROUP BY v.oid, n.nspname, v.relname, v.relkind, v.reloptions, v.relowner, o.rolsuper, o.rolbypassrls, t.oid
     ORDER BY 2, 3`,
    [JSON.stringify(tables.map((t) => t.oid)), tenantRole],
  )
  for (const row of rows) {
    const label = `${String(row['schema'])}.${String(row['name'])}`
    const sql = `${quoteIdent(String(row['schema']))}.${quoteIdent(String(row['name']))}`
    const bases = (row['bases'] as string[]).map((oid) => tables.find((t) => t.oid === oid))
    const over = bases
      .map((t) => t && (t.root ? `${t.label} (a partition of ${t.root.label})` : t.label))
      .filter(Boolean)
      .join(', ')
    const owner = String(row['owner'])
    const bypass = row['owner_super'] === true || row['owner_bypass'] === true
    if (row['kind'] === 'm') {
      found.push(
        finding(
          'MATERIALIZED_VIEW',
          row['tenant_reads'] === true ? 'error' : 'warning',
          `materialized view ${label}`,
          `over ${over}: row-level security does not apply to materialized views, it holds whatever rows its owner "${owner}" saw at refresh, for everyone who may read it${row['tenant_reads'] === true ? ' (the tenant role may)' : ''}`,
          asOwner(owner, login, `REVOKE ALL ON ${sql} FROM ${quoteIdent(tenantRole)}; -- or replace it with a view WITH (security_invoker = true)`),
        ),
      )
      continue
    }
    if (invoker(row['options'] as string[])) continue
    // The owner bypasses policies when superuser, BYPASSRLS, or owner of a base table not forced.
    const ownerBypasses = bypass || bases.some((t) => t !== undefined && t.owner === owner && !t.force)
    const why = ownerBypasses
      ? `its owner "${owner}" bypasses row-level security, so anyone who may read the view sees every tenant's rows`
      : `row-level security is checked as its owner "${owner}", not as the caller, so the view is only as tight as the policies that apply to "${owner}": one that lets it see more (a PERMISSIVE policy TO public, say) leaks through to every reader`
    found.push(
      finding(
        'VIEW_NOT_SECURITY_INVOKER',
        ownerBypasses ? 'error' : 'warning',
        `view ${label}`,
        `over ${over} without security_invoker: ${why}`,
        asOwner(owner, login, `ALTER VIEW ${sql} SET (security_invoker = true);`),
      ),
    )
  }
}

function invoker(options: readonly string[]): boolean {
  return options.some((o) => /^security_invoker=(true|on|yes|1|t|y)$/i.test(o))
}
