/**
 * The mesh's template functions: the ones that join several Consul queries
 * with a meaning of Consul Connect's, as Consul's proxycfg gathers them for
 * Envoy. `upstreams()` is the proxy's upstreams, each with the instances that
 * get traffic (endpoints.ts) and the identity each must present
 * (identity.ts); `discoveryChain(u)` is an upstream's compiled chain with the
 * instances of every target it names; `serverSlots()` places instances in
 * HAProxy's stable server slots (haproxy/slots.ts). Like the built-in ones
 * (template/functions.ts), they read the brain through the render's tracker
 * and never fetch. The preset and the CLI add them through the engine's
 * extension point (connect/index.ts).
 */
import type { ProxyService, Upstream } from '../dependency/agent-service.ts'
import { DiscoveryChainDependency, type CompiledChain } from '../dependency/discovery-chain.ts'
import { HealthConnectDependency } from '../dependency/health-connect.ts'
import { PreparedQueryDependency } from '../dependency/prepared-query.ts'
import type { SlotTable } from '../haproxy/slots.ts'
import type { FunctionContext } from '../template/functions.ts'
import { warnOnce } from '../template/warnings.ts'
import { instanceOf, routedInstances, type Instance } from './endpoints.ts'
import { upstreamProtocol } from './proxy-config.ts'

export type UpstreamWithInstances = Upstream & { Instances: Instance[] }

/** `discoveryChain(u)`: the compiled chain and every instance of each target it names, with health, not yet routed. */
export type ChainWithInstances = CompiledChain & { TargetInstances: Record<string, Omit<Instance, 'Weight'>[]> }

/** The mesh's globals, reading through `ctx`; `slots` lives as long as the process (haproxy/slots.ts). */
export function connectFunctions(ctx: FunctionContext, slots: SlotTable): Record<string, (...args: never[]) => unknown> {
  const { read, connectProxy, caRoots } = ctx
  return {
    upstreams: (): UpstreamWithInstances[] => {
      const proxy = connectProxy()
      if (!proxy) return []
      warnUnserved(proxy)
      const trustDomain = caRoots()?.TrustDomain ?? ''
      return proxy.Proxy.Upstreams.map((u) => ({ ...u, Instances: instancesOf(u, ctx, trustDomain) }))
    },
    /** The upstream's compiled discovery chain with its targets' instances; null for a prepared query. */
    discoveryChain: (u: Upstream): ChainWithInstances | null => {
      if (!u || u.DestinationType === 'prepared_query') return null
      const chain = read(new DiscoveryChainDependency(u.DestinationName, u.Datacenter, upstreamProtocol(u)))
      if (!chain) return null
      const trustDomain = caRoots()?.TrustDomain ?? ''
      const TargetInstances: ChainWithInstances['TargetInstances'] = {}
      for (const [id, t] of Object.entries(chain.Targets)) {
        // A target in a cluster peer is refused (chain/backends.ts): the local catalog's instances are not it.
        if (t.Peer) {
          TargetInstances[id] = []
          continue
        }
        const dc = u.Datacenter || t.Datacenter !== chain.Datacenter ? t.Datacenter : ''
        const entries = read(new HealthConnectDependency(t.Service, dc, t.Filter)) ?? []
        TargetInstances[id] = entries.map((e) => instanceOf(e, trustDomain, t.Datacenter || e.Datacenter))
      }
      return { ...chain, TargetInstances }
    },
    /** Instances placed in stable, numbered slots for backend `name` (at least `min` slots). */
    serverSlots: (name: string, instances: Instance[], min = 8) => {
      if (!Number.isInteger(min) || min < 1 || min > 1024) throw new Error(`serverSlots("${name}"): ${min} is not a slot count from 1 to 1024`)
      return slots.assign(name, instances ?? [], (i) => `${i.Node}/${i.ID}`, min)
    },
  }
}

/** Says which upstreams get no listener (agent-service.ts), and that transparent mode has no outbound listener yet. */
function warnUnserved(proxy: ProxyService): void {
  if (proxy.Proxy.Mode === 'transparent') {
    warnOnce(`${proxy.ID}: Proxy.Mode is transparent, but meshplate has no outbound listener yet: apps reach only the upstreams declared with a LocalBindPort`)
  }
  for (const u of proxy.Proxy.UnservedUpstreams) {
    if (u.Detail) warnOnce(`${proxy.ID}: upstream ${u.DestinationName} is not served: ${u.Detail}`)
  }
}

function instancesOf(u: Upstream, ctx: FunctionContext, trustDomain: string): Instance[] {
  const dep =
    u.DestinationType === 'prepared_query'
      ? new PreparedQueryDependency(u.DestinationName, u.Datacenter)
      : new HealthConnectDependency(u.DestinationName, u.Datacenter)
  const entries = ctx.read(dep) ?? []
  return routedInstances(entries.map((e) => instanceOf(e, trustDomain, u.Datacenter || e.Datacenter)))
}
