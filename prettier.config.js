// Prettier, with the repository's existing style: no semicolons, single quotes, long lines
// (SQL and messages read better unbroken).
/** @type {import('prettier').Config} */
export default {
  semi: false,
  singleQuote: true,
  printWidth: 160,
  trailingComma: 'all',
}
