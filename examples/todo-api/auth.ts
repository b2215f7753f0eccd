/**
 * The tenant of a request, from the `tenant` claim of a JWT whose signature is verified (HS256,
 * a shared secret). The Python original's example decoded the token without verifying it; then
 * anyone can write `{"tenant": "someone-else"}` into a token and read that tenant's data, which
 * is exactly what row-level security is meant to stop. A claim is worth what its signature is.
 *
 * @module
 */
import { errors, jwtVerify, SignJWT } from 'jose'

/** The audience of the tokens: a token minted for another service is refused here. */
export const AUDIENCE = 'todo-api'

/** The HMAC key of a secret of at least 32 characters (HS256 wants 256 bits). */
export function secretKey(secret: string): Uint8Array {
  if (secret.length < 32) throw new Error('TODO_API_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`).')
  return new TextEncoder().encode(secret)
}

/** A token for `tenant`, valid for `expiresIn` (a jose time span: '1h', '15m', or a NumericDate). */
export async function mintToken(key: Uint8Array, tenant: string, expiresIn: string | number = '1h'): Promise<string> {
  return new SignJWT({ tenant }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setAudience(AUDIENCE).setIssuedAt().setExpirationTime(expiresIn).sign(key)
}

/**
 * The tenant of an `Authorization: Bearer <jwt>` header, or `undefined` when there is no valid
 * token: no header, a bad signature, another algorithm (`none` included), another audience, an
 * expired token, or no string `tenant` claim.
 */
export async function tenantOf(authorization: string | undefined, key: Uint8Array): Promise<string | undefined> {
  const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(authorization ?? '')?.[1]
  if (token === undefined) return undefined
  try {
    // algorithms pins HS256: an `alg: none` or RS256 token never reaches the key.
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], audience: AUDIENCE, requiredClaims: ['exp'] })
    return typeof payload['tenant'] === 'string' ? payload['tenant'] : undefined
  } catch (error) {
    if (error instanceof errors.JOSEError) return undefined
    throw error
  }
}
