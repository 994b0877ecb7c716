/**
 * The local services the sidecars sit in front of in end-to-end tests: an
 * HTTP app that answers with its own name and a 1 KB body, and a TCP app that
 * echoes with its name as prefix. Both listen on loopback only.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer as createH2cServer } from 'node:http2'
import { createServer as createTcpServer, type Server } from 'node:net'

export interface App {
  port: number
  /** Requests (http) or data chunks (tcp) the app has answered. */
  hits(): number
  close(): Promise<void>
}

const BODY = 'x'.repeat(1024)

/** An HTTP app answering `<name> <path>\n` plus a 1 KB body. */
export async function httpApp(name: string, port = 0): Promise<App> {
  let hits = 0
  const server = createHttpServer((req, res) => {
    hits++
    res.setHeader('content-type', 'text/plain')
    res.end(`${name} ${req.url}\n${BODY}`)
  })
  return listen(server, port, () => hits)
}

/** An h2c (cleartext HTTP/2) app answering `<name> <path> HTTP/<version>`. */
export async function h2cApp(name: string, port = 0): Promise<App> {
  let hits = 0
  const server = createH2cServer((req, res) => {
    hits++
    res.setHeader('content-type', 'text/plain')
    res.end(`${name} ${req.url} HTTP/${req.httpVersion}\n`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return { port: (server.address() as import('node:net').AddressInfo).port, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) }
}

/** A TCP app that echoes each chunk back as `<name>:<chunk>`. */
export async function tcpApp(name: string, port = 0): Promise<App> {
  let hits = 0
  const server = createTcpServer((sock) => {
    sock.on('data', (d) => {
      hits++
      sock.write(`${name}:${d}`)
    })
    sock.on('error', () => {})
  })
  return listen(server, port, () => hits)
}

async function listen(server: Server | import('node:http').Server, port: number, hits: () => number): Promise<App> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const actual = (server.address() as import('node:net').AddressInfo).port
  return {
    port: actual,
    hits,
    close: () =>
      new Promise((resolve) => {
        ;(server as import('node:http').Server).closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}
