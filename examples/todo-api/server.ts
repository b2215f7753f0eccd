/** Serving a Hono app on Node (@hono/node-server), with a way to stop it. */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'

export interface RunningServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Stops accepting connections and closes the idle keep-alive ones. */
  close(): Promise<void>
}

/** Listens on `port` (0: any free port) of 127.0.0.1. */
export async function listen(app: Hono, port = 0, hostname = '127.0.0.1'): Promise<RunningServer> {
  const { server, address } = await new Promise<{ server: ReturnType<typeof serve>; address: AddressInfo }>((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname }, (address) => resolve({ server, address }))
  })
  return {
    url: `http://${hostname}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        if ('closeIdleConnections' in server) server.closeIdleConnections()
      }),
  }
}
