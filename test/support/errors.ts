/** What the tests ask of an error: its codes along the cause chain (Drizzle wraps a driver's error
 * in its own), and the rejection of a promise that must fail. */

/** The codes along an error's cause chain, outermost first. */
export function codes(error: unknown): unknown[] {
  const out: unknown[] = []
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 6; e = e.cause as typeof e, i++)
    if (e.code !== undefined) out.push(e.code)
  return out
}

/** The first code along the cause chain. */
export const codeOf = (error: unknown): unknown => codes(error)[0]

/** The error `promise` rejects with; a promise that resolves fails the test. */
export async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
