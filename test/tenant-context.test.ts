/** The ambient tenant (`runWithTenant`, `currentTenant`, `tryCurrentTenant`): what it survives,
 * what it replaces, and that nothing of it outlives its function. */
import { describe, expect, it } from 'vitest'
import { currentTenant, runWithTenant, tryCurrentTenant } from '../src/index.js'
import { codeOf, rejection, sleep } from './support/errors.js'

describe('ambient tenant', () => {
  it('is there across await, timers, promise chains and queued microtasks', async () => {
    const seen = await runWithTenant('acme', async () => {
      const out: unknown[] = [currentTenant()]
      await sleep(1)
      out.push(currentTenant())
      out.push(await new Promise((resolve) => setTimeout(() => resolve(currentTenant()), 2)))
      out.push(await Promise.resolve().then(() => currentTenant()))
      out.push(await new Promise((resolve) => queueMicrotask(() => resolve(tryCurrentTenant()))))
      out.push(await new Promise((resolve) => setImmediate(() => resolve(currentTenant()))))
      return out
    })
    expect(seen).toEqual(['acme', 'acme', 'acme', 'acme', 'acme', 'acme'])
  })

  it('is absent outside, with a coded error that says what to do', () => {
    expect(tryCurrentTenant()).toBeUndefined()
    let error: unknown
    try {
      currentTenant()
    } catch (e) {
      error = e
    }
    expect(codeOf(error)).toBe('NO_TENANT_CONTEXT')
    expect((error as Error).message).toMatch(/runWithTenant/)
  })

  it('a nested runWithTenant replaces the tenant for its fn only', async () => {
    const seen = await runWithTenant('outer', async () => {
      const inner = await runWithTenant(7, async () => {
        await sleep(1)
        return currentTenant()
      })
      return [inner, currentTenant()]
    })
    expect(seen).toEqual([7, 'outer'])
  })

  it('concurrent contexts do not see each other', async () => {
    const seen = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runWithTenant(`t${i}`, async () => {
          await sleep(i % 4)
          return currentTenant()
        }),
      ),
    )
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`))
  })

  it('nothing outlives fn: a timer or promise it left running sees no tenant, not even an outer one', async () => {
    let late: Promise<unknown> | undefined
    let lateInner: Promise<unknown> | undefined
    await runWithTenant('a', async () => {
      late = sleep(30).then(() => tryCurrentTenant()) // fires after 'a' ended
      await runWithTenant('b', () => {
        lateInner = sleep(5).then(() => tryCurrentTenant())
      })
      await sleep(15) // 'a' is still open when the inner timer fires
    })
    expect(await lateInner).toBeUndefined()
    expect(await late).toBeUndefined()
    // …also after fn threw.
    let afterThrow: Promise<unknown> | undefined
    await rejection(
      runWithTenant('c', () => {
        afterThrow = sleep(3).then(() => tryCurrentTenant())
        throw new Error('boom')
      }),
    )
    expect(await afterThrow).toBeUndefined()
  })

  it('a thenable fn returns (a lazy query) is awaited inside the context', async () => {
    const lazy = { then: (resolve: (v: unknown) => void) => resolve(tryCurrentTenant()) }
    expect(await runWithTenant('lazy', () => lazy)).toBe('lazy')
  })

  it('returns what fn returns, sync or async, and rejects with what it throws', async () => {
    expect(await runWithTenant('a', () => 1)).toBe(1)
    expect(await runWithTenant(2n, async () => currentTenant())).toBe(2n)
    expect(((await rejection(runWithTenant('a', () => Promise.reject(new Error('x'))))) as Error).message).toBe('x')
  })

  it('refuses an id that is not a string, number or bigint, and a missing fn', async () => {
    for (const bad of [undefined, null, {}, ['a'], true, Symbol('s')]) {
      expect(codeOf(await rejection(runWithTenant(bad as never, () => 1)))).toBe('INVALID_TENANT_ID')
    }
    expect(codeOf(await rejection(runWithTenant('a', undefined as never)))).toBe('INVALID_OPTIONS')
  })
})
