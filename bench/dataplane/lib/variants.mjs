// Template variants, made at run time from the shipped templates/haproxy so they
// never drift from what meshplate renders: each removes or replaces exact lines
// of haproxy.cfg.njk, and the run stops if a line it expects is no longer there
// (the shipped template changed, and the variant must be looked at again).
// `shipped` uses the templates as they are (no --template-dir at all).
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const AUTH = [
  '    tcp-request content lua.authorize',
  '    tcp-request content reject unless { var(txn.mesh_decision) -m str allow }',
]
const PEER = ['    http-response deny unless { lua.mesh_peer_svc -m str {{ peer }} }']
const LOG = ['    log global']

/** What each variant changes: lines removed, or [line, replacement]. */
export const VARIANTS = {
  shipped: { about: 'templates/haproxy as shipped', remove: [], replace: [] },
  noauth: { about: 'without the two `tcp-request content` lines (lua.authorize and the reject)', remove: AUTH, replace: [] },
  nolog: { about: '`no log` instead of `log global` in defaults (no per-request/per-connection log line)', remove: [], replace: [[LOG[0], '    no log']] },
  nopeer: { about: 'without `http-response deny unless { lua.mesh_peer_svc ... }` (the per-response Lua check of the upstream identity)', remove: PEER, replace: [] },
  lean: { about: 'noauth + nolog + nopeer together', remove: [...AUTH, ...PEER], replace: [[LOG[0], '    no log']] },
}

/** Writes a copy of the shipped templates with the variant applied; returns its folder. */
export function makeVariant(shippedDir, name, into) {
  const v = VARIANTS[name]
  const dir = join(into, `templates-${name}`)
  mkdirSync(dir, { recursive: true })
  for (const f of readdirSync(shippedDir)) copyFileSync(join(shippedDir, f), join(dir, f))
  const cfg = join(dir, 'haproxy.cfg.njk')
  let lines = readFileSync(cfg, 'utf8').split('\n')
  const once = (line) => {
    const n = lines.filter((l) => l === line).length
    if (n !== 1) throw new Error(`variant ${name}: expected the line "${line.trim()}" once in templates/haproxy/haproxy.cfg.njk, found it ${n} times; update bench/dataplane/lib/variants.mjs`)
  }
  for (const line of v.remove) {
    once(line)
    lines = lines.filter((l) => l !== line)
  }
  for (const [line, by] of v.replace) {
    once(line)
    lines = lines.map((l) => (l === line ? by : l))
  }
  writeFileSync(cfg, lines.join('\n'))
  return dir
}
