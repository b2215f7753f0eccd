/** What the tests ask of an error: its codes along the cause chain (Drizzle wraps a driver's error
 * in its own), and the rejection of a promise that must fail. */

/** The codes along an error's cause chain, outermost first. Prisma's own codes (P2010, …, on an
 * error with `clientVersion`) are passed over for the driver adapter's error in their
 * `meta.driverAdapterError`, whose cause has the SQLSTATE (Prisma keeps the code of an error it
 * does not know, such as a TenantError's). */
export function codes(error: unknown): unknown[] {
  const out: unknown[] = []
  type E = { code?: unknown; cause?: unknown; clientVersion?: unknown; meta?: { driverAdapterError?: unknown } }
  for (let e = error as E | undefined, i = 0; e && i < 6; e = (e.cause ?? e.meta?.driverAdapterError) as E | undefined, i++)
    if (e.code !== undefined && !(e.clientVersion !== undefined && typeof e.code === 'string' && /^P\d{4}$/.test(e.code))) out.push(e.code)
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
