/**
 * Every Connect-capable instance of a service (its sidecars plus any
 * connect-native instances) in one datacenter, each with its health. This is
 * what an upstream listener load-balances over; `upstreams()` chooses from it
 * as Consul's own xDS does for Envoy (connect/endpoints.ts), so critical ones
 * are fetched too, not filtered with `?passing`.
 */
import type { ConsulClient } from '../consul/client.ts'
import { CACHED, seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'
import { parseHealthEntries, type HealthEntry } from './health-entry.ts'

/**
 * Watches `GET /v1/health/connect/<name>?cached&stale[&dc=][&filter=]` (a filter: a resolver
 * subset's). `cached` puts the first call, too, on the agent's streaming view (blocking calls
 * use it anyway); the answer says `X-Consul-Query-Backend: streaming`.
 */
export class HealthConnectDependency implements Dependency<HealthEntry[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent-cache' as const
  constructor(readonly service: string, readonly datacenter = '', readonly filter = '') {
    this.id = `health.connect(${service}${datacenter ? `@${datacenter}` : ''}${filter ? ` | ${filter}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<HealthEntry[]>> {
    const path = `/v1/health/connect/${seg(this.service)}`
    const query = { dc: this.datacenter || undefined, filter: this.filter || undefined, ...CACHED }
    const res = await client.get(path, query, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseHealthEntries), index: res.index, digest: res.digest, meta: res.meta }
  }
}
