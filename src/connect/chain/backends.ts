/**
 * The backends of a discovery chain's plan (plan.ts): one per target and retry
 * policy, named `upstream_<name>[.<target>][.retry<n>]`, each with the
 * resolver's connect timeout and load balancing (actions.ts) and the
 * instances it may send to. A resolver with failover targets makes a failover
 * group, primary first; its members get only healthy instances
 * (connect/endpoints.ts), so HAProxy's `nbsrv` sees a target fail and the next
 * one take over, as Envoy's priority levels do, and the primary falls back to
 * panic routing when the whole group is empty. A target in a cluster peer gets
 * no servers, with a warning.
 */
import type { ChainNode, ChainTarget, CompiledChain } from '../../dependency/discovery-chain.ts'
import { RouteError } from '../../errors.ts'
import { haproxyTime } from '../../haproxy/words.ts'
import { warnOnce } from '../../template/warnings.ts'
import { healthyInstances, routedInstances, type Instance } from '../endpoints.ts'
import { balanceOf, DEFAULT_POLICY, headerOps, type HeaderOps, type RetryPolicy } from './actions.ts'
import type { PlanBackend, PlanInput, PlanPick } from './plan.ts'

/** Collects a chain's picks and backends as the plan walks its nodes. */
export class Builder {
  #backends = new Map<string, PlanBackend>()
  #policies: string[] = []
  /** Failover groups (primary first): their members hold only healthy instances. */
  #groups: string[][] = []
  #primaryTarget: string
  #where: string

  constructor(readonly input: PlanInput) {
    this.#primaryTarget = primaryResolver(input.chain).Resolver.Target
    this.#where = `discovery chain ${input.chain.ServiceName}`
  }

  /** The picks of a node: a resolver is one, a splitter one per split. Checks every link before adding a backend. */
  picks(node: ChainNode, route: number, policy: RetryPolicy, first: number): PlanPick[] {
    if (node.Type === 'resolver') return [{ index: first, route, below: undefined, backends: this.#resolver(node, policy), headers: noHeaders() }]
    if (node.Type === 'router') throw new RouteError(`${this.#where}: a route leads to router ${node.Name}`)
    const splits = node.Splits.filter((s) => s.Weight > 0)
    const next = splits.map((s, i) => {
      const n = this.input.chain.Nodes[s.NextNode]!
      if (n.Type !== 'resolver') throw new RouteError(`${this.#where}: split ${i} of ${node.Name} leads to a ${n.Type}, not a resolver`)
      return n
    })
    let sum = 0
    return splits.map((s, i) => {
      sum += s.Weight
      return {
        index: first + i,
        route,
        below: i === splits.length - 1 ? undefined : Math.round(sum * 100),
        backends: this.#resolver(next[i]!, policy),
        headers: headerOps(s.Definition, `${this.#where}: service-splitter ${node.Name} split ${i}`),
      }
    })
  }

  #resolver(node: Extract<ChainNode, { Type: 'resolver' }>, policy: RetryPolicy): string[] {
    const targets = [node.Resolver.Target, ...node.Resolver.FailoverTargets]
    const names = targets.map((t) => this.#backend(t, node, policy))
    if (names.length > 1) this.#groups.push(names)
    return names
  }

  #backend(targetId: string, node: Extract<ChainNode, { Type: 'resolver' }>, policy: RetryPolicy): string {
    const { chain, name: upstream } = this.input
    const target = chain.Targets[targetId]!
    const key = `${policy.retries} ${policy.retryOn}`
    if (!this.#policies.includes(key)) this.#policies.push(key)
    const p = key === `${DEFAULT_POLICY.retries} ${DEFAULT_POLICY.retryOn}` ? '' : `.retry${this.#policies.indexOf(key)}`
    const name = `upstream_${upstream}${targetId === this.#primaryTarget ? '' : `.${readable(target)}`}${p}`
    if (target.Peer) {
      warnOnce(`upstream ${this.input.upstream ?? chain.ServiceName}: ${this.#where} target ${targetId} is in cluster peer ${JSON.stringify(target.Peer)}, which meshplate does not support: it gets no servers (requests routed there fail with 503)`)
    }
    if (!this.#backends.has(name)) {
      const timeoutMs = node.Resolver.Default ? 0 : node.Resolver.ConnectTimeoutMs
      this.#backends.set(name, {
        name,
        service: target.Service,
        target: targetId,
        connectTimeout: timeoutMs > 0 ? haproxyTime(timeoutMs) : this.input.connectTimeout,
        serverTimeout: '',
        ...balanceOf(node.LoadBalancer, this.input.mode, `${this.#where}: service-resolver ${node.Name} LoadBalancer`),
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

  /** A target's instances as the subset allows; none for a target in a cluster peer (the local ones are not it). */
  #eligible(b: PlanBackend): Omit<Instance, 'Weight'>[] {
    const target = this.input.chain.Targets[b.target]!
    if (target.Peer) return []
    const all = this.input.instances[b.target] ?? []
    return target.OnlyPassing ? all.filter((i) => i.Status === 'passing') : all
  }
}

/** The resolver a plain request reaches first: the start, or the default route's, or the first split's. */
export function primaryResolver(chain: CompiledChain): Extract<ChainNode, { Type: 'resolver' }> {
  let node = chain.Nodes[chain.StartNode]!
  for (let hops = 0; hops < 8 && node.Type !== 'resolver'; hops++) {
    node = chain.Nodes[node.Type === 'router' ? node.Routes.at(-1)!.NextNode : node.Splits[0]!.NextNode]!
  }
  if (node.Type !== 'resolver') throw new RouteError(`discovery chain ${chain.ServiceName}: no resolver within 8 hops of ${chain.StartNode}`)
  return node
}

/** `[subset.]service[.dc|.peer]`, as far as it is unique for a chain. */
function readable(t: ChainTarget): string {
  return [t.ServiceSubset, t.Service, t.Datacenter, t.Peer].filter(Boolean).join('.').replace(/[^A-Za-z0-9_.:-]/g, '_')
}

/** No header changes. */
export function noHeaders(): HeaderOps {
  return { request: [], response: [] }
}
