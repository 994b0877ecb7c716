/**
 * `datacenters()`: the names of every known datacenter, sorted (consul-template's
 * `catalog_datacenters.go`). The endpoint does not block, so the view polls it
 * on its poll interval (10 s), as it does prepared queries; consul-template
 * sleeps between calls the same way. The server that receives the call answers
 * from its own view of the WAN, not the leader; `?stale` says so to any agent.
 * consul-template's `datacenters true` (leave out datacenters that fail to
 * answer) is not supported.
 */
import type { ConsulClient } from '../consul/client.ts'
import { strList } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

/** Polls `GET /v1/catalog/datacenters?stale`. */
export class CatalogDatacentersDependency implements Dependency<string[]> {
  readonly id = 'catalog.datacenters'
  readonly blocking = 'poll' as const
  readonly answeredBy = 'any-server' as const

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<string[]>> {
    const path = '/v1/catalog/datacenters'
    const res = await client.get(path, { stale: '' }, { signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, (b) => strList(b, 'datacenters').sort()), meta: res.meta }
  }
}
