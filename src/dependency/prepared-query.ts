/**
 * Upstreams whose `DestinationType` is `prepared_query`. Executing a prepared
 * query does not block, so the view polls it; the answer has the same health
 * entries as `/v1/health/connect` when the query targets Connect. The agent's
 * cache answers (`?cached`), as it does Envoy's: it caches an execution
 * without refreshing it, so the poll says how old an answer may be
 * (`Cache-Control: max-age=<poll interval>`), and the sidecars on one agent
 * share one execution per interval.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj } from '../consul/schema.ts'
import { CACHED, seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'
import { parseHealthEntries, type HealthEntry } from './health-entry.ts'

/** The poll interval the view uses when it says none (ViewOptions.pollIntervalMs). */
const DEFAULT_POLL_MS = 10_000

/** Polls `GET /v1/query/<name>/execute?connect=true&cached&stale[&dc=]`, cached at most one poll interval. */
export class PreparedQueryDependency implements Dependency<HealthEntry[]> {
  readonly id: string
  readonly blocking = 'poll' as const
  readonly answeredBy = 'agent-cache' as const
  constructor(readonly query: string, readonly datacenter = '') {
    this.id = `query.execute(${query}${datacenter ? `@${datacenter}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<HealthEntry[]>> {
    const path = `/v1/query/${seg(this.query)}/execute`
    const query = { dc: this.datacenter || undefined, connect: 'true', ...CACHED }
    const res = await client.get(path, query, { signal: o.signal, cacheMaxAgeS: (o.pollMs ?? DEFAULT_POLL_MS) / 1000 })
    return { data: validate(`GET ${path}`, res.body, (b) => parseHealthEntries(obj(b, 'query').Nodes)), meta: res.meta }
  }
}
