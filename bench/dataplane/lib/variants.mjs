// Template variants, made at run time from the shipped templates/haproxy so they
// never drift from what meshplate renders: each drops or replaces the lines of
// haproxy.cfg.njk and its macros/ that carry one feature, found by pattern, and
// the run stops if a pattern that must match no longer does (the shipped
// templates changed, and the variant must be looked at again). `shipped` uses
// the templates as they are (no --template-dir at all).
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// [pattern, required]: a required pattern must match at least one line of the templates.
const AUTH = [
  [/^\s*tcp-request content .*\blua\.authorize\b/, true],
  [/^\s*tcp-request content reject\b/, true],
  // HTTP modes: the L7 decision and the deny answers (403, gRPC status 7).
  [/^\s*http-request .*\b(lua\.authorize_l7|mesh_)/, true],
  [/^\s*http-after-response .*\bmesh_/, false],
  // What only feeds the lines above: the per-connection decision cache's version check.
  [/^\s*tcp-request content set-var\(txn\.mesh_/, false],
  [/^\s*acl mesh_/, false],
]
const PEER = [
  [/^\s*tcp-response content .*\blua\.mesh_peer_svc\b/, true],
  // HTTP: the fingerprint lookup, the learning call and the deny.
  [/^\s*http-response .*\b(txn\.mesh_peer|lua\.mesh_learn_peer)\b/, true],
]
const LOG = [/^\s*log global\s*$/, '    no log']

/** What each variant changes: line patterns dropped, and [pattern, replacement] pairs. */
export const VARIANTS = {
  shipped: { about: 'templates/haproxy as shipped', drop: [], replace: [] },
  noauth: { about: 'without the inbound authorization lines (`tcp-request content` lua.authorize and reject, the HTTP deny answers and L7 rule, and the version check that only feeds them)', drop: AUTH, replace: [] },
  nolog: { about: '`no log` instead of `log global` in defaults (no request/connection log lines)', drop: [], replace: [LOG] },
  nopeer: { about: 'without the upstream identity check (HTTP: the fingerprint lookup, `lua.mesh_learn_peer` and `http-response deny`; tcp: `tcp-response content reject unless { lua.mesh_peer_svc ... }`)', drop: PEER, replace: [] },
  lean: { about: 'noauth + nolog + nopeer together', drop: [...AUTH, ...PEER], replace: [LOG] },
}

/** Every template file of a copied folder: haproxy.cfg.njk and macros/*.njk. */
function templateFiles(dir) {
  const macros = join(dir, 'macros')
  return [join(dir, 'haproxy.cfg.njk'), ...readdirSync(macros).filter((f) => f.endsWith('.njk')).map((f) => join(macros, f))]
}

/** Writes a copy of the shipped templates with the variant applied; returns its folder. */
export function makeVariant(shippedDir, name, into) {
  const v = VARIANTS[name]
  const dir = join(into, `templates-${name}`)
  cpSync(shippedDir, dir, { recursive: true })
  const files = templateFiles(dir).map((f) => ({ f, lines: readFileSync(f, 'utf8').split('\n') }))
  const fail = (re) => {
    throw new Error(`variant ${name}: no line of templates/haproxy matches ${re}; update bench/dataplane/lib/variants.mjs`)
  }
  for (const [re, required] of v.drop) {
    if (required && !files.some(({ lines }) => lines.some((l) => re.test(l)))) fail(re)
    for (const file of files) file.lines = file.lines.filter((l) => !re.test(l))
  }
  for (const [re, by] of v.replace) {
    if (!files.some(({ lines }) => lines.some((l) => re.test(l)))) fail(re)
    for (const file of files) file.lines = file.lines.map((l) => (re.test(l) ? by : l))
  }
  for (const { f, lines } of files) writeFileSync(f, lines.join('\n'))
  return dir
}

/** The lines of a rendered haproxy.cfg that run per request or per connection (rules, checks, logging). */
export function ruleLines(renderedCfg) {
  return readFileSync(renderedCfg, 'utf8').split('\n')
    .filter((l) => /^\s*(tcp-request content|tcp-response content|http-request|http-response|acl|log global|no log|log stderr|http-reuse|balance)\b/.test(l))
    .map((l) => l.trim())
}
