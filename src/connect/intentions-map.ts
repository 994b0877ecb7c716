/**
 * Turns a destination's intentions into the rows of the intentions map that
 * lua/authorize.lua evaluates: L4 rows (`intentionTable`, and `intentionRules`
 * for a tcp service) and L7 `Permissions`. The map is what the runtime API
 * replaces on every change, so no intention change ever reloads HAProxy;
 * this is why L7 rules live there and not in haproxy.cfg ACLs.
 *
 * Semantics are Consul's (the service-intentions docs, and agent/xds/rbac.go
 * for Envoy): intentions arrive in precedence order and the first one whose
 * source matches decides (exact name, then `*`, which the Lua looks up in that
 * order). An L7 intention's permissions are tried in order and the first that
 * matches decides; a request matching none gets the agent's default action,
 * never a lower-precedence intention. A permission matches when its path
 * (exact, prefix or anchored regex), its methods (any of) and all its header
 * matchers (present, exact, prefix, suffix, contains, regex; IgnoreCase and
 * Invert) hold. For tcp destinations an L7 intention counts as deny, as
 * Consul's authorize endpoint and its Envoy config do.
 *
 * What the sidecar cannot enforce exactly is read in the direction that grants
 * less, with a warning naming the intention and the field, and never fails the
 * map (which would keep an older, possibly looser, one): a condition it does
 * not check (`JWT`, a sameness-group source, a key it does not know:
 * ../dependency/unenforced.ts) makes an allow never match (the next rule or the
 * default decides, as Envoy decides for a request without a valid token) and a
 * deny apply whatever the condition says; a permission it cannot read (a regex
 * HAProxy would run differently, two path matches) denies the whole source.
 *
 * Row format (one map line each, values percent-encoded so a line never holds
 * a space, `#` or backslash the map parser could misread):
 *   <source> allow|deny          an L4 intention
 *   <source> l7 <n>              an L7 intention with n permissions, which follow as
 *   @p/<source>/<i> <allow|deny> [never] [path.exact=…|path.prefix=…|path.regex=…] [methods=GET,PUT] [hdr=<kind>:<invert 0|1>[i]:<name>:<value>]…
 * (`never`: the permission never matches; `i` after the invert flag: compare ignoring ASCII case.)
 */
import type { Intention } from '../dependency/intentions-match.ts'
import type { Json, JsonObject } from '../consul/schema.ts'
import { HEADER_KEYS, HTTP_KEYS, PERMISSION_KEYS, unenforcedKeys } from '../dependency/unenforced.ts'
import { IntentionRuleError, RegexError } from '../errors.ts'
import { warnOnce } from '../template/warnings.ts'
import { anchoredPcre } from './re2.ts'

export interface MapRow {
  Key: string
  Value: string
}

const HTTP_LIKE = new Set(['http', 'http2', 'grpc'])
const METHOD = /^[A-Z]+$/
const HEADER_KINDS = ['Present', 'Exact', 'Prefix', 'Suffix', 'Contains', 'Regex'] as const

/** True when `protocol` is one the sidecar enforces per request. */
export function isHttpLike(protocol: unknown): boolean {
  return typeof protocol === 'string' && HTTP_LIKE.has(protocol)
}

export interface TableRow {
  Source: string
  Action: 'allow' | 'deny'
}

/**
 * The authorization table of a sidecar: intentions (already in precedence
 * order) reduced to the first rule per source name. L7 intentions count as
 * deny, as Consul's authorize endpoint does; sources in other namespaces,
 * partitions or peers are left to the agent. It is intentionRules' tcp table.
 */
export function intentionTable(intentions: Intention[] | undefined): TableRow[] {
  return intentionRules(intentions, 'tcp').map((r) => ({ Source: r.Key, Action: r.Value === 'allow' ? 'allow' : 'deny' }))
}

/** The map rows for a destination's intentions (already in precedence order). */
export function intentionRules(intentions: Intention[] | undefined, protocol?: unknown): MapRow[] {
  const l7 = isHttpLike(protocol)
  const seen = new Set<string>()
  const rows: MapRow[] = []
  for (const it of intentions ?? []) {
    // `*/*` (Enterprise: any namespace) matches default-namespace sources too, after `default/*` in precedence.
    if (it.SourcePeer || !['', 'default', '*'].includes(it.SourceNS) || !['', 'default'].includes(it.SourcePartition)) continue
    if (seen.has(it.SourceName)) continue
    const own = intentionRows(it, l7)
    // An allow that can never apply leaves the source to the next rule or the default.
    if (own.length === 0) continue
    seen.add(it.SourceName)
    rows.push(...own)
  }
  return rows
}

/** `intention web -> api (id)`: how warnings and errors name an intention. */
function describe(it: Intention): string {
  const group = it.SourceSamenessGroup ? ` (sameness group ${it.SourceSamenessGroup})` : ''
  return `intention ${it.SourceName}${group} -> ${it.DestinationName}${it.ID ? ` (${it.ID})` : ''}`
}

/** One intention's rows: none when it is an allow that can never apply. */
function intentionRows(it: Intention, l7: boolean): MapRow[] {
  const where = describe(it)
  const unenforced = [...it.Unenforced, ...(it.SourceSamenessGroup ? ['SourceSamenessGroup'] : [])]
  if (it.Permissions.length === 0 || !l7) {
    const allow = it.Action === 'allow' && it.Permissions.length === 0
    if (allow && unenforced.length > 0) {
      warnOnce(`${where}: allow never applies: it requires ${unenforced.join(', ')}, which meshplate does not enforce`)
      return []
    }
    if (!allow && unenforced.length > 0) warnOnce(`${where}: deny applies to every request from ${it.SourceName}, whatever its ${unenforced.join(', ')} says`)
    return [{ Key: it.SourceName, Value: allow ? 'allow' : 'deny' }]
  }
  try {
    const permissions = it.Permissions.map((p, i) => permissionRow(it, p, i, unenforced))
    return [{ Key: it.SourceName, Value: `l7 ${it.Permissions.length}` }, ...permissions]
  } catch (err) {
    if (!(err instanceof IntentionRuleError || err instanceof RegexError)) throw err
    warnOnce(`${err.message}; every request from ${it.SourceName} is denied`)
    return [{ Key: it.SourceName, Value: 'deny' }]
  }
}

function permissionRow(it: Intention, p: JsonObject, i: number, inherited: string[]): MapRow {
  const where = `${describe(it)} Permissions[${i}]`
  const key = `@p/${it.SourceName}/${i + 1}`
  try {
    const action = p.Action
    if (action !== 'allow' && action !== 'deny') throw new IntentionRuleError(`Action ${JSON.stringify(action)} is not allow or deny`)
    const { tokens, unenforced } = httpTokens(p.HTTP)
    const requires = [...inherited, ...unenforcedKeys(p, PERMISSION_KEYS), ...unenforced]
    if (requires.length === 0) return { Key: key, Value: [action, ...tokens].join(' ') }
    if (action === 'allow') {
      warnOnce(`${where}: allow never matches: it requires ${requires.join(', ')}, which meshplate does not enforce`)
      return { Key: key, Value: 'allow never' }
    }
    warnOnce(`${where}: deny applies whatever its ${requires.join(', ')} says`)
    return { Key: key, Value: ['deny', ...tokens].join(' ') }
  } catch (err) {
    if (err instanceof IntentionRuleError || err instanceof RegexError) throw new IntentionRuleError(`${where}: ${err.message}`, { cause: err })
    throw err
  }
}

/** The match tokens of a permission's HTTP block, and the conditions in it left unenforced. */
function httpTokens(http: Json | undefined): { tokens: string[]; unenforced: string[] } {
  if (http === undefined || http === null) throw new IntentionRuleError('HTTP is missing (only HTTP permissions are supported)')
  if (typeof http !== 'object' || Array.isArray(http)) throw new IntentionRuleError('HTTP is not an object')
  const tokens: string[] = []
  const unenforced = unenforcedKeys(http, HTTP_KEYS).map((k) => `HTTP.${k}`)
  const paths = (['PathExact', 'PathPrefix', 'PathRegex'] as const).filter((k) => text(http[k], k) !== '')
  if (paths.length > 1) throw new IntentionRuleError(`HTTP sets ${paths.join(' and ')}; at most one path match is allowed`)
  if (http.PathExact) tokens.push(`path.exact=${pct(text(http.PathExact, 'PathExact'))}`)
  if (http.PathPrefix) tokens.push(`path.prefix=${pct(text(http.PathPrefix, 'PathPrefix'))}`)
  if (http.PathRegex) tokens.push(`path.regex=${pct(anchoredPcre(text(http.PathRegex, 'PathRegex')))}`)
  const methods = list(http.Methods, 'Methods').map((m, j) => text(m, `Methods[${j}]`))
  const bad = methods.find((m) => !METHOD.test(m))
  if (bad !== undefined) throw new IntentionRuleError(`Methods: ${JSON.stringify(bad)} is not an HTTP method`)
  if (methods.length) tokens.push(`methods=${methods.join(',')}`)
  list(http.Header, 'Header').forEach((h, j) => {
    const header = headerToken(h, `Header[${j}]`)
    if (typeof header === 'string') tokens.push(header)
    else unenforced.push(...header.map((k) => `HTTP.Header[${j}].${k}`))
  })
  return { tokens, unenforced }
}

/**
 * `hdr=<kind>:<invert>[i]:<name>:<value>` with exactly one of Present, Exact, Prefix, Suffix,
 * Contains, Regex; or the keys of a matcher that sets a condition meshplate does not know.
 */
function headerToken(h: Json, where: string): string | string[] {
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new IntentionRuleError(`${where} is not an object`)
  const unknown = unenforcedKeys(h, HEADER_KEYS)
  if (unknown.length > 0) return unknown
  const name = text(h.Name, `${where}.Name`).toLowerCase()
  if (!/^:?[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new IntentionRuleError(`${where}.Name ${JSON.stringify(h.Name)} is not a header name`)
  const kinds = HEADER_KINDS.filter((k) => (k === 'Present' ? h[k] === true : text(h[k], `${where}.${k}`) !== ''))
  if (kinds.length !== 1) throw new IntentionRuleError(`${where} needs exactly one of ${HEADER_KINDS.join(', ')}`)
  const kind = kinds[0]!
  const ignoreCase = h.IgnoreCase === true
  const value = kind === 'Present' ? '' : kind === 'Regex' ? anchoredPcre(text(h.Regex, `${where}.Regex`)) : text(h[kind], `${where}.${kind}`)
  // Consul refuses IgnoreCase on Present and Regex; a regex that has it anyway gets PCRE's (?i).
  const flags = `${h.Invert === true ? 1 : 0}${ignoreCase && kind !== 'Present' && kind !== 'Regex' ? 'i' : ''}`
  return `hdr=${kind.toLowerCase()}:${flags}:${pct(name)}:${pct(ignoreCase && kind === 'Regex' ? `(?i)${value}` : value)}`
}

function text(v: Json | undefined, where: string): string {
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw new IntentionRuleError(`${where} is not a string`)
  return v
}

function list(v: Json | undefined, where: string): Json[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new IntentionRuleError(`${where} is not a list`)
  return v
}

/** Percent-encodes every byte outside [A-Za-z0-9._~/-], so a token never holds a space. */
export function pct(s: string): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    out += /[A-Za-z0-9._~/-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
