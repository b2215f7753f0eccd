/**
 * The database doctor: `checkDatabase` and its types.
 *
 * @module
 */
export { checkDatabase } from './check-database.js'
export type { CheckCode, CheckFinding, CheckOptions, CheckReport } from './types.js'
