/**
 * The built-in template functions (Nunjucks globals). Each one names its
 * dependency, reads the brain through the active tracker and returns Consul's
 * own field names. None of them fetches: missing data is recorded and an
 * empty value returned, and the runner then does not write the file.
 */
import { AgentServiceDependency, type ProxyService, type Upstream } from '../dependency/agent-service.ts'
import { IntentionDefaultDependency } from '../dependency/agent-self.ts'
import { AgentAddressDependency } from '../dependency/agent-address.ts'
import { CheckTargetsDependency } from '../dependency/check-targets.ts'
import { ExposedChecksDependency } from '../dependency/exposed-checks.ts'
import type { ExposedChecks } from './expose.ts'
import { ConfigEntryDependency } from '../dependency/config-entry.ts'
import { DiscoveryChainDependency, type CompiledChain } from '../dependency/discovery-chain.ts'
import type { JsonObject } from '../consul/schema.ts'
import { CaRootsDependency, type CaRoots } from '../dependency/ca-roots.ts'
import type { Dependency } from '../dependency/dependency.ts'
import { HealthConnectDependency } from '../dependency/health-connect.ts'
import type { HealthEntry } from '../dependency/health-entry.ts'
import { HealthServiceDependency } from '../dependency/health-service.ts'
import { IntentionsMatchDependency, type Intention } from '../dependency/intentions-match.ts'
import { KvGetDependency, type KvValue } from '../dependency/kv-get.ts'
import { LeafCertDependency, type LeafCert } from '../dependency/leaf-cert.ts'
import { PreparedQueryDependency } from '../dependency/prepared-query.ts'
import { routedInstances } from './instances.ts'
import { warnOnce } from './warnings.ts'
import type { SlotTable } from './slots.ts'
import type { Tracker } from './tracker.ts'

export interface Instance {
  Address: string
  Port: number
  Node: string
  ID: string
  Weights: { Passing: number; Warning: number }
  Status: string
  /** The HAProxy server weight it gets (1-256), from its status and Weights (instances.ts). */
  Weight: number
  /** The SPIFFE id this instance must present: `.../svc/<destination service>`. */
  ServiceURI: string
  ServiceName: string
}

export type UpstreamWithInstances = Upstream & { Instances: Instance[] }

/** `discoveryChain(u)`: the compiled chain and every instance of each target it names, with health, not yet routed. */
export type ChainWithInstances = CompiledChain & { TargetInstances: Record<string, Omit<Instance, 'Weight'>[]> }

/** Holds the tracker of the render in progress; globals read through it. */
export interface RenderScope {
  tracker: Tracker | undefined
  proxyId: string | undefined
  env: NodeJS.ProcessEnv
  /** Server slot assignments; kept for the life of the process (slots.ts). */
  slots: SlotTable
}

/** Builds the globals object bound to a scope. */
export function createFunctions(scope: RenderScope): Record<string, (...args: never[]) => unknown> {
  const read = <T>(dep: Dependency<T>): T | undefined => {
    if (!scope.tracker) throw new Error('template functions can only be called while rendering')
    return scope.tracker.read(dep)
  }
  const connectProxy = (): ProxyService | undefined => {
    if (!scope.proxyId) throw new Error('connectProxy() needs --proxy-id or --sidecar-for')
    return read(new AgentServiceDependency(scope.proxyId))
  }
  const destination = (name?: string): string | undefined => name || connectProxy()?.Proxy.DestinationServiceName
  const caRoots = (): CaRoots | undefined => read(new CaRootsDependency())

  return {
    connectProxy,
    caRoots,
    leafCert: (name?: string): LeafCert | undefined => {
      const svc = destination(name)
      return svc ? read(new LeafCertDependency(svc)) : undefined
    },
    intentions: (name?: string): Intention[] => {
      const svc = destination(name)
      return (svc && read(new IntentionsMatchDependency(svc))) || []
    },
    upstreams: (): UpstreamWithInstances[] => {
      const proxy = connectProxy()
      if (!proxy) return []
      warnUnserved(proxy)
      const trustDomain = caRoots()?.TrustDomain ?? ''
      return proxy.Proxy.Upstreams.map((u) => ({ ...u, Instances: instancesOf(u, read, trustDomain) }))
    },
    /** The upstream's compiled discovery chain with its targets' instances; null for a prepared query. */
    discoveryChain: (u: Upstream): ChainWithInstances | null => {
      if (!u || u.DestinationType === 'prepared_query') return null
      const override = typeof u.Config.protocol === 'string' ? u.Config.protocol : ''
      const chain = read(new DiscoveryChainDependency(u.DestinationName, u.Datacenter, override))
      if (!chain) return null
      const trustDomain = caRoots()?.TrustDomain ?? ''
      const TargetInstances: ChainWithInstances['TargetInstances'] = {}
      for (const [id, t] of Object.entries(chain.Targets)) {
        // A target in a cluster peer is refused (chain-plan.ts): the local catalog's instances are not it.
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
    intentionDefault: (name?: string): string => {
      const svc = destination(name)
      return (svc && read(new IntentionDefaultDependency(svc))?.Action) || ''
    },
    configEntry: (kind: string, name: string): JsonObject | null => read(new ConfigEntryDependency(kind, name)) ?? null,
    meshConfig: (): JsonObject | null => read(new ConfigEntryDependency('mesh', 'mesh')) ?? null,
    /** The agent's LAN address: who may call a path exposed for a check (template/expose.ts). */
    agentAddress: (): string => read(new AgentAddressDependency()) ?? '',
    /** The checks the agent points at this sidecar (`Expose.Checks` only), and their targets from its config files (template/expose.ts). */
    exposedChecks: (): ExposedChecks => {
      const proxy = connectProxy()
      if (!proxy?.Proxy.Expose?.Checks) return { Checks: [], Targets: [] }
      const Checks = read(new ExposedChecksDependency(proxy.Proxy.DestinationServiceID || proxy.Proxy.DestinationServiceName)) ?? []
      return { Checks, Targets: Checks.length ? (read(new CheckTargetsDependency()) ?? []) : [] }
    },
    service: (query: string): HealthEntry[] => read(new HealthServiceDependency(query)) ?? [],
    key: (path: string): string => {
      const kv = read<KvValue>(new KvGetDependency(path))
      // `key` waits for the key to exist, as consul-template does.
      if (kv && !kv.Exists) scope.tracker?.missing.add(`kv.get(${path})`)
      return kv?.Value ?? ''
    },
    keyOrDefault: (path: string, fallback: string): string => {
      const kv = read<KvValue>(new KvGetDependency(path))
      return kv?.Exists ? kv.Value : fallback
    },
    env: (name: string): string => scope.env[name] ?? '',
    /** Instances placed in stable, numbered slots for backend `name` (at least `min` slots). */
    serverSlots: (name: string, instances: Instance[], min = 8) => {
      if (!Number.isInteger(min) || min < 1 || min > 1024) throw new Error(`serverSlots("${name}"): ${min} is not a slot count from 1 to 1024`)
      return scope.slots.assign(name, instances ?? [], (i) => `${i.Node}/${i.ID}`, min)
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

function instancesOf(u: Upstream, read: <T>(dep: Dependency<T>) => T | undefined, trustDomain: string): Instance[] {
  const dep =
    u.DestinationType === 'prepared_query'
      ? new PreparedQueryDependency(u.DestinationName, u.Datacenter)
      : new HealthConnectDependency(u.DestinationName, u.Datacenter)
  const entries = read(dep) ?? []
  return routedInstances(entries.map((e) => instanceOf(e, trustDomain, u.Datacenter || e.Datacenter)))
}

function instanceOf(e: HealthEntry, trustDomain: string, datacenter: string): Omit<Instance, 'Weight'> {
  const serviceName = proxiedName(e)
  return {
    Address: e.Address,
    Port: e.Port,
    Node: e.Node,
    ID: e.ID,
    Weights: e.Weights,
    Status: e.Status,
    ServiceName: serviceName,
    ServiceURI: trustDomain ? `spiffe://${trustDomain}/ns/default/dc/${datacenter}/svc/${serviceName}` : '',
  }
}

/** The identity a Connect instance presents: the service behind the proxy, or itself if native. */
function proxiedName(e: HealthEntry): string {
  const proxy = e.Service.Proxy
  if (proxy && typeof proxy === 'object' && !Array.isArray(proxy) && typeof proxy.DestinationServiceName === 'string' && proxy.DestinationServiceName) {
    return proxy.DestinationServiceName
  }
  return e.Name
}
