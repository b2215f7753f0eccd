/**
 * How ORM-neutral tools (the test kit, the doctor) reach the engine behind any adapter's
 * manager: each adapter attaches its engine to the manager it builds. The key is a global symbol,
 * so the ES module and CommonJS copies of the package see the same one.
 *
 * @module
 */
import type { TenantEngine } from './engine.js'
import { TenantError } from './errors.js'

const ENGINE = Symbol.for('pg-tenants.engine')

/**
 * Attaches `engine` to the manager an adapter built (not enumerable, not writable), so that
 * {@link engineOf} (the test kit, the doctor) finds it.
 *
 * @example
 * ```ts
 * import { attachEngine, engineOf, type TenantEngine } from 'pg-tenants/adapter'
 *
 * class MyManager {
 *   constructor(engine: TenantEngine) {
 *     attachEngine(this, engine)
 *   }
 * }
 * declare const engine: TenantEngine
 * engineOf(new MyManager(engine)) === engine // true
 * ```
 */
export function attachEngine(manager: object, engine: TenantEngine): void {
  Object.defineProperty(manager, ENGINE, { value: engine })
}

/**
 * The engine behind a manager of any adapter. Throws `UNSUPPORTED_CLIENT` for anything else.
 *
 * @example
 * ```ts
 * import { engineOf } from 'pg-tenants/adapter'
 * import type { AnyPostgresManager } from 'pg-tenants/drizzle'
 *
 * declare const manager: AnyPostgresManager
 *
 * const engine = engineOf(manager)
 * const rows = await engine.run({ kind: 'tenant', id: 'acme', createIfMissing: false }, (conn) =>
 *   conn.query('SELECT count(*) AS n FROM todos', []),
 * )
 * ```
 */
export function engineOf(manager: unknown): TenantEngine {
  const engine = (manager as { [ENGINE]?: TenantEngine } | null)?.[ENGINE]
  if (engine === undefined) {
    throw new TenantError('UNSUPPORTED_CLIENT', 'Expected a pg-tenants manager (e.g. PostgresManager.fromDrizzle(db)), got something else.')
  }
  return engine
}
