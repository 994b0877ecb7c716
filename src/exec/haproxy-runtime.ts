/**
 * A minimal client for HAProxy's runtime API (the stats socket), used to push
 * a rotated certificate, a new CA bundle or a new intentions map into the
 * running process without a reload. One command per connection, payloads in
 * the `<<` form HAProxy 2.6 accepts. A template's `haproxyRuntime` setting
 * runs `pushFile` in-process after the file is written: no process spawn,
 * so an intention change reaches HAProxy in milliseconds.
 */
import { readFile, stat } from 'node:fs/promises'
import { createConnection } from 'node:net'

export type RuntimeKind = 'ssl-cert' | 'ssl-ca-file' | 'map'

export interface RuntimePush {
  socket: string
  kind: RuntimeKind
  file: string
}

/**
 * Pushes `file` into the HAProxy behind `socket`. Returns false (and does
 * nothing) when HAProxy is not running yet: it reads the file when it starts.
 */
export async function pushFile(p: RuntimePush): Promise<boolean> {
  const running = await stat(p.socket).then((s) => s.isSocket(), () => false)
  if (!running) return false
  const content = await readFile(p.file, 'utf8')
  try {
    if (p.kind === 'ssl-cert') await updateCert(p.socket, p.file, content)
    else if (p.kind === 'ssl-ca-file') await updateCaFile(p.socket, p.file, content)
    else await updateMap(p.socket, p.file, content)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  return true
}

/** Sends one command (with optional payload) and returns HAProxy's answer. */
export function runtimeCommand(socket: string, command: string, payload?: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket)
    let answer = ''
    const timer = setTimeout(() => conn.destroy(new Error(`runtime API ${socket}: "${command}" timed out`)), timeoutMs)
    conn.setEncoding('utf8')
    conn.on('data', (d) => (answer += d))
    conn.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    conn.on('end', () => {
      clearTimeout(timer)
      resolve(answer.trim())
    })
    conn.on('connect', () => {
      const body = payload === undefined ? '' : ` <<\n${payload.replace(/\n+$/, '').replace(/\n{2,}/g, '\n')}\n`
      conn.end(`${command}${body}\n`)
    })
  })
}

/** Runs a command and throws if HAProxy's answer does not match `ok`. */
export async function expectOk(socket: string, command: string, ok: RegExp, payload?: string): Promise<string> {
  const answer = await runtimeCommand(socket, command, payload)
  if (!ok.test(answer)) throw new Error(`runtime API "${command}": ${answer.split('\n').find((l) => l.trim()) ?? '(no answer)'}`)
  return answer
}

/** Replaces a certificate (bind or server `crt`) in memory: set + commit. */
export async function updateCert(socket: string, file: string, pem: string): Promise<void> {
  await expectOk(socket, `set ssl cert ${file}`, /Transaction (created|updated)/i, pem)
  await expectOk(socket, `commit ssl cert ${file}`, /Success/i)
}

/** Replaces a CA file (`ca-file`) in memory: set + commit. */
export async function updateCaFile(socket: string, file: string, pem: string): Promise<void> {
  await expectOk(socket, `set ssl ca-file ${file}`, /Transaction (created|updated)/i, pem)
  await expectOk(socket, `commit ssl ca-file ${file}`, /Success/i)
}

/** Replaces a whole map atomically: prepare a version, add every line, commit it. */
export async function updateMap(socket: string, file: string, content: string): Promise<void> {
  const prepared = await expectOk(socket, `prepare map ${file}`, /New version created: \d+/)
  const version = /New version created: (\d+)/.exec(prepared)![1]
  const lines = content.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  if (lines.length > 0) await expectOk(socket, `add map @${version} ${file}`, /^$/, lines.join('\n'))
  await expectOk(socket, `commit map @${version} ${file}`, /^$/)
}
