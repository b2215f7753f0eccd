/**
 * A small helper to build findings, so that every check module writes them the same way.
 *
 * @module
 */
import type { CheckCode, CheckFinding } from './types.js'

/** Where the checks collect their findings. */
export type Found = CheckFinding[]

export function finding(code: CheckCode, severity: CheckFinding['severity'], object: string, message: string, fix: string): CheckFinding {
  // Deparsed SQL spans lines; a message is one line.
  return Object.freeze({ code, severity, object, message: message.replace(/\s+/g, ' ').trim(), fix })
}

/** `role "name"`, the object of a role finding. */
export function roleObject(role: string): string {
  return `role "${role}"`
}

/** The migration's SQL and the command that prints it. */
export const MIGRATION_SQL = 'migrationSql(tables, options).up (`npx pg-tenants sql --schema <file>` prints it)'

/** How to (re-)apply the migration, for fixes that need it: one line, for both ways to run it. */
export const MIGRATE = `re-apply the migration: ${MIGRATION_SQL}; with drizzle-kit: \`npx pg-tenants generate --all --schema <file> --out <drizzle dir> && npx drizzle-kit migrate\``

/** Who must run a fix that the login itself cannot: `-- as a superuser:` before the SQL. */
export function runAs(who: string | undefined, sql: string): string {
  return who === undefined ? sql : `-- as ${who}:\n${sql}`
}

/** A fix that needs a superuser, unless the login is one. */
export function asSuperuser(login: { readonly superuser: boolean }, sql: string): string {
  return runAs(login.superuser ? undefined : 'a superuser', sql)
}

/** A fix on an object that only its owner (or a superuser) may run, unless the login is either. */
export function asOwner(owner: string, login: { readonly name: string; readonly superuser: boolean }, sql: string): string {
  return runAs(login.superuser || owner === login.name ? undefined : `its owner "${owner}" (or a superuser)`, sql)
}

/** `a, b and c` */
export function and(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

/** `a, b, c and 2 more` */
export function some(items: readonly string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`
}
