/** Real HTTP for the middleware tests: a Node server on port 0 and requests with node:http, so
 * that a keep-alive agent decides which socket a request goes over. */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Reply, SendOptions, Served } from './types.js'

/** Sends one request to `port` and reads its JSON (or text) answer. */
export function send(port: number, path: string, options: SendOptions = {}): Promise<Reply> {
  const { tenant, body, agent = new http.Agent({ keepAlive: false }) } = options
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers: Record<string, string> = {}
  if (tenant !== undefined) headers['x-tenant'] = tenant
  if (payload !== undefined) headers['content-type'] = 'application/json'
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method: payload === undefined ? 'GET' : 'POST', headers, agent }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: response.statusCode ?? 0, body: parsed, reusedSocket: request.reusedSocket })
      })
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end(payload)
  })
}

/** Serves `server` on an ephemeral port. */
export async function listen(server: http.Server): Promise<Served> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    send: (path, options) => send(port, path, options),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
