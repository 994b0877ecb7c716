/**
 * Turns a destination's intentions into the rows of the intentions map that
 * lua/authorize.lua evaluates, L7 `Permissions` included. The map is what the
 * runtime API replaces on every change, so no intention change ever reloads
 * HAProxy; this is why L7 rules live there and not in haproxy.cfg ACLs.
 *
 * Semantics are Consul's (the service-intentions docs, and agent/xds/rbac.go
 * for Envoy): intentions arrive in precedence order and the first one whose
 * source matches decides (exact name, then `*`, which the Lua looks up in that
 * order). An L7 intention's permissions are tried in order and the first that
 * matches decides; a request matching none gets the agent's default action,
 * never a lower-precedence intention. A permission matches when its path
 * (exact, prefix or anchored regex), its methods (any of) and all its header
 * matchers hold. For tcp destinations an L7 intention counts as deny, as
 * Consul's authorize endpoint and its Envoy config do.
 *
 * Row format (one map line each, values percent-encoded so a line never holds
 * a space, `#` or backslash the map parser could misread):
 *   <source> allow|deny          an L4 intention
 *   <source> l7 <n>              an L7 intention with n permissions, which follow as
 *   @p/<source>/<i> <allow|deny> [path.exact=…|path.prefix=…|path.regex=…] [methods=GET,PUT] [hdr=<kind>:<invert 0|1>:<name>:<value>]…
 */
import type { Intention } from '../dependency/intentions-match.ts'
import type { Json, JsonObject } from '../consul/schema.ts'
import { anchoredPcre, RegexError } from './re2.ts'

export interface MapRow {
  Key: string
  Value: string
}

/** An intention that cannot be rendered; the message names it. */
export class IntentionRuleError extends Error {}

const HTTP_LIKE = new Set(['http', 'http2', 'grpc'])
const METHOD = /^[A-Z]+$/
const HEADER_KINDS = ['Present', 'Exact', 'Prefix', 'Suffix', 'Regex'] as const

/** True when `protocol` is one the sidecar enforces per request. */
export function isHttpLike(protocol: unknown): boolean {
  return typeof protocol === 'string' && HTTP_LIKE.has(protocol)
}

/** The map rows for a destination's intentions (already in precedence order). */
export function intentionRules(intentions: Intention[] | undefined, protocol?: unknown): MapRow[] {
  const l7 = isHttpLike(protocol)
  const seen = new Set<string>()
  const rows: MapRow[] = []
  for (const it of intentions ?? []) {
    if (it.SourcePeer || !['', 'default'].includes(it.SourceNS) || !['', 'default'].includes(it.SourcePartition)) continue
    if (seen.has(it.SourceName)) continue
    seen.add(it.SourceName)
    if (it.Permissions.length === 0) rows.push({ Key: it.SourceName, Value: it.Action === 'allow' ? 'allow' : 'deny' })
    else if (!l7) rows.push({ Key: it.SourceName, Value: 'deny' })
    else rows.push({ Key: it.SourceName, Value: `l7 ${it.Permissions.length}` }, ...it.Permissions.map((p, i) => permissionRow(it, p, i)))
  }
  return rows
}

function permissionRow(it: Intention, p: JsonObject, i: number): MapRow {
  const where = `intention ${it.SourceName} -> ${it.DestinationName}${it.ID ? ` (${it.ID})` : ''} Permissions[${i}]`
  try {
    const action = p.Action
    if (action !== 'allow' && action !== 'deny') throw new IntentionRuleError(`Action ${JSON.stringify(action)} is not allow or deny`)
    return { Key: `@p/${it.SourceName}/${i + 1}`, Value: [action, ...httpTokens(p.HTTP)].join(' ') }
  } catch (err) {
    if (err instanceof IntentionRuleError || err instanceof RegexError) throw new IntentionRuleError(`${where}: ${err.message}`, { cause: err })
    throw err
  }
}

/** The match tokens of a permission's HTTP block. */
function httpTokens(http: Json | undefined): string[] {
  if (http === undefined || http === null) throw new IntentionRuleError('HTTP is missing (only HTTP permissions are supported)')
  if (typeof http !== 'object' || Array.isArray(http)) throw new IntentionRuleError('HTTP is not an object')
  const tokens: string[] = []
  const paths = (['PathExact', 'PathPrefix', 'PathRegex'] as const).filter((k) => text(http[k], k) !== '')
  if (paths.length > 1) throw new IntentionRuleError(`HTTP sets ${paths.join(' and ')}; at most one path match is allowed`)
  if (http.PathExact) tokens.push(`path.exact=${pct(text(http.PathExact, 'PathExact'))}`)
  if (http.PathPrefix) tokens.push(`path.prefix=${pct(text(http.PathPrefix, 'PathPrefix'))}`)
  if (http.PathRegex) tokens.push(`path.regex=${pct(anchoredPcre(text(http.PathRegex, 'PathRegex')))}`)
  const methods = list(http.Methods, 'Methods').map((m, j) => text(m, `Methods[${j}]`))
  const bad = methods.find((m) => !METHOD.test(m))
  if (bad !== undefined) throw new IntentionRuleError(`Methods: ${JSON.stringify(bad)} is not an HTTP method`)
  if (methods.length) tokens.push(`methods=${methods.join(',')}`)
  list(http.Header, 'Header').forEach((h, j) => tokens.push(headerToken(h, `Header[${j}]`)))
  return tokens
}

/** `hdr=<kind>:<invert>:<name>:<value>`; exactly one of Present, Exact, Prefix, Suffix, Regex. */
function headerToken(h: Json, where: string): string {
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new IntentionRuleError(`${where} is not an object`)
  const name = text(h.Name, `${where}.Name`).toLowerCase()
  if (!/^:?[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new IntentionRuleError(`${where}.Name ${JSON.stringify(h.Name)} is not a header name`)
  const kinds = HEADER_KINDS.filter((k) => (k === 'Present' ? h[k] === true : text(h[k], `${where}.${k}`) !== ''))
  if (kinds.length !== 1) throw new IntentionRuleError(`${where} needs exactly one of ${HEADER_KINDS.join(', ')}`)
  const kind = kinds[0]!
  const value = kind === 'Present' ? '' : kind === 'Regex' ? anchoredPcre(text(h.Regex, `${where}.Regex`)) : text(h[kind], `${where}.${kind}`)
  return `hdr=${kind.toLowerCase()}:${h.Invert === true ? 1 : 0}:${pct(name)}:${pct(value)}`
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
