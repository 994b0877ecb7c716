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

interface Parsed {
  /** The config with every server line reduced to what the runtime API cannot change. */
  skeleton: string[]
  servers: Map<string, Server>
}

export type ServerPlan = { reload: string } | { commands: string[] }

/** Commands that take a HAProxy running `running` to `next`, or why it needs a reload. */
export function planServers(running: string, next: string): ServerPlan {
  const a = parse(running)
  const b = parse(next)
  const diff = firstDifference(a.skeleton, b.skeleton)
  if (diff !== undefined) return { reload: `line ${diff + 1} changed: ${(b.skeleton[diff] ?? '(end of file)').trim().slice(0, 120)}` }
  const commands: string[] = []
  for (const [key, to] of b.servers) commands.push(...serverCommands(a.servers.get(key)!, to))
  return { commands }
}

/**
 * True when `next` differs from `running` only in server lines the runtime API can carry,
 * with IP addresses and weights HAProxy accepts: such a change cannot make a config that
 * passed `haproxy -c` fail it, so the check (about 50 ms of HAProxy start-up) can be skipped.
 */
export function serverOnlyChange(running: string, next: string): boolean {
  const a = parse(running)
  const b = parse(next)
  if (firstDifference(a.skeleton, b.skeleton) !== undefined) return false
  return [...b.servers.values()].every((s) => isIP(s.addr) !== 0 && /^\d+$/.test(s.weight) && Number(s.weight) <= 256 && Number(s.port) <= 65535)
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

function parse(text: string): Parsed {
  const skeleton: string[] = []
  const servers = new Map<string, Server>()
  let section = ''
  for (const line of text.split('\n')) {
    if (/^\S/.test(line) && !line.startsWith('#')) {
      const m = SECTION.exec(line)!
      section = m[1] === 'backend' || m[1] === 'listen' ? (m[2] ?? '') : ''
    }
    const s = section ? SERVER.exec(line) : null
    if (!s) {
      skeleton.push(line)
      continue
    }
    const words = (s[4] ?? '').trim().split(/\s+/).filter(Boolean)
    const at = words.indexOf('weight')
    const weight = at >= 0 ? (words.splice(at, 2)[1] ?? '') : '1'
    const enabled = !words.includes('disabled')
    const params = words.filter((w) => w !== 'disabled' && w !== 'enabled')
    servers.set(`${section}/${s[1]}`, { backend: section, name: s[1]!, addr: s[2]!, port: s[3]!, weight, enabled })
    skeleton.push(`server ${section}/${s[1]} ${params.join(' ')}`)
  }
  return { skeleton, servers }
}

function firstDifference(a: string[], b: string[]): number | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i
  return undefined
}
