/**
 * What a discovery chain's route, split or resolver asks of the proxy besides
 * where a request goes: retries, timeouts, header changes and load balancing,
 * as the HAProxy words plan.ts puts in its plan. These are routing and
 * resilience settings, not security: where HAProxy cannot do exactly what
 * Envoy does, the plan does the closest thing it can (retry on the status
 * codes HAProxy knows, leave out a header it cannot write) and `warnOnce`
 * names the entry, the route and the field. One such field never costs a
 * route, an upstream or the sidecar its traffic, as it did when each of
 * these was an error that failed the whole render.
 */
import type { Json, JsonObject } from '../../consul/schema.ts'
import { durationMs, type ChainResolver } from '../../dependency/discovery-chain.ts'
import { ProxySettingsError } from '../../errors.ts'
import { haproxyQuote, haproxyTime } from '../../haproxy/words.ts'
import { warnOnce } from '../../template/warnings.ts'
import { show } from '../settings-values.ts'
import { TOKEN } from './match.ts'

/** HAProxy's `retries` and `retry-on` words of one backend. */
export interface RetryPolicy {
  retries: number
  retryOn: string
}

/** Request and response header changes, each an HAProxy action with its quoted arguments. */
export interface HeaderOps {
  request: string[]
  response: string[]
}

/** A pooled connection closed under a request is retried; a route asks for more. */
export const DEFAULT_POLICY: RetryPolicy = { retries: 3, retryOn: 'conn-failure empty-response' }

/** HAProxy's L7 retry conditions for Envoy's `retry_on` names. */
const RETRY_ON: Record<string, string> = {
  'connect-failure': 'conn-failure',
  'refused-stream': 'conn-failure',
  reset: 'empty-response junk-response',
  '5xx': '500 501 502 503 504',
  'gateway-error': '502 503 504',
}
/** The status codes HAProxy's `retry-on` accepts. */
const RETRYABLE_STATUS = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504]

/**
 * A route's retries: Envoy's one retry unless NumRetries says more; connection failures are
 * always retried. Codes and conditions HAProxy has no word for are left out with a warning.
 */
export function retryPolicy(dest: JsonObject, where: string): RetryPolicy {
  const codes = listAt(dest, 'RetryOnStatusCodes', where)
  const on = listAt(dest, 'RetryOn', where)
  const n = numRetries(dest.NumRetries, where)
  if (n === 0 && dest.RetryOnConnectFailure !== true && codes.length === 0 && on.length === 0) return DEFAULT_POLICY
  const words = new Set(['conn-failure', 'empty-response'])
  const retryable = codes.filter((c): c is number => typeof c === 'number' && RETRYABLE_STATUS.includes(c))
  retryable.forEach((c) => words.add(String(c)))
  const skipped = codes.filter((c) => !retryable.includes(c as number))
  if (skipped.length) {
    const kept = retryable.length ? `it retries on ${retryable.join(', ')}` : 'it retries on none of them'
    warnOnce(`${where}: Destination.RetryOnStatusCodes: HAProxy cannot retry on ${skipped.map(show).join(', ')} (only on ${RETRYABLE_STATUS.join(', ')}); ${kept}`)
  }
  for (const o of on) {
    if (o === 'retriable-status-codes') continue
    const mapped = typeof o === 'string' ? RETRY_ON[o] : undefined
    if (mapped) mapped.split(' ').forEach((w) => words.add(w))
    else warnOnce(`${where}: Destination.RetryOn ${show(o)} has no HAProxy equivalent and is left out (HAProxy knows ${Object.keys(RETRY_ON).join(', ')}, retriable-status-codes)`)
  }
  return { retries: n > 0 ? n : 1, retryOn: [...words].join(' ') }
}

function numRetries(v: Json | undefined, where: string): number {
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v
  warnOnce(`${where}: Destination.NumRetries ${show(v)} is not a whole number; Envoy's default of 1 retry applies`)
  return 0
}

function listAt(o: JsonObject, key: string, where: string): Json[] {
  const v = o[key]
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v
  warnOnce(`${where}: Destination.${key} ${show(v)} is not a list and is left out`)
  return []
}

/**
 * A route's `timeout server` override ('' none). HAProxy's is an inactivity timeout, exactly
 * Envoy's IdleTimeout and the closest it has to RequestTimeout, so the shorter of the two set
 * above 0 applies. Below 0 (Consul 1.18+) means "none", as Consul tells Envoy with 0: a negative
 * IdleTimeout gets HAProxy's longest (24 days) rather than the 1 h default; a negative
 * RequestTimeout needs nothing, since HAProxy has no timer on a whole request.
 */
export function routeTimeout(dest: JsonObject, where: string): string {
  const request = durationAt(dest.RequestTimeout, `${where}: Destination.RequestTimeout`)
  const idle = durationAt(dest.IdleTimeout, `${where}: Destination.IdleTimeout`)
  const set = [request, idle].filter((ms) => ms > 0)
  if (set.length) return haproxyTime(Math.min(...set))
  return idle < 0 ? haproxyTime(0) : ''
}

/**
 * A resolver's `RequestTimeout` (Consul 1.15+), which Envoy applies only when the chain starts at
 * that resolver: the `timeout server` of its backends, or '' (unset, or below 0: none).
 */
export function resolverTimeout(r: ChainResolver): string {
  return r.RequestTimeoutMs > 0 ? haproxyTime(r.RequestTimeoutMs) : ''
}

function durationAt(v: Json | undefined, where: string): number {
  try {
    return durationMs(v, where)
  } catch (err) {
    warnOnce(`${(err as Error).message}; no timeout is set from it`)
    return 0
  }
}

/** `RequestHeaders`/`ResponseHeaders` {Add, Set, Remove} as HAProxy actions; what cannot be written is left out. */
export function headerOps(def: JsonObject, where: string): HeaderOps {
  return { request: headerActions(def.RequestHeaders, `${where}: RequestHeaders`), response: headerActions(def.ResponseHeaders, `${where}: ResponseHeaders`) }
}

function headerActions(value: Json | undefined, where: string): string[] {
  if (value === undefined || value === null) return []
  if (typeof value !== 'object' || Array.isArray(value)) {
    warnOnce(`${where} ${show(value)} is not an object and is left out`)
    return []
  }
  const out: string[] = []
  for (const key of ['Add', 'Set'] as const) {
    const pairs = value[key]
    if (pairs === undefined || pairs === null) continue
    if (typeof pairs !== 'object' || Array.isArray(pairs)) warnOnce(`${where}.${key} ${show(pairs)} is not an object and is left out`)
    else for (const [k, v] of Object.entries(pairs)) pushAction(out, `${key === 'Add' ? 'add' : 'set'}-header`, k, v, `${where}.${key}`)
  }
  const remove = value.Remove
  if (Array.isArray(remove)) remove.forEach((k) => pushAction(out, 'del-header', String(k), undefined, `${where}.Remove`))
  else if (remove !== undefined && remove !== null) warnOnce(`${where}.Remove ${show(remove)} is not a list and is left out`)
  return out
}

/** One header action, or a warning when its name or value cannot be an HAProxy config word. */
function pushAction(out: string[], action: string, name: string, value: Json | undefined, where: string): void {
  if (!TOKEN.test(name)) {
    warnOnce(`${where}: ${show(name)} is not a header name; that header is left out`)
    return
  }
  if (value === undefined) {
    out.push(`${action} ${name}`)
    return
  }
  try {
    // A header value is an HAProxy log-format string: `%` is written `%%`.
    out.push(`${action} ${name} ${haproxyQuote(String(value).replace(/%/g, '%%'))}`)
  } catch (err) {
    if (!(err instanceof ProxySettingsError)) throw err
    warnOnce(`${where}: header ${name}: ${err.message}; that header is left out`)
  }
}

/**
 * A resolver's `LoadBalancer`: round_robin, least_request, random; ring_hash and maglev become
 * consistent hashing on the first hash policy (header, cookie, query parameter or source IP).
 * What HAProxy cannot hash on falls back to `random`, which is what Envoy's ring does without a
 * usable hash key; a policy it does not know falls back to the mode's default balance.
 */
export function balanceOf(lb: JsonObject | null, mode: 'tcp' | 'http', where: string): { balance: string; consistentHash: boolean } {
  const fallback = { balance: mode === 'http' ? 'roundrobin' : 'leastconn', consistentHash: false }
  const policy = lb && typeof lb.Policy === 'string' ? lb.Policy : ''
  if (policy === '') return fallback
  if (policy === 'round_robin') return { balance: 'roundrobin', consistentHash: false }
  if (policy === 'least_request') return { balance: 'leastconn', consistentHash: false }
  if (policy === 'random') return { balance: 'random', consistentHash: false }
  if (policy !== 'ring_hash' && policy !== 'maglev') {
    warnOnce(`${where}: Policy ${show(policy)} is not one meshplate knows; the upstream balances ${fallback.balance}`)
    return fallback
  }
  const policies = Array.isArray(lb!.HashPolicies) ? lb!.HashPolicies : []
  if (policies.length > 1) warnOnce(`${where}: HashPolicies: only the first of ${policies.length} is used (Envoy tries the next when the first gives no hash)`)
  const hp = policies[0]
  if (hp === undefined) return { balance: 'random', consistentHash: false }
  return hashOn(hp, mode, `${where}: HashPolicies[0]`)
}

function hashOn(hp: Json, mode: 'tcp' | 'http', where: string): { balance: string; consistentHash: boolean } {
  const random = (why: string) => {
    warnOnce(`${where}: ${why}; the upstream balances at random`)
    return { balance: 'random', consistentHash: false }
  }
  if (!hp || typeof hp !== 'object' || Array.isArray(hp)) return random(`${show(hp)} is not an object`)
  if (hp.SourceIP === true) return { balance: 'source', consistentHash: true }
  if (mode === 'tcp') return random('a tcp upstream can only hash on SourceIP')
  const value = typeof hp.FieldValue === 'string' ? hp.FieldValue : ''
  if (!TOKEN.test(value)) return random(`FieldValue ${show(hp.FieldValue)} is not a header, cookie or parameter name`)
  if (hp.Field === 'header') return { balance: `hdr(${value})`, consistentHash: true }
  if (hp.Field === 'cookie') {
    if (hp.CookieConfig) warnOnce(`${where}: CookieConfig: meshplate hashes on cookie ${value} when the client sends it, but never sets it as Envoy would`)
    return { balance: `hash req.cook(${value})`, consistentHash: true }
  }
  if (hp.Field === 'query_parameter') return { balance: `url_param ${value}`, consistentHash: true }
  return random(`Field ${show(hp.Field)} is not header, cookie or query_parameter`)
}
