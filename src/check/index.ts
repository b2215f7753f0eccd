/**
 * The database doctor: `checkDatabase` and its types.
 *
 * @module
 */
export { checkDatabase } from './check-database.js'
export { CHECK_CODES, type CheckCode, type CheckFinding, type CheckOptions, type CheckReport } from './types.js'
