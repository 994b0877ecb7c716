/**
 * `discoveryChain(u) | chainPlan(...)`: a compiled discovery chain turned into
 * what an upstream listener prints, so the template only prints. The HAProxy
 * shape, for an HTTP chain that starts at a router:
 *   - routes, in the router's order: the first whose match holds sets
 *     `txn.mp_route` (Consul always appends a catch-all route);
 *   - picks: a route's destination, or one per split of the splitter it leads
 *     to, chosen by `rand(10000)` against the cumulative weights (Consul's
 *     weights have two decimals, so 10000 is exact);
 *   - per pick, the backends of its resolver in failover order: the first
 *     with a usable server (`nbsrv`) serves, so a failover happens in
 *     HAProxy, with no render, when the runtime API empties a target's slots.
 * A backend is one target (service, subset, datacenter) with one retry policy
 * (HAProxy's retries are per backend, Envoy's per route), so a route with its
 * own retries gets its own backend of the same target. The start's primary
 * target with the default policy keeps the name `upstream_<name>`, so a chain
 * with no config entries renders exactly as an upstream did before chains.
 */
import type { JsonObject } from '../consul/schema.ts'
import { durationMs, type ChainNode, type ChainTarget, type CompiledChain } from '../dependency/discovery-chain.ts'
import { routeCondition, RouteError, text, TOKEN } from './chain-match.ts'
import type { ChainWithInstances, Instance, UpstreamWithInstances } from './functions.ts'
import { healthyInstances, routedInstances } from './instances.ts'
import { haproxyQuote, haproxyTime } from './settings-values.ts'

export interface ChainPlan {
  mode: 'tcp' | 'http'
  /** The frontend's default_backend: the start's primary target. */
  defaultBackend: string
  /** HTTP routes in order; empty when the chain does not start at a router. */
  routes: PlanRoute[]
  picks: PlanPick[]
  /** Some pick is chosen by weight: the frontend draws `txn.mp_split`. */
  usesSplit: boolean
  backends: PlanBackend[]
}

export interface PlanRoute {
  index: number
  /** HAProxy condition of the route's match; '' matches every request. */
  when: string
  /** `PrefixRewrite`: `replace-path` regex and replacement, both quoted. */
  rewrite: { pattern: string; replacement: string } | undefined
  /** `RequestTimeout` as an HAProxy time, or '' (printed in the backends it reaches). */
  timeout: string
  headers: HeaderOps
}

export interface PlanPick {
  index: number
  /** The route it belongs to (-1: the chain has no router). */
  route: number
  /** Chosen when `txn.mp_split` is below this (0-10000); undefined: no draw (the last or only pick). */
  below: number | undefined
  /** Backend names in failover order. */
  backends: string[]
  headers: HeaderOps
}

/** Request and response header changes, each an HAProxy action with its quoted arguments. */
export interface HeaderOps {
  request: string[]
  response: string[]
}

export interface PlanBackend {
  name: string
  /** The service its servers must prove to be (their SPIFFE id's service). */
  service: string
  target: string
  connectTimeout: string
  /** `balance` arguments, and whether `hash-type consistent` goes with them. */
  balance: string
  consistentHash: boolean
  retries: number
  retryOn: string
  /** Routes reaching this backend with a `RequestTimeout`: `set-timeout server` works in backends only. */
  timeouts: Array<{ route: number; timeout: string }>
  instances: Instance[]
}

export interface PlanInput {
  chain: CompiledChain
  /** The upstream's name in config (`service_api`): backends are `upstream_<name>[...]`. */
  name: string
  /** The listener's mode; tcp takes no routes or splits. */
  mode: 'tcp' | 'http'
  /** Every instance of each target, with health, before routing (`instances.ts`). */
  instances: Record<string, Omit<Instance, 'Weight'>[]>
  /** The upstream's connect timeout, for resolvers nobody configured. */
  connectTimeout: string
}

const DEFAULT_POLICY = { retries: 3, retryOn: 'conn-failure empty-response' }

/**
 * `u | upstreamPlan(discoveryChain(u), name, mode, connectTimeout)`: the
 * chain's plan, or for a prepared query (no chain) its one backend, whose
 * servers must be the service the query's answers name.
 */
export function upstreamPlan(u: UpstreamWithInstances, chain: ChainWithInstances | null | undefined, name: string, modeArg: unknown, connectTimeout: string): ChainPlan {
  const mode = String(modeArg)
  if (mode !== 'tcp' && mode !== 'http') throw new RouteError(`upstreamPlan: mode ${JSON.stringify(mode)} is not tcp or http`)
  if (chain) return chainPlan({ chain, name, mode, instances: chain.TargetInstances, connectTimeout })
  const backend: PlanBackend = {
    name: `upstream_${name}`,
    service: u.DestinationType === 'prepared_query' && u.Instances.length ? u.Instances[0]!.ServiceName : u.DestinationName,
    target: u.DestinationName,
    connectTimeout,
    ...balanceOf(null, mode, ''),
    ...DEFAULT_POLICY,
    timeouts: [],
    instances: u.Instances,
  }
  const pick = { index: 0, route: -1, below: undefined, backends: [backend.name], headers: noHeaders() }
  return { mode, defaultBackend: backend.name, routes: [], picks: [pick], usesSplit: false, backends: [backend] }
}

export function chainPlan(input: PlanInput): ChainPlan {
  const { chain, mode } = input
  const where = `discovery chain ${chain.ServiceName}`
  const start = chain.Nodes[chain.StartNode]!
  const builder = new Builder(input)
  const routes: PlanRoute[] = []
  const picks: PlanPick[] = []
  if (start.Type === 'router' && mode === 'http') {
    start.Routes.forEach((r, i) => {
      const at = `${where}: service-router route ${i}`
      routes.push(planRoute(r.Match, r.Destination, i, at))
      picks.push(...builder.picks(chain.Nodes[r.NextNode]!, i, policyOf(r.Destination, at), picks.length))
    })
  } else {
    const node = start.Type === 'router' ? chain.Nodes[start.Routes.at(-1)!.NextNode]! : start
    if (mode === 'tcp' && node.Type !== 'resolver') throw new RouteError(`${where}: protocol tcp, but the chain starts at a ${node.Type} (routes and splits need an HTTP protocol)`)
    picks.push(...builder.picks(node, -1, DEFAULT_POLICY, 0))
  }
  const backends = builder.backends()
  for (const r of routes.filter((r) => r.timeout)) {
    const names = new Set(picks.filter((p) => p.route === r.index).flatMap((p) => p.backends))
    for (const b of backends) if (names.has(b.name)) b.timeouts.push({ route: r.index, timeout: r.timeout })
  }
  return { mode, defaultBackend: picks[0]!.backends[0]!, routes, picks, usesSplit: picks.some((p) => p.below !== undefined), backends }
}

class Builder {
  #backends = new Map<string, PlanBackend>()
  #policies: string[] = []
  /** Failover groups (primary first): their members hold only healthy instances. */
  #groups: string[][] = []
  #primaryTarget: string

  constructor(readonly input: PlanInput) {
    this.#primaryTarget = primaryTarget(input.chain)
  }

  /** The picks of a node: a resolver is one, a splitter one per split. */
  picks(node: ChainNode, route: number, policy: typeof DEFAULT_POLICY, first: number): PlanPick[] {
    if (node.Type === 'resolver') return [{ index: first, route, below: undefined, backends: this.#resolver(node, policy), headers: noHeaders() }]
    if (node.Type === 'router') throw new RouteError(`discovery chain ${this.input.chain.ServiceName}: a route leads to router ${node.Name}`)
    const splits = node.Splits.filter((s) => s.Weight > 0)
    let sum = 0
    return splits.map((s, i) => {
      sum += s.Weight
      const next = this.input.chain.Nodes[s.NextNode]!
      if (next.Type !== 'resolver') throw new RouteError(`discovery chain ${this.input.chain.ServiceName}: split ${i} of ${node.Name} leads to a ${next.Type}, not a resolver`)
      const where = `discovery chain ${this.input.chain.ServiceName}: service-splitter ${node.Name} split ${i}`
      return {
        index: first + i,
        route,
        below: i === splits.length - 1 ? undefined : Math.round(sum * 100),
        backends: this.#resolver(next, policy),
        headers: headerOps(s.Definition, where),
      }
    })
  }

  #resolver(node: Extract<ChainNode, { Type: 'resolver' }>, policy: typeof DEFAULT_POLICY): string[] {
    const targets = [node.Resolver.Target, ...node.Resolver.FailoverTargets]
    const names = targets.map((t) => this.#backend(t, node, policy))
    if (names.length > 1) this.#groups.push(names)
    return names
  }

  #backend(targetId: string, node: Extract<ChainNode, { Type: 'resolver' }>, policy: typeof DEFAULT_POLICY): string {
    const { chain, name: upstream } = this.input
    const target = chain.Targets[targetId]!
    const key = `${policy.retries} ${policy.retryOn}`
    if (!this.#policies.includes(key)) this.#policies.push(key)
    const p = key === `${DEFAULT_POLICY.retries} ${DEFAULT_POLICY.retryOn}` ? '' : `.retry${this.#policies.indexOf(key)}`
    const name = `upstream_${upstream}${targetId === this.#primaryTarget ? '' : `.${readable(target)}`}${p}`
    if (!this.#backends.has(name)) {
      const timeoutMs = node.Resolver.Default ? 0 : node.Resolver.ConnectTimeoutMs
      this.#backends.set(name, {
        name,
        service: target.Service,
        target: targetId,
        connectTimeout: timeoutMs > 0 ? haproxyTime(timeoutMs) : this.input.connectTimeout,
        ...balanceOf(node.LoadBalancer, this.input.mode, `discovery chain ${chain.ServiceName}: service-resolver ${node.Name} LoadBalancer`),
        ...policy,
        timeouts: [],
        instances: [],
      })
    }
    return name
  }

  /**
   * The backends with their instances. A failover member gets only healthy
   * ones, else nbsrv could not see it fail; when no member of a group has
   * one, its primary gets them all (panic routing, as for a plain upstream).
   */
  backends(): PlanBackend[] {
    const list = [...this.#backends.values()]
    const inGroup = new Set(this.#groups.flat())
    for (const b of list) b.instances = (inGroup.has(b.name) ? healthyInstances : routedInstances)(this.#eligible(b))
    for (const group of this.#groups) {
      const primary = this.#backends.get(group[0]!)!
      if (group.every((n) => this.#backends.get(n)!.instances.length === 0)) primary.instances = routedInstances(this.#eligible(primary))
    }
    return list
  }

  #eligible(b: PlanBackend): Omit<Instance, 'Weight'>[] {
    const all = this.input.instances[b.target] ?? []
    return this.input.chain.Targets[b.target]!.OnlyPassing ? all.filter((i) => i.Status === 'passing') : all
  }
}

/** The target a plain request reaches first: the start's (or the default route's) primary. */
function primaryTarget(chain: CompiledChain): string {
  let node = chain.Nodes[chain.StartNode]!
  for (let hops = 0; hops < 8 && node.Type !== 'resolver'; hops++) {
    node = chain.Nodes[node.Type === 'router' ? node.Routes.at(-1)!.NextNode : node.Splits[0]!.NextNode]!
  }
  return node.Type === 'resolver' ? node.Resolver.Target : ''
}

/** `[subset.]service[.dc]`, as far as it is unique for a chain. */
function readable(t: ChainTarget): string {
  return [t.ServiceSubset, t.Service, t.Datacenter].filter(Boolean).join('.').replace(/[^A-Za-z0-9_.:-]/g, '_')
}

function planRoute(match: JsonObject, dest: JsonObject, index: number, where: string): PlanRoute {
  const prefix = text(dest.PrefixRewrite, `${where}: PrefixRewrite`)
  const http = (match.HTTP ?? {}) as JsonObject
  const matched = text(http.PathPrefix, `${where}: PathPrefix`) || text(http.PathExact, `${where}: PathExact`) || '/'
  const timeoutMs = safeDuration(dest.RequestTimeout, `${where}: Destination.RequestTimeout`)
  return {
    index,
    when: routeCondition(match, where),
    rewrite: prefix ? { pattern: haproxyQuote(`^${escapeRegex(matched)}(.*)$`), replacement: haproxyQuote(`${prefix}\\1`) } : undefined,
    timeout: timeoutMs > 0 ? haproxyTime(timeoutMs) : '',
    headers: headerOps(dest, where),
  }
}

/** HAProxy's L7 retry conditions for Envoy's `retry_on` names; status codes HAProxy can retry on. */
const RETRY_ON: Record<string, string> = {
  'connect-failure': 'conn-failure',
  'refused-stream': 'conn-failure',
  reset: 'empty-response junk-response',
  '5xx': '500 501 502 503 504',
  'gateway-error': '502 503 504',
}
const RETRYABLE_STATUS = new Set([401, 403, 404, 408, 425, 500, 501, 502, 503, 504])

/** A route's retries: Envoy's one retry unless NumRetries says more; connection failures are always retried. */
function policyOf(dest: JsonObject, where: string): typeof DEFAULT_POLICY {
  const codes = Array.isArray(dest.RetryOnStatusCodes) ? dest.RetryOnStatusCodes : []
  const on = Array.isArray(dest.RetryOn) ? dest.RetryOn : []
  const n = typeof dest.NumRetries === 'number' ? dest.NumRetries : 0
  if (n === 0 && dest.RetryOnConnectFailure !== true && codes.length === 0 && on.length === 0) return DEFAULT_POLICY
  const words = new Set(['conn-failure', 'empty-response'])
  for (const c of codes) {
    if (typeof c !== 'number' || !RETRYABLE_STATUS.has(c)) throw new RouteError(`${where}: Destination.RetryOnStatusCodes: HAProxy retries only on ${[...RETRYABLE_STATUS].join(', ')}, not ${JSON.stringify(c)}`)
    words.add(String(c))
  }
  for (const o of on) {
    if (o === 'retriable-status-codes') continue
    const mapped = typeof o === 'string' ? RETRY_ON[o] : undefined
    if (!mapped) throw new RouteError(`${where}: Destination.RetryOn ${JSON.stringify(o)} has no HAProxy equivalent (supported: ${Object.keys(RETRY_ON).join(', ')}, retriable-status-codes)`)
    for (const w of mapped.split(' ')) words.add(w)
  }
  return { retries: n > 0 ? n : 1, retryOn: [...words].join(' ') }
}

/** `RequestHeaders`/`ResponseHeaders` {Add, Set, Remove} as HAProxy actions. */
function headerOps(def: JsonObject, where: string): HeaderOps {
  return { request: headerActions(def.RequestHeaders, `${where}: RequestHeaders`), response: headerActions(def.ResponseHeaders, `${where}: ResponseHeaders`) }
}

function headerActions(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return []
  if (typeof value !== 'object' || Array.isArray(value)) throw new RouteError(`${where} is not an object`)
  const ops = value as JsonObject
  const out: string[] = []
  const pairs = (key: 'Add' | 'Set') => Object.entries((ops[key] ?? {}) as JsonObject)
  // A header value is an HAProxy log-format string: `%` is written `%%`.
  const val = (v: unknown) => haproxyQuote(String(v).replace(/%/g, '%%'))
  for (const [k, v] of pairs('Add')) out.push(`add-header ${headerName(k, where)} ${val(v)}`)
  for (const [k, v] of pairs('Set')) out.push(`set-header ${headerName(k, where)} ${val(v)}`)
  for (const k of Array.isArray(ops.Remove) ? ops.Remove : []) out.push(`del-header ${headerName(String(k), where)}`)
  return out
}

function headerName(name: string, where: string): string {
  if (!TOKEN.test(name)) throw new RouteError(`${where}: ${JSON.stringify(name)} is not a header name`)
  return name
}

/**
 * A resolver's `LoadBalancer`: round_robin, least_request, random; ring_hash
 * and maglev become consistent hashing on the first hash policy (header,
 * cookie, query parameter or source IP).
 */
function balanceOf(lb: JsonObject | null, mode: 'tcp' | 'http', where: string): { balance: string; consistentHash: boolean } {
  const fallback = { balance: mode === 'http' ? 'roundrobin' : 'leastconn', consistentHash: false }
  const policy = lb && typeof lb.Policy === 'string' ? lb.Policy : ''
  if (policy === '') return fallback
  if (policy === 'round_robin') return { balance: 'roundrobin', consistentHash: false }
  if (policy === 'least_request') return { balance: 'leastconn', consistentHash: false }
  if (policy === 'random') return { balance: 'random', consistentHash: false }
  if (policy !== 'ring_hash' && policy !== 'maglev') throw new RouteError(`${where}: Policy ${JSON.stringify(policy)} is not one meshplate knows`)
  const hp = (Array.isArray(lb!.HashPolicies) ? lb!.HashPolicies : [])[0] as JsonObject | undefined
  if (!hp) return { balance: 'random', consistentHash: false }
  if (hp.SourceIP === true) return { balance: 'source', consistentHash: true }
  if (mode === 'tcp') throw new RouteError(`${where}: a tcp upstream can only hash on SourceIP`)
  const value = typeof hp.FieldValue === 'string' ? hp.FieldValue : ''
  if (!TOKEN.test(value)) throw new RouteError(`${where}: HashPolicies[0].FieldValue ${JSON.stringify(hp.FieldValue)} is not a header, cookie or parameter name`)
  if (hp.Field === 'header') return { balance: `hdr(${value})`, consistentHash: true }
  if (hp.Field === 'cookie') return { balance: `hash req.cook(${value})`, consistentHash: true }
  if (hp.Field === 'query_parameter') return { balance: `url_param ${value}`, consistentHash: true }
  throw new RouteError(`${where}: HashPolicies[0].Field ${JSON.stringify(hp.Field)} is not header, cookie or query_parameter`)
}

function safeDuration(value: unknown, where: string): number {
  try {
    return durationMs(value, where)
  } catch (err) {
    throw new RouteError((err as Error).message)
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}

function noHeaders(): HeaderOps {
  return { request: [], response: [] }
}
