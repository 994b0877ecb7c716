/**
 * A minimal client for HAProxy's runtime API: the stats socket, and the
 * master CLI (`-S`) that routes a command to one worker by PID (`@!<pid>`), so
 * a command can never land in an old worker that is still draining after a
 * reload. One command per connection, payloads in the `<<` form HAProxy 2.6
 * accepts (also through the master). Used in-process: no process spawn, so a
 * change reaches HAProxy in milliseconds.
 */
import { readFile, stat } from 'node:fs/promises'
import { createConnection } from 'node:net'
import type { RuntimeKind, RuntimePush } from '../config/resolve.ts'

// The kinds are the config's words (`haproxyRuntime.kind`), checked when the config is resolved.
export type { RuntimeKind, RuntimePush } from '../config/resolve.ts'

/**
 * Pushes `file` into the HAProxy behind `socket`. Returns false (and does
 * nothing) when HAProxy is not running yet: it reads the file when it starts.
 */
export async function pushFile(p: RuntimePush): Promise<boolean> {
  const running = await stat(p.socket).then((s) => s.isSocket(), () => false)
  if (!running) return false
  try {
    await pushContent(socketSender(p.socket), p.kind, p.file, await readFile(p.file, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  return true
}

/** Sends one command (with its payload) to one HAProxy process and resolves with the answer. */
export type Send = (command: string, payload?: string) => Promise<string>

/** Commands straight to a stats socket. */
export const socketSender = (socket: string): Send => (command, payload) => runtimeCommand(socket, command, payload)

/** Commands to the worker `pid`, routed by the master CLI. */
export const workerSender = (masterSocket: string, pid: number): Send => (command, payload) => runtimeCommand(masterSocket, `@!${pid} ${command}`, payload)

/** Replaces what HAProxy holds for `file` (a certificate, a CA file or a map) with `content`. */
export function pushContent(send: Send, kind: RuntimeKind, file: string, content: string): Promise<void> {
  if (kind === 'ssl-cert') return updateCert(send, file, content)
  if (kind === 'ssl-ca-file') return updateCaFile(send, file, content)
  if (kind === 'map') return updateMap(send, file, content)
  throw new Error(`${file}: kind "servers" needs exec.haproxyMasterSocket (meshplate pushes server lines only into the HAProxy it runs)`)
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
export async function expectOk(send: Send, command: string, ok: RegExp, payload?: string): Promise<string> {
  const answer = await send(command, payload)
  return checkAnswer(command, answer, ok)
}

/** Throws unless `answer` (to `command`) matches `ok`; returns it. */
export function checkAnswer(command: string, answer: string, ok: RegExp): string {
  if (!ok.test(answer)) throw new Error(`runtime API "${command}": ${answer.split('\n').find((l) => l.trim()) ?? '(no answer)'}`)
  return answer
}

/** Replaces a certificate (bind or server `crt`) in memory: set + commit. */
export async function updateCert(send: Send, file: string, pem: string): Promise<void> {
  await expectOk(send, `set ssl cert ${file}`, /Transaction (created|updated)/i, pem)
  await expectOk(send, `commit ssl cert ${file}`, /Success/i)
}

/** Replaces a CA file (`ca-file`) in memory: set + commit. */
export async function updateCaFile(send: Send, file: string, pem: string): Promise<void> {
  await expectOk(send, `set ssl ca-file ${file}`, /Transaction (created|updated)/i, pem)
  await expectOk(send, `commit ssl ca-file ${file}`, /Success/i)
}

/** Replaces a whole map atomically: prepare a version, add every line, commit it. */
export async function updateMap(send: Send, file: string, content: string): Promise<void> {
  const prepared = await expectOk(send, `prepare map ${file}`, /New version created: \d+/)
  const version = /New version created: (\d+)/.exec(prepared)![1]
  const lines = content.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  if (lines.length > 0) await expectOk(send, `add map @${version} ${file}`, /^$/, lines.join('\n'))
  await expectOk(send, `commit map @${version} ${file}`, /^$/)
}

export interface MasterView {
  version: string
  reloads: number
  failedReloads: number
  /** The current worker (the newest, if a reload is starting one). */
  worker: number | undefined
}

/** Reads the master CLI's `show proc`: HAProxy's version, reload counters and current worker. */
export async function showProc(masterSocket: string, timeoutMs = 2_000): Promise<MasterView> {
  const answer = await runtimeCommand(masterSocket, 'show proc', undefined, timeoutMs)
  const view = parseShowProc(answer)
  if (!view) throw new Error(`master CLI ${masterSocket}: unexpected "show proc" answer: ${answer.split('\n')[0] ?? '(none)'}`)
  return view
}

/** Parses a `show proc` answer; undefined if it has no master line. */
export function parseShowProc(answer: string): MasterView | undefined {
  const lines = answer.split('\n')
  const master = lines.map((l) => /^(\d+)\s+master\s+(\d+)\s+\[failed: (\d+)\]\s+\S+\s+(\S+)/.exec(l)).find(Boolean)
  if (!master) return undefined
  // Current workers come before "# old workers"; the newest has survived the fewest reloads.
  const end = lines.findIndex((l) => /^# (old workers|programs)/.test(l))
  const workers = lines.slice(0, end < 0 ? undefined : end).flatMap((l) => {
    const m = /^(\d+)\s+worker\s+(\d+)/.exec(l)
    return m ? [{ pid: Number(m[1]), survived: Number(m[2]) }] : []
  })
  workers.sort((a, b) => a.survived - b.survived)
  return { version: master[4]!, reloads: Number(master[2]), failedReloads: Number(master[3]), worker: workers[0]?.pid }
}
