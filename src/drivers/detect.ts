/**
 * Picks the driver for a client object by its shape, so that adapters need no import of `pg`,
 * postgres.js or PGlite (all optional peers).
 *
 * @module
 */
import type { Driver } from '../core/driver.js'
import { TenantError } from '../core/errors.js'
import { isPgPool, nodePostgresDriver } from './node-postgres.js'
import { isPglite, pgliteDriver } from './pglite.js'
import { isPostgresJs, postgresJsDriver } from './postgres-js.js'

/**
 * The driver for a `pg.Pool`, a postgres.js `sql` or a PGlite instance; anything else is refused
 * with a hint (`UNSUPPORTED_CLIENT`).
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * import { driverFor } from 'pg-tenants/adapter'
 *
 * const driver = driverFor(new PGlite()) // driver.name === 'pglite'
 * ```
 */
export function driverFor(client: unknown): Driver {
  if (isPgPool(client)) return nodePostgresDriver(client)
  if (isPostgresJs(client)) return postgresJsDriver(client)
  if (isPglite(client)) return pgliteDriver(client)
  const kind = client === undefined || client === null ? 'database without a client' : `${client.constructor?.name ?? typeof client} client`
  throw new TenantError(
    'UNSUPPORTED_CLIENT',
    `pg-tenants cannot scope a ${kind}: use a node-postgres Pool (new pg.Pool(...)), a postgres.js sql (postgres(url)) or a PGlite ` +
      'instance (for an ORM, the one its database is built on). A single pg.Client, a reserved postgres.js connection or the sql of a ' +
      'postgres.js transaction cannot be pinned per unit of work.',
  )
}
