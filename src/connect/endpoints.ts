/**
 * Which instances of an upstream get traffic, decided as Consul's xDS server
 * decides for Envoy (agent/xds/endpoints.go, calculateEndpointHealthAndWeight):
 * an instance with a critical check gets none, a warning one gets its
 * `Weights.Warning`, a passing one its `Weights.Passing`, and a weight of 0
 * means none. When no instance is left, all of them get traffic, at weight 1
 * or more: Envoy's panic routing (its threshold is 50% healthy; this one is
 * 0%). That is what keeps a mesh serving when every check is critical at
 * once, as after a Consul agent restart, whose checks start critical.
 * `Instance` is what templates see of each one (`upstreams()`, connect/functions.ts).
 */
import type { HealthEntry } from '../dependency/health-entry.ts'
import { proxiedName, serviceUri } from './identity.ts'

export interface Instance {
  Address: string
  Port: number
  Node: string
  ID: string
  Weights: { Passing: number; Warning: number }
  Status: string
  /** The HAProxy server weight it gets (1-256), from its status and Weights. */
  Weight: number
  /** The SPIFFE id this instance must present: `.../svc/<destination service>` (identity.ts). */
  ServiceURI: string
  ServiceName: string
}

/** HAProxy's largest server weight. */
const MAX_WEIGHT = 256

/** A health entry as an instance of the service it proxies, in `datacenter`, not yet weighted. */
export function instanceOf(e: HealthEntry, trustDomain: string, datacenter: string): Omit<Instance, 'Weight'> {
  const serviceName = proxiedName(e)
  return {
    Address: e.Address,
    Port: e.Port,
    Node: e.Node,
    ID: e.ID,
    Weights: e.Weights,
    Status: e.Status,
    ServiceName: serviceName,
    ServiceURI: serviceUri(trustDomain, datacenter, serviceName),
  }
}

/** The instances that get traffic, each with its `Weight` (1-256). */
export function routedInstances(all: Omit<Instance, 'Weight'>[]): Instance[] {
  const healthy = healthyInstances(all)
  if (healthy.length > 0) return healthy
  return all.map((i) => ({ ...i, Weight: Math.max(1, Math.min(MAX_WEIGHT, i.Weights.Passing)) }))
}

/**
 * Only the healthy ones, with no panic routing: a discovery chain's failover
 * target must see its predecessor empty to take over, as Envoy's priority
 * levels do (connect/chain/backends.ts).
 */
export function healthyInstances(all: Omit<Instance, 'Weight'>[]): Instance[] {
  const weighted = all.map((i) => ({ ...i, Weight: Math.min(MAX_WEIGHT, i.Status === 'warning' ? i.Weights.Warning : i.Weights.Passing) }))
  return weighted.filter((i) => i.Status !== 'critical' && i.Weight > 0)
}
