/**
 * The built-in template functions (Nunjucks globals): one Consul query each,
 * plus `env`, as consul-template's "API functions" are. Each one names its
 * dependency, reads the brain through the active tracker and returns Consul's
 * own field names. None of them fetches: missing data is recorded and an
 * empty value returned, and the runner then does not write the file.
 * Functions that join several queries with a meaning of their own (the mesh's
 * `upstreams()`, `discoveryChain()`, `serverSlots()`: connect/functions.ts)
 * come from an extension (environment.ts), and read through the same
 * `FunctionContext`. consul-template's other data functions (KV listings,
 * the catalog, `connect`, `file`, `timestamp`) are in data-functions.ts.
 */
import { AgentServiceDependency, type ProxyService } from '../dependency/agent-service.ts'
import { IntentionDefaultDependency } from '../dependency/agent-self.ts'
import { AgentAddressDependency } from '../dependency/agent-address.ts'
import { CheckTargetsDependency, type CheckTarget } from '../dependency/check-targets.ts'
import { ExposedChecksDependency, type ExposedCheck } from '../dependency/exposed-checks.ts'
import { ConfigEntryDependency } from '../dependency/config-entry.ts'
import type { JsonObject } from '../consul/schema.ts'
import { CaRootsDependency, type CaRoots } from '../dependency/ca-roots.ts'
import type { Dependency } from '../dependency/dependency.ts'
import type { HealthEntry } from '../dependency/health-entry.ts'
import { HealthServiceDependency } from '../dependency/health-service.ts'
import { IntentionsMatchDependency, type Intention } from '../dependency/intentions-match.ts'
import { KvGetDependency, type KvValue } from '../dependency/kv-get.ts'
import { LeafCertDependency, type LeafCert } from '../dependency/leaf-cert.ts'
import { ConfigError } from '../errors.ts'
import { dataFunctions } from './data-functions.ts'
import type { Tracker } from './tracker.ts'

/** Holds the tracker of the render in progress; globals read through it. */
export interface RenderScope {
  tracker: Tracker | undefined
  proxyId: string | undefined
  env: NodeJS.ProcessEnv
}

/** What `exposedChecks()` gives: the checks the agent points at the sidecar, and the check targets its config files name. */
export interface ExposedChecks {
  Checks: ExposedCheck[]
  Targets: CheckTarget[]
}

/** What a function reads through: the render in progress, and the proxy it renders for. */
export interface FunctionContext {
  scope: RenderScope
  /** The dependency's data from the brain, recorded as used (and as missing while it has none). */
  read<T>(dep: Dependency<T>): T | undefined
  connectProxy(): ProxyService | undefined
  caRoots(): CaRoots | undefined
}

/** Binds the reads of functions to `scope`. */
export function functionContext(scope: RenderScope): FunctionContext {
  const read = <T>(dep: Dependency<T>): T | undefined => {
    if (!scope.tracker) throw new Error('template functions can only be called while rendering')
    return scope.tracker.read(dep)
  }
  const connectProxy = (): ProxyService | undefined => {
    if (!scope.proxyId) throw new ConfigError('connectProxy() needs --proxy-id or --sidecar-for')
    return read(new AgentServiceDependency(scope.proxyId))
  }
  return { scope, read, connectProxy, caRoots: () => read(new CaRootsDependency()) }
}

/** Builds the globals object bound to a scope. */
export function createFunctions(scope: RenderScope): Record<string, (...args: never[]) => unknown> {
  const ctx = functionContext(scope)
  const { read, connectProxy, caRoots } = ctx
  const destination = (name?: string): string | undefined => name || connectProxy()?.Proxy.DestinationServiceName

  return {
    ...dataFunctions(ctx),
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
    intentionDefault: (name?: string): string => {
      const svc = destination(name)
      return (svc && read(new IntentionDefaultDependency(svc))?.Action) || ''
    },
    configEntry: (kind: string, name: string): JsonObject | null => read(new ConfigEntryDependency(kind, name)) ?? null,
    meshConfig: (): JsonObject | null => read(new ConfigEntryDependency('mesh', 'mesh')) ?? null,
    /** The agent's LAN address: who may call a path exposed for a check (connect/expose.ts). */
    agentAddress: (): string => read(new AgentAddressDependency()) ?? '',
    /** The checks the agent points at this sidecar (`Expose.Checks` only), and their targets from its config files (connect/expose.ts). */
    exposedChecks: (): ExposedChecks => {
      const proxy = connectProxy()
      if (!proxy?.Proxy.Expose?.Checks) return { Checks: [], Targets: [] }
      const Checks = read(new ExposedChecksDependency(proxy.Proxy.DestinationServiceID || proxy.Proxy.DestinationServiceName)) ?? []
      return { Checks, Targets: Checks.length ? (read(new CheckTargetsDependency()) ?? []) : [] }
    },
    service: (query: string): HealthEntry[] => read(new HealthServiceDependency(query)) ?? [],
    key: (path: string): string => {
      const dep = new KvGetDependency(path)
      const kv = read<KvValue>(dep)
      // `key` waits for the key to exist, as consul-template does.
      if (kv && !kv.Exists) scope.tracker?.missing.add(dep.id)
      return kv?.Value ?? ''
    },
    keyOrDefault: (path: string, fallback: string): string => {
      const kv = read<KvValue>(new KvGetDependency(path))
      return kv?.Exists ? kv.Value : fallback
    },
    env: (name: string): string => scope.env[name] ?? '',
  }
}
