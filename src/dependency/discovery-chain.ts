/**
 * `discoveryChain(upstream)`: Consul's compiled discovery chain for one
 * upstream (`/v1/discovery-chain/<service>`, blocking on index). The chain is
 * where service-router, service-splitter and service-resolver entries meet:
 * Consul has already resolved redirects, defaults, nested splits and the
 * failover order, so meshplate never re-implements the compiler, it only reads
 * the result. The body is checked here, once, into the typed shape the
 * HAProxy plan (connect/chain/plan.ts) reads. An upstream's own `protocol`
 * goes to Consul as `OverrideProtocol` (a POST), as Consul's proxycfg does
 * for Envoy, so a tcp override compiles the chain without routes or splits.
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, num, obj, optBool, optObj, optStr, SchemaError, str, strList, type Json, type JsonObject } from '../consul/schema.ts'
import { CACHED, seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface CompiledChain {
  ServiceName: string
  Datacenter: string
  Protocol: string
  /** True when no config entry shaped the chain: one resolver, one target. */
  Default: boolean
  StartNode: string
  Nodes: Record<string, ChainNode>
  Targets: Record<string, ChainTarget>
}

export type ChainNode =
  | { Type: 'router'; Name: string; Routes: ChainRoute[] }
  | { Type: 'splitter'; Name: string; Splits: ChainSplit[] }
  | { Type: 'resolver'; Name: string; Resolver: ChainResolver; LoadBalancer: JsonObject | null }

export interface ChainRoute {
  /** The service-router route: `Match.HTTP` and `Destination`, as written. */
  Match: JsonObject
  Destination: JsonObject
  NextNode: string
}

export interface ChainSplit {
  Weight: number
  NextNode: string
  /** The service-splitter split as written (RequestHeaders, ResponseHeaders). */
  Definition: JsonObject
}

export interface ChainResolver {
  Default: boolean
  /** Milliseconds; Consul sends a Go duration ("5s") or nanoseconds. */
  ConnectTimeoutMs: number
  /**
   * service-resolver `RequestTimeout` (Consul 1.15+, nanoseconds) in milliseconds; 0 unset,
   * below 0 (Consul 1.18+) "no timeout". Envoy applies it only when the chain starts at this resolver.
   */
  RequestTimeoutMs: number
  Target: string
  /** Failover targets in order, primary excluded. */
  FailoverTargets: string[]
}

export interface ChainTarget {
  ID: string
  Service: string
  ServiceSubset: string
  Datacenter: string
  /** The subset's bexpr filter, '' for none. */
  Filter: string
  OnlyPassing: boolean
  SNI: string
  /** The cluster peer it lives in ('' for this cluster): meshplate refuses such targets (connect/chain/backends.ts). */
  Peer: string
}

/**
 * Watches the compiled chain of `service`, as seen from `datacenter` ('' is the agent's), with
 * `?cached&stale`: the agent's cache answers, one background-refresh query per chain and token
 * (its key holds the override protocol, so a POST is cached as well: agent/structs,
 * `DiscoveryChainRequest.CacheInfo`).
 */
export class DiscoveryChainDependency implements Dependency<CompiledChain> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent-cache' as const
  constructor(readonly service: string, readonly datacenter = '', readonly overrideProtocol = '') {
    this.id = `discovery.chain(${service}${datacenter ? `@${datacenter}` : ''}${overrideProtocol ? `;protocol=${overrideProtocol}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CompiledChain>> {
    const path = `/v1/discovery-chain/${seg(this.service)}`
    const query = { 'compile-dc': this.datacenter || undefined, ...CACHED }
    const blocking = { index: o.index, waitMs: o.waitMs, signal: o.signal }
    const res = this.overrideProtocol
      ? await client.read('POST', path, query, blocking, { OverrideProtocol: this.overrideProtocol })
      : await client.get(path, query, blocking)
    return { data: validate(`${this.overrideProtocol ? 'POST' : 'GET'} ${path}`, res.body, parseChainBody), index: res.index, meta: res.meta }
  }
}

export function parseChainBody(body: unknown): CompiledChain {
  const c = obj(obj(body, 'body').Chain, 'Chain')
  const nodes: Record<string, ChainNode> = {}
  for (const [key, value] of Object.entries(obj(c.Nodes, 'Chain.Nodes'))) nodes[key] = parseNode(value, `Chain.Nodes["${key}"]`)
  const targets: Record<string, ChainTarget> = {}
  for (const [key, value] of Object.entries(optObj(c.Targets, 'Chain.Targets'))) targets[key] = parseTarget(value, `Chain.Targets["${key}"]`)
  const chain: CompiledChain = {
    ServiceName: str(c.ServiceName, 'Chain.ServiceName'),
    Datacenter: optStr(c.Datacenter, 'Chain.Datacenter'),
    Protocol: optStr(c.Protocol, 'Chain.Protocol') || 'tcp',
    Default: optBool(c.Default, 'Chain.Default'),
    StartNode: str(c.StartNode, 'Chain.StartNode'),
    Nodes: nodes,
    Targets: targets,
  }
  checkLinks(chain)
  return chain
}

function parseNode(value: Json, path: string): ChainNode {
  const n = obj(value, path)
  const type = str(n.Type, `${path}.Type`)
  const name = str(n.Name, `${path}.Name`)
  if (type === 'router') {
    const routes = arr(n.Routes, `${path}.Routes`).map((r, i) => {
      const route = obj(r, `${path}.Routes[${i}]`)
      const def = optObj(route.Definition, `${path}.Routes[${i}].Definition`)
      return {
        Match: optObj(def.Match, `${path}.Routes[${i}].Definition.Match`),
        Destination: optObj(def.Destination, `${path}.Routes[${i}].Definition.Destination`),
        NextNode: str(route.NextNode, `${path}.Routes[${i}].NextNode`),
      }
    })
    return { Type: 'router', Name: name, Routes: routes }
  }
  if (type === 'splitter') {
    const splits = arr(n.Splits, `${path}.Splits`).map((s, i) => {
      const split = obj(s, `${path}.Splits[${i}]`)
      return {
        Weight: num(split.Weight, `${path}.Splits[${i}].Weight`),
        NextNode: str(split.NextNode, `${path}.Splits[${i}].NextNode`),
        Definition: optObj(split.Definition, `${path}.Splits[${i}].Definition`),
      }
    })
    return { Type: 'splitter', Name: name, Splits: splits }
  }
  if (type === 'resolver') {
    const r = obj(n.Resolver, `${path}.Resolver`)
    const failover = optObj(r.Failover, `${path}.Resolver.Failover`)
    const lb = n.LoadBalancer === undefined || n.LoadBalancer === null ? null : obj(n.LoadBalancer, `${path}.LoadBalancer`)
    return {
      Type: 'resolver',
      Name: name,
      Resolver: {
        Default: optBool(r.Default, `${path}.Resolver.Default`),
        ConnectTimeoutMs: durationMs(r.ConnectTimeout, `${path}.Resolver.ConnectTimeout`),
        RequestTimeoutMs: durationMs(r.RequestTimeout, `${path}.Resolver.RequestTimeout`),
        Target: str(r.Target, `${path}.Resolver.Target`),
        FailoverTargets: strList(failover.Targets, `${path}.Resolver.Failover.Targets`),
      },
      LoadBalancer: lb,
    }
  }
  throw new SchemaError(`${path}.Type: unknown node type ${JSON.stringify(type)}`)
}

function parseTarget(value: Json, path: string): ChainTarget {
  const t = obj(value, path)
  const subset = optObj(t.Subset, `${path}.Subset`)
  return {
    ID: str(t.ID, `${path}.ID`),
    Service: str(t.Service, `${path}.Service`),
    ServiceSubset: optStr(t.ServiceSubset, `${path}.ServiceSubset`),
    Datacenter: optStr(t.Datacenter, `${path}.Datacenter`),
    Filter: optStr(subset.Filter, `${path}.Subset.Filter`),
    OnlyPassing: optBool(subset.OnlyPassing, `${path}.Subset.OnlyPassing`),
    SNI: optStr(t.SNI, `${path}.SNI`),
    Peer: optStr(t.Peer, `${path}.Peer`),
  }
}

/**
 * A Go duration as Consul marshals it: "5s", "1m30s", "250ms", or integer nanoseconds. Negative
 * ones ("-1s", Consul 1.18+) come back negative: a router or resolver timeout below 0 means none.
 */
export function durationMs(value: unknown, path: string): number {
  if (value === undefined || value === null || value === '') return 0
  if (typeof value === 'number') return num(value, path) / 1e6
  const text = str(value, path)
  const sign = text.startsWith('-') ? -1 : 1
  const body = text.replace(/^[-+]/, '')
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 }
  const parts = [...body.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)]
  if (body === '0') return 0
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== body) throw new SchemaError(`${path}: ${JSON.stringify(text)} is not a duration`)
  return sign * parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0)
}

/** Every node and target the chain names exists: the plan can follow links without checks. */
function checkLinks(chain: CompiledChain): void {
  const node = (key: string, from: string) => {
    if (!chain.Nodes[key]) throw new SchemaError(`${from} names node ${JSON.stringify(key)}, which Chain.Nodes lacks`)
  }
  const target = (key: string, from: string) => {
    if (!chain.Targets[key]) throw new SchemaError(`${from} names target ${JSON.stringify(key)}, which Chain.Targets lacks`)
  }
  node(chain.StartNode, 'Chain.StartNode')
  for (const [key, n] of Object.entries(chain.Nodes)) {
    if (n.Type === 'router') n.Routes.forEach((r, i) => node(r.NextNode, `Chain.Nodes["${key}"].Routes[${i}]`))
    if (n.Type === 'splitter') n.Splits.forEach((s, i) => node(s.NextNode, `Chain.Nodes["${key}"].Splits[${i}]`))
    if (n.Type === 'resolver') {
      target(n.Resolver.Target, `Chain.Nodes["${key}"].Resolver`)
      n.Resolver.FailoverTargets.forEach((t, i) => target(t, `Chain.Nodes["${key}"].Resolver.Failover.Targets[${i}]`))
    }
  }
}

