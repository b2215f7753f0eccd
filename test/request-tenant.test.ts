/** The middleware's error mapping (src/core/request-tenant.ts), which every framework subpath
 * shares: a pg-tenants error thrown by a handler is found on the error or along its cause chain
 * (Drizzle wraps what a statement throws in its own query error). */
import { describe, expect, it } from 'vitest'
import { InvalidTenantId, TenantError, TenantNotFound } from '../src/core/errors.js'
import { rejectionOf } from '../src/core/request-tenant.js'

describe('rejectionOf', () => {
  it('answers TenantNotFound 404 and InvalidTenantId 400, also wrapped (as Drizzle wraps them)', () => {
    const notFound = new TenantNotFound('acme')
    expect(rejectionOf(notFound)).toEqual({ status: 404, error: notFound })
    expect(rejectionOf(new Error('Failed query: select …', { cause: notFound }))).toEqual({ status: 404, error: notFound })
    const invalid = new InvalidTenantId('', 'empty')
    expect(rejectionOf(new Error('outer', { cause: new Error('inner', { cause: invalid }) }))).toEqual({ status: 400, error: invalid })
  })

  it('leaves every other error to the framework, wrapped or not', () => {
    expect(rejectionOf(new TenantError('NO_TENANT_CONTEXT', 'no tenant'))).toBeUndefined()
    expect(rejectionOf(new Error('x', { cause: new TenantError('SESSION_CLOSED', 'closed') }))).toBeUndefined()
    expect(rejectionOf(new Error('plain'))).toBeUndefined()
    expect(rejectionOf('a string')).toBeUndefined()
  })
})
