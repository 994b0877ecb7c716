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
 * The backends and their instances are backends.ts's.
 *
 * Failure stays as small as it can be: a setting HAProxy cannot honour
 * exactly is approximated with a warning (actions.ts); a route whose
 * match cannot be written is left out with a warning; a target in a cluster
 * peer gets no servers, so the requests routed there fail as an unreachable
 * target's do (503), and a chain that cannot be planned at all costs only its
 * own upstream.
 */
import type { JsonObject } from '../../consul/schema.ts'
import type { CompiledChain } from '../../dependency/discovery-chain.ts'
import { ProxySettingsError, RouteError } from '../../errors.ts'
import { haproxyQuote } from '../../haproxy/words.ts'
import { warnOnce } from '../../template/warnings.ts'
import type { Instance } from '../endpoints.ts'
import type { ChainWithInstances, UpstreamWithInstances } from '../functions.ts'
import { balanceOf, DEFAULT_POLICY, headerOps, resolverTimeout, retryPolicy, routeTimeout, type HeaderOps } from './actions.ts'
import { Builder, noHeaders, primaryResolver } from './backends.ts'
import { caseInsensitive, routeCondition, text } from './match.ts'

export type { HeaderOps } from './actions.ts'

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
  /** `RequestTimeout`/`IdleTimeout` as an HAProxy time, or '' (printed in the backends it reaches). */
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

export interface PlanBackend {
  name: string
  /** The service its servers must prove to be (their SPIFFE id's service). */
  service: string
  target: string
  connectTimeout: string
  /** `timeout server` of every request (a start resolver's RequestTimeout), or '' for the default. */
  serverTimeout: string
  /** `balance` arguments, and whether `hash-type consistent` goes with them. */
  balance: string
  consistentHash: boolean
  retries: number
  retryOn: string
  /** Routes reaching this backend with a timeout: `set-timeout server` works in backends only. */
  timeouts: Array<{ route: number; timeout: string }>
  instances: Instance[]
}

export interface PlanInput {
  chain: CompiledChain
  /** The upstream's name in config (`service_api`): backends are `upstream_<name>[...]`. */
  name: string
  /** The upstream as warnings name it (its DestinationName); the chain's service when absent. */
  upstream?: string
  /** The listener's mode; tcp takes no routes or splits. */
  mode: 'tcp' | 'http'
  /** Every instance of each target, with health, before routing (connect/endpoints.ts). */
  instances: Record<string, Omit<Instance, 'Weight'>[]>
  /** The upstream's connect timeout, for resolvers nobody configured. */
  connectTimeout: string
}

/**
 * `u | upstreamPlan(discoveryChain(u), name, mode, connectTimeout)`: the
 * chain's plan, or for a prepared query (no chain) its one backend, whose
 * servers must be the service the query's answers name. A chain that cannot
 * be planned at all gets one backend with no servers and a warning; the other
 * upstreams are untouched. (Upstreams in a cluster peer or naming a port of a
 * multi-port service never get here: agent-service.ts keeps them apart.)
 */
export function upstreamPlan(u: UpstreamWithInstances, chain: ChainWithInstances | null | undefined, name: string, modeArg: unknown, connectTimeout: string): ChainPlan {
  const mode = String(modeArg)
  if (mode !== 'tcp' && mode !== 'http') throw new RouteError(`upstreamPlan: mode ${JSON.stringify(mode)} is not tcp or http`)
  if (chain) {
    try {
      return chainPlan({ chain, name, upstream: u.DestinationName, mode, instances: chain.TargetInstances, connectTimeout })
    } catch (err) {
      if (!(err instanceof RouteError)) throw err
      warnOnce(`upstream ${u.DestinationName}: ${err.message}; the upstream gets no servers (requests fail with 503) until this is fixed`)
      return singleBackend(u, name, mode, connectTimeout, [])
    }
  }
  return singleBackend(u, name, mode, connectTimeout, u.Instances)
}

/** One backend, `upstream_<name>`, holding `instances` (none: every request fails as for an unreachable target). */
function singleBackend(u: UpstreamWithInstances, name: string, mode: 'tcp' | 'http', connectTimeout: string, instances: Instance[]): ChainPlan {
  const backend: PlanBackend = {
    name: `upstream_${name}`,
    service: u.DestinationType === 'prepared_query' && instances.length ? instances[0]!.ServiceName : u.DestinationName,
    target: u.DestinationName,
    connectTimeout,
    serverTimeout: '',
    ...balanceOf(null, mode, ''),
    ...DEFAULT_POLICY,
    timeouts: [],
    instances,
  }
  const pick = { index: 0, route: -1, below: undefined, backends: [backend.name], headers: noHeaders() }
  return { mode, defaultBackend: backend.name, routes: [], picks: [pick], usesSplit: false, backends: [backend] }
}

/** The plan of one compiled chain; throws RouteError only when no part of it can be served. */
export function chainPlan(input: PlanInput): ChainPlan {
  const { chain, mode } = input
  const where = `discovery chain ${chain.ServiceName}`
  const start = chain.Nodes[chain.StartNode]!
  const builder = new Builder(input)
  const routes: PlanRoute[] = []
  const picks: PlanPick[] = []
  if (start.Type === 'router' && mode === 'http') {
    start.Routes.forEach((r, i) => {
      const at = `${where}: service-router ${chain.ServiceName} route ${i}`
      try {
        const route = planRoute(r.Match, r.Destination, i, at)
        picks.push(...builder.picks(chain.Nodes[r.NextNode]!, i, retryPolicy(r.Destination, at), picks.length))
        routes.push(route)
      } catch (err) {
        // The catch-all Consul appends is the route every other request needs: without it, nothing is served.
        if (!(err instanceof RouteError) || i === start.Routes.length - 1) throw err
        warnOnce(`${err.message}; the route is left out, so the requests it would match take the next route that matches`)
      }
    })
  } else {
    // Here a router start means a tcp listener (an HTTP one took the branch above).
    const node = start.Type === 'resolver' || mode === 'http' ? start : primaryResolver(chain)
    if (node !== start) warnOnce(`${where}: protocol tcp, but the chain starts at a ${start.Type} (routes and splits need an HTTP protocol); every connection goes to its default target`)
    picks.push(...builder.picks(node, -1, DEFAULT_POLICY, 0))
  }
  const backends = builder.backends()
  const serverTimeout = start.Type === 'resolver' && mode === 'http' ? resolverTimeout(start.Resolver) : ''
  for (const b of backends) b.serverTimeout = serverTimeout
  for (const r of routes.filter((r) => r.timeout)) {
    const names = new Set(picks.filter((p) => p.route === r.index).flatMap((p) => p.backends))
    for (const b of backends) if (names.has(b.name)) b.timeouts.push({ route: r.index, timeout: r.timeout })
  }
  return { mode, defaultBackend: picks[0]!.backends[0]!, routes, picks, usesSplit: picks.some((p) => p.below !== undefined), backends }
}


/** One route's condition, rewrite, timeout and headers; RouteError when its match or rewrite cannot be written. */
function planRoute(match: JsonObject, dest: JsonObject, index: number, where: string): PlanRoute {
  const when = routeCondition(match, where)
  try {
    return { index, when, rewrite: prefixRewrite(match, dest, where), timeout: routeTimeout(dest, where), headers: headerOps(dest, where) }
  } catch (err) {
    if (err instanceof ProxySettingsError) throw new RouteError(`${where}: ${err.message}`, { cause: err })
    throw err
  }
}

/** `PrefixRewrite` as a `replace-path` of the matched prefix (or exact path), case-blind when the match is. */
function prefixRewrite(match: JsonObject, dest: JsonObject, where: string): PlanRoute['rewrite'] {
  const prefix = text(dest.PrefixRewrite, `${where}: PrefixRewrite`)
  if (!prefix) return undefined
  const http = (match.HTTP ?? {}) as JsonObject
  const matched = text(http.PathPrefix, `${where}: PathPrefix`) || text(http.PathExact, `${where}: PathExact`) || '/'
  const flags = caseInsensitive(http) ? '(?i)' : ''
  return { pattern: haproxyQuote(`${flags}^${escapeRegex(matched)}(.*)$`), replacement: haproxyQuote(`${prefix}\\1`) }
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}
