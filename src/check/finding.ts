/**
 * A small helper to build findings, so that every check module writes them the same way.
 *
 * @module
 */
import type { CheckCode, CheckFinding } from './types.js'

/** Where the checks collect their findings. */
export type Found = CheckFinding[]

export function finding(
  code: CheckCode,
  severity: CheckFinding['severity'],
  object: string,
  message: string,
  fix: string,
): CheckFinding {
  // Deparsed SQL spans lines; a message is one line.
  return Object.freeze({ code, severity, object, message: message.replace(/\s+/g, ' ').trim(), fix })
}

/** `role "name"`, the object of a role finding. */
export function roleObject(role: string): string {
  return `role "${role}"`
}

/** How to (re-)apply the migration, for fixes that need it. */
export const MIGRATE = 're-apply the migration: migrationSql(tables, options).up (`npx pg-tenants sql --schema <file>` prints it)'
