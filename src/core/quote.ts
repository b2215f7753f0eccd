/**
 * Quoting for the few places where a value must be part of SQL text: the scoping statements that
 * ride in the same simple-query message as `BEGIN` (which cannot carry bind parameters) and DDL
 * (role names, which no statement accepts as a parameter). Tenant ids are validated before they
 * get here (no NUL, well-formed UTF-16), so these two functions are the whole escaping story.
 *
 * @module
 */

/**
 * Quotes an identifier by doubling embedded `"`, like node-postgres' `escapeIdentifier`.
 *
 * @example
 * ```ts nocheck
 * quoteIdent('tenant_a"b') // => "tenant_a""b"
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * Quotes a string literal like node-postgres' `escapeLiteral`: `'` and `\` are doubled, and a
 * literal holding a backslash is written as `E'…'`, so it reads the same whatever
 * `standard_conforming_strings` is set to.
 *
 * @example
 * ```ts nocheck
 * quoteLiteral("it's") // => 'it''s'
 * ```
 */
export function quoteLiteral(value: string): string {
  const body = value.replaceAll("'", "''")
  return value.includes('\\') ? ` E'${body.replaceAll('\\', '\\\\')}'` : `'${body}'`
}

/** `"schema"."name"` */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`
}
