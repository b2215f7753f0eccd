/**
 * The todo API: list, create, read, update and delete the todos of the request's tenant. The
 * tenant comes from a verified JWT (auth.ts); `tenantMiddleware` runs the rest of the request
 * inside `runWithTenant`, and every query goes through `manager.scoped()`: each statement is its
 * own short transaction scoped to that tenant, so no handler passes a tenant or a `tx` around,
 * none writes `WHERE tenant = …`, and a request holds no pooled connection between statements.
 *
 * Another tenant's todo is "not found" (404), never "forbidden" (403): row-level security makes
 * it invisible, and the API does not tell whether it exists.
 *
 * @module
 */
import { asc, eq } from 'drizzle-orm'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { currentTenant, TenantError } from '../../src/index.js'
import { tenantMiddleware, type TenantRejection } from '../../src/hono/index.js'
import type { PostgresManager } from '../../src/drizzle/index.js'
import { tenantOf } from './auth.js'
import type { TodoDb } from './database.js'
import { todos } from './schema.js'

export interface AppConfig {
  /** The app's manager (database.ts). */
  readonly manager: PostgresManager<TodoDb>
  /** The HMAC key the tokens are signed with (auth.ts `secretKey`). */
  readonly key: Uint8Array
}

/** What the API returns of a todo (the tenant is the caller's own, shown to make the scoping visible). */
const columns = { id: todos.id, tenant: todos.tenant, title: todos.title, done: todos.done, createdAt: todos.createdAt }

/** The todo API as a Hono app. Routes added to it later run inside the tenant middleware too. */
export function createApp({ manager, key }: AppConfig): Hono {
  // Tenants are provisioned (createTenant) at sign-up, not created by whoever holds a token.
  const db = manager.scoped({ createIfMissing: false })
  const app = new Hono()

  // No `manager` option: the middleware would check that the tenant exists in a scope of its
  // own, one more transaction per request. The first scoped statement (createIfMissing: false)
  // checks it anyway, and the middleware answers its TenantNotFound with 404.
  app.use('*', tenantMiddleware({ resolve: (c) => tenantOf(c.req.header('authorization'), key), onReject: reject }))

  app.get('/todos', async (c) => c.json(await db.select(columns).from(todos).orderBy(asc(todos.id))))

  app.post('/todos', async (c) => {
    const input = await todoInput(c, true)
    if (typeof input === 'string') return failure(c, 400, 'INVALID_TODO', input)
    const [todo] = await db
      .insert(todos)
      .values({ tenant: String(currentTenant()), title: input.title!, done: input.done ?? false })
      .returning(columns)
    return c.json(todo, 201)
  })

  app.get('/todos/:id', async (c) => {
    const id = idOf(c)
    const [todo] = id === undefined ? [] : await db.select(columns).from(todos).where(eq(todos.id, id))
    return todo ? c.json(todo) : notFound(c)
  })

  app.patch('/todos/:id', async (c) => {
    const id = idOf(c)
    if (id === undefined) return notFound(c)
    const input = await todoInput(c, false)
    if (typeof input === 'string') return failure(c, 400, 'INVALID_TODO', input)
    // Row-level security filters the UPDATE too: another tenant's id matches no row.
    const [todo] = await db.update(todos).set(input).where(eq(todos.id, id)).returning(columns)
    return todo ? c.json(todo) : notFound(c)
  })

  app.delete('/todos/:id', async (c) => {
    const id = idOf(c)
    const [todo] = id === undefined ? [] : await db.delete(todos).where(eq(todos.id, id)).returning({ id: todos.id })
    return todo ? c.body(null, 204) : notFound(c)
  })

  // A tenant error a statement throws (a tenant never provisioned: TenantNotFound, wrapped by
  // Drizzle in its query error) is answered by the middleware (404): not logged. The rest is a 500.
  app.onError((error, c) => {
    if (!causes(error).some((e) => e instanceof TenantError)) console.error(error)
    return failure(c, 500, 'INTERNAL', 'Something went wrong.')
  })
  return app
}

/** The error body of every refusal: `{ error: { code, message } }`, as the middleware's. */
const failure = (c: Context, status: ContentfulStatusCode, code: string, message: string) => c.json({ error: { code, message } }, status)

const notFound = (c: Context) => failure(c, 404, 'TODO_NOT_FOUND', 'No such todo.')

/** The middleware's refusals: no valid token (401, with the header that says which scheme), an
 * invalid tenant id (400), a tenant that was never provisioned (404). */
function reject({ status, error }: TenantRejection, c: Context): Response {
  if (status === 401) {
    c.header('WWW-Authenticate', 'Bearer realm="todo-api"')
    return failure(c, 401, 'UNAUTHORIZED', 'A valid bearer token is required.')
  }
  return failure(c, status as ContentfulStatusCode, error.code, status === 404 ? 'Unknown tenant.' : 'Invalid tenant.')
}

/** The `:id` of the path as a todo id, or `undefined` (then no todo has it). */
function idOf(c: Context): number | undefined {
  const text = c.req.param('id') ?? ''
  return /^[1-9]\d{0,9}$/.test(text) && Number(text) <= 2 ** 31 - 1 ? Number(text) : undefined
}

/** A todo's fields from the JSON body (`title` required when `creating`), or what is wrong with it. */
async function todoInput(c: Context, creating: boolean): Promise<{ title?: string; done?: boolean } | string> {
  const body: unknown = await c.req.json().catch(() => undefined)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object'
  const { title, done } = body as Record<string, unknown>
  if (title !== undefined && (typeof title !== 'string' || title.trim() === '' || title.length > 200))
    return 'title must be a non-empty string of at most 200 characters'
  if (done !== undefined && typeof done !== 'boolean') return 'done must be true or false'
  if (creating && title === undefined) return 'title is required'
  if (!creating && title === undefined && done === undefined) return 'nothing to update: give title or done'
  return { ...(title !== undefined ? { title: title.trim() } : {}), ...(done !== undefined ? { done } : {}) }
}

/** `error` and its chain of causes. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = error; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e)
  return chain
}
