/**
 * Real traffic for end-to-end tests: HTTP requests and TCP round trips
 * through an upstream listener, and raw TLS clients that dial a sidecar's
 * public port directly with whatever certificate a test wants to present.
 * Every call is bounded by a timeout and reports failure as a value.
 */
import { request } from 'node:http'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

export type Outcome = { ok: true; status?: number; body: string } | { ok: false; error: string }

/** GET http://127.0.0.1:<port><path> on a fresh connection. */
export function httpGet(port: number, path = '/', timeoutMs = 3_000): Promise<Outcome> {
  return httpAnswer(port, path, { timeoutMs }).then(
    (a) => ({ ok: true, ...a }),
    (e: Error) => ({ ok: false, error: e.message }),
  )
}

/** GET http://127.0.0.1:<port><path> on a fresh connection; rejects on an error or after `timeoutMs`. */
export function httpAnswer(port: number, path: string, o: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...o.headers, connection: 'close' }
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: o.timeoutMs ?? 8_000, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${path}`)))
    req.on('error', reject)
    req.end()
  })
}

/** Sends `message` over a new TCP connection and resolves with the first answer. */
export function tcpRoundTrip(port: number, message: string, timeoutMs = 3_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = netConnect(port, '127.0.0.1')
    const timer = setTimeout(() => sock.destroy(new Error('timeout')), timeoutMs)
    let body = ''
    sock.on('connect', () => sock.write(message))
    sock.on('data', (d) => {
      body += d
      clearTimeout(timer)
      sock.end()
      resolve({ ok: true, body })
    })
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(body ? { ok: true, body } : { ok: false, error: 'closed without an answer' })
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      resolve({ ok: false, error: e.message })
    })
  })
}

export interface TlsClientOptions {
  port: number
  cert?: string
  key?: string
  ca?: string
  payload: string
  timeoutMs?: number
}

/** Dials a sidecar's public port with TLS, sends `payload`, resolves with what comes back. */
export function tlsExchange(o: TlsClientOptions): Promise<Outcome & { peerFingerprint?: string }> {
  return new Promise((resolve) => {
    let body = ''
    let peerFingerprint: string | undefined
    const sock = tlsConnect({
      host: '127.0.0.1',
      port: o.port,
      cert: o.cert,
      key: o.key,
      ca: o.ca,
      rejectUnauthorized: Boolean(o.ca),
      // Consul leaves carry no DNS names; the chain is what is checked here.
      checkServerIdentity: () => undefined,
    })
    const timer = setTimeout(() => sock.destroy(new Error('timeout')), o.timeoutMs ?? 3_000)
    sock.on('secureConnect', () => {
      peerFingerprint = sock.getPeerCertificate()?.fingerprint256
      sock.write(o.payload)
    })
    sock.on('data', (d) => (body += d))
    sock.on('end', () => sock.end())
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(body ? { ok: true, body, peerFingerprint } : { ok: false, error: 'closed without an answer', peerFingerprint })
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      resolve({ ok: false, error: e.message, peerFingerprint })
    })
  })
}
