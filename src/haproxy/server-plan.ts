/**
 * Turns a change of haproxy.cfg into runtime API commands when the only
 * difference is in backend `server` lines' address, port, weight or
 * `disabled` flag: what an instance joining, leaving or moving does to a
 * config rendered with fixed server slots (the `serverSlots` template
 * function). Anything else (a new listener, a setting, a slot added or
 * removed) needs a reload, and the plan says which line made it so. Applying
 * the commands makes the running HAProxy equal to the new file, so a later
 * reload or restart serves the same state.
 */
import { isIP } from 'node:net'

interface Server {
  backend: string
  name: string
  addr: string
  port: string
  weight: string
  enabled: boolean
}

/** Where two configs differ: the first line that needs a reload, else the server lines that changed. */
type Comparison = { reloadAt: number; line: string } | { changed: Array<[from: Server, to: Server]> }

export type ServerPlan = { reload: string } | { commands: string[] }

/** Commands that take a HAProxy running `running` to `next`, or why it needs a reload. */
export function planServers(running: string, next: string): ServerPlan {
  const c = compare(running, next)
  if ('reloadAt' in c) return { reload: `line ${c.reloadAt + 1} changed: ${c.line.trim().slice(0, 120)}` }
  return { commands: c.changed.flatMap(([from, to]) => serverCommands(from, to)) }
}

/**
 * True when `next` differs from `running` only in server lines the runtime API can carry,
 * with IP addresses and weights HAProxy accepts: such a change cannot make a config that
 * passed `haproxy -c` fail it, so the check (about 50 ms of HAProxy start-up) can be skipped.
 */
export function serverOnlyChange(running: string, next: string): boolean {
  const c = compare(running, next)
  return 'changed' in c && c.changed.every(([, s]) => isIP(s.addr) !== 0 && /^\d+$/.test(s.weight) && Number(s.weight) <= 256 && Number(s.port) <= 65535)
}

/** Leaving: out of rotation first, so no new request picks it while it changes; joining: in rotation last. */
function serverCommands(from: Server, to: Server): string[] {
  const id = `${to.backend}/${to.name}`
  const out: string[] = []
  if (from.enabled && !to.enabled) out.push(`set server ${id} state maint`)
  if (from.addr !== to.addr || from.port !== to.port) out.push(`set server ${id} addr ${to.addr} port ${to.port}`)
  if (from.weight !== to.weight) out.push(`set server ${id} weight ${to.weight}`)
  if (!from.enabled && to.enabled) out.push(`set server ${id} state ready`)
  return out
}

const SECTION = /^(\S+)(?:\s+(\S+))?/
const SERVER = /^\s+server\s+(\S+)\s+(\S+):(\d+)(\s.*)?$/

/**
 * Line by line, parsing only the lines that differ: a render with fixed server slots keeps
 * every line in place, so with 1,000 instances a move touches one line of a few thousand.
 */
function compare(running: string, next: string): Comparison {
  const a = running.split('\n')
  const b = next.split('\n')
  const changed: Array<[Server, Server]> = []
  let section = ''
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const line = b[i]
    if (line !== undefined && /^\S/.test(line) && !line.startsWith('#')) {
      const m = SECTION.exec(line)!
      section = m[1] === 'backend' || m[1] === 'listen' ? (m[2] ?? '') : ''
    }
    if (a[i] === line) continue
    const from = a[i] === undefined ? undefined : serverLine(section, a[i]!)
    const to = line === undefined ? undefined : serverLine(section, line)
    if (!from || !to || from.name !== to.name || from.params !== to.params) return { reloadAt: i, line: line ?? '(end of file)' }
    changed.push([from, to])
  }
  return { changed }
}

/** A `server` line of backend `section` with what the runtime API cannot change as `params`; undefined for any other line. */
function serverLine(section: string, line: string): (Server & { params: string }) | undefined {
  const s = section ? SERVER.exec(line) : null
  if (!s) return undefined
  const words = (s[4] ?? '').trim().split(/\s+/).filter(Boolean)
  const at = words.indexOf('weight')
  const weight = at >= 0 ? (words.splice(at, 2)[1] ?? '') : '1'
  const enabled = !words.includes('disabled')
  const params = words.filter((w) => w !== 'disabled' && w !== 'enabled').join(' ')
  return { backend: section, name: s[1]!, addr: s[2]!, port: s[3]!, weight, enabled, params }
}
