/**
 * Upstreams whose `DestinationType` is `prepared_query`. Executing a prepared
 * query does not block, so the view polls it; the answer has the same health
 * entries as `/v1/health/connect` when the query targets Connect.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj } from '../consul/schema.ts'
import { seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'
import { parseHealthEntries, type HealthEntry } from './health-entry.ts'

/** Polls `GET /v1/query/<name>/execute[?dc=]`. */
export class PreparedQueryDependency implements Dependency<HealthEntry[]> {
  readonly id: string
  readonly blocking = 'poll' as const
  constructor(readonly query: string, readonly datacenter = '') {
    this.id = `query.execute(${query}${datacenter ? `@${datacenter}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<HealthEntry[]>> {
    const path = `/v1/query/${seg(this.query)}/execute`
    const res = await client.get(path, { dc: this.datacenter || undefined, connect: 'true' }, { signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, (b) => parseHealthEntries(obj(b, 'query').Nodes)) }
  }
}
