/**
 * A service-router route's `Match.HTTP` as the HAProxy condition an upstream
 * listener tests, with Envoy's meaning: the path matches exactly, by prefix or
 * by an RE2 regex over the whole path (re2.ts anchors it); every header and
 * query-parameter matcher must hold; `Methods` is any of. The values are
 * quoted as HAProxy config words (haproxy/words.ts), so a route can hold
 * spaces, quotes or `$` without changing the config's meaning.
 * `CaseInsensitive` (Consul 1.18+) is Envoy's `case_sensitive: false`, which
 * applies to PathExact and PathPrefix only: Envoy ignores it for a regex, and
 * so does this. What HAProxy cannot express the way Envoy does is a
 * RouteError naming the route, never approximated silently; the plan
 * (plan.ts) then leaves that one route out. A key this file does not
 * know (a newer Consul's) is left out of the match with a warning.
 */
import type { Json, JsonObject } from '../../consul/schema.ts'
import { ProxySettingsError, RegexError, RouteError } from '../../errors.ts'
import { haproxyQuote } from '../../haproxy/words.ts'
import { warnOnce } from '../../template/warnings.ts'
import { anchoredPcre } from '../re2.ts'

/** An HTTP token (RFC 9110 tchar+): a header, cookie or parameter name. */
export const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
/** A header name, pseudo-headers (`:authority`) included. */
const HEADER_NAME = /^:?[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const METHOD = /^[A-Z]+$/

const HTTP_KEYS = ['PathExact', 'PathPrefix', 'PathRegex', 'Header', 'QueryParam', 'Methods', 'CaseInsensitive']
const HEADER_KEYS = ['Name', 'Present', 'Exact', 'Prefix', 'Suffix', 'Regex', 'Invert']
const QUERY_KEYS = ['Name', 'Present', 'Exact', 'Regex']

/** The condition of `Match` ('' matches everything), for route `where` (for errors and warnings). */
export function routeCondition(match: JsonObject, where: string): string {
  try {
    const http = object(match.HTTP, 'Match.HTTP')
    unknownKeys(http, HTTP_KEYS, `${where}: Match.HTTP`)
    const terms: string[] = []
    const paths = (['PathExact', 'PathPrefix', 'PathRegex'] as const).filter((k) => text(http[k], k) !== '')
    if (paths.length > 1) throw new RouteError(`Match.HTTP sets ${paths.join(' and ')}; at most one path match is allowed`)
    const i = caseInsensitive(http) ? ' -i' : ''
    if (http.PathExact) terms.push(`{ path${i} -m str ${haproxyQuote(text(http.PathExact, 'PathExact'))} }`)
    // The default route Consul appends is PathPrefix "/": every path.
    if (http.PathPrefix && http.PathPrefix !== '/') terms.push(`{ path${i} -m beg ${haproxyQuote(text(http.PathPrefix, 'PathPrefix'))} }`)
    if (http.PathRegex) terms.push(`{ path -m reg ${haproxyQuote(anchoredPcre(text(http.PathRegex, 'PathRegex')))} }`)
    list(http.Header, 'Header').forEach((h, n) => terms.push(headerTerm(object(h, `Header[${n}]`), `Header[${n}]`, where)))
    list(http.QueryParam, 'QueryParam').forEach((q, n) => terms.push(queryTerm(object(q, `QueryParam[${n}]`), `QueryParam[${n}]`, where)))
    const methods = list(http.Methods, 'Methods').map((m, n) => text(m, `Methods[${n}]`))
    const bad = methods.find((m) => !METHOD.test(m))
    if (bad !== undefined) throw new RouteError(`Methods: ${JSON.stringify(bad)} is not an HTTP method`)
    if (methods.length) terms.push(`{ method ${methods.join(' ')} }`)
    return terms.join(' ')
  } catch (err) {
    if (err instanceof RouteError || err instanceof RegexError || err instanceof ProxySettingsError) throw new RouteError(`${where}: ${err.message}`, { cause: err })
    throw err
  }
}

/** `Match.HTTP.CaseInsensitive`: true, or absent/false. */
export function caseInsensitive(http: JsonObject): boolean {
  const v = http.CaseInsensitive
  if (v !== undefined && v !== null && typeof v !== 'boolean') throw new RouteError(`Match.HTTP.CaseInsensitive ${JSON.stringify(v)} is not true or false`)
  return v === true
}

/** Warns about keys a newer Consul may send that this file does not read: the match holds without them. */
function unknownKeys(o: JsonObject, known: string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) warnOnce(`${where}.${k} is not a match meshplate knows: the route matches without it`)
  }
}

/** One header matcher: exactly one of Present, Exact, Prefix, Suffix, Regex; `Invert` negates it. */
function headerTerm(h: JsonObject, where: string, route: string): string {
  unknownKeys(h, HEADER_KEYS, `${route}: Match.HTTP.${where}`)
  const name = text(h.Name, `${where}.Name`)
  if (!HEADER_NAME.test(name)) throw new RouteError(`${where}.Name ${JSON.stringify(h.Name)} is not a header name`)
  // req.fhdr: the whole value of the last occurrence, commas included (Envoy matches the value, not its parts).
  const fetch = `req.fhdr(${name.toLowerCase()})`
  const term = oneMatcher(h, where, {
    Present: () => `{ req.hdr_cnt(${name.toLowerCase()}) gt 0 }`,
    Exact: (v) => `{ ${fetch} -m str ${haproxyQuote(v)} }`,
    Prefix: (v) => `{ ${fetch} -m beg ${haproxyQuote(v)} }`,
    Suffix: (v) => `{ ${fetch} -m end ${haproxyQuote(v)} }`,
    Regex: (v) => `{ ${fetch} -m reg ${haproxyQuote(anchoredPcre(v))} }`,
  })
  return h.Invert === true ? `!${term}` : term
}

/** One query-parameter matcher: Present, Exact or Regex (the value as sent, not decoded). */
function queryTerm(q: JsonObject, where: string, route: string): string {
  unknownKeys(q, QUERY_KEYS, `${route}: Match.HTTP.${where}`)
  const name = text(q.Name, `${where}.Name`)
  if (!/^[A-Za-z0-9._~-]+$/.test(name)) throw new RouteError(`${where}.Name ${JSON.stringify(q.Name)} is not a plain query parameter name`)
  return oneMatcher(q, where, {
    Present: () => `{ urlp(${name}) -m found }`,
    Exact: (v) => `{ urlp(${name}) -m str ${haproxyQuote(v)} }`,
    Regex: (v) => `{ urlp(${name}) -m reg ${haproxyQuote(anchoredPcre(v))} }`,
  })
}

function oneMatcher(m: JsonObject, where: string, kinds: Record<string, (value: string) => string>): string {
  const set = Object.keys(kinds).filter((k) => (k === 'Present' ? m[k] === true : text(m[k], `${where}.${k}`) !== ''))
  if (set.length !== 1) throw new RouteError(`${where} needs exactly one of ${Object.keys(kinds).join(', ')}`)
  const kind = set[0]!
  return kinds[kind]!(kind === 'Present' ? '' : text(m[kind], `${where}.${kind}`))
}

function object(v: Json | undefined, where: string): JsonObject {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new RouteError(`${where} is not an object`)
  return v
}

/** A string field, '' when absent. */
export function text(v: Json | undefined, where: string): string {
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw new RouteError(`${where} is not a string`)
  return v
}

function list(v: Json | undefined, where: string): Json[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new RouteError(`${where} is not a list`)
  return v
}
