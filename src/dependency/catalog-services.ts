/**
 * `services("[@dc]")`: every service in the catalog with its tags
 * (consul-template's `catalog_services.go`): `[{Name, Tags}]`, by name, tags
 * sorted and de-duplicated. Consul answers a map of name to tags; the order
 * is made here so a template renders the same bytes each time. Read `?stale`
 * (any server), bounded by the view's max stale, as `service()`.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, strList } from '../consul/schema.ts'
import { ConfigError } from '../errors.ts'
import { stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface CatalogService {
  Name: string
  Tags: string[]
}

/** Parses `[@dc]`. */
export function parseDcQuery(fn: string, query: string): string {
  const m = /^(?:@([^@~]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`${fn}("${query}"): expected [@dc]`)
  return m[1] ?? ''
}

/** Reads `{name: [tags]}` into a list by name. */
export function parseCatalogServices(body: unknown): CatalogService[] {
  const o = obj(body, 'services')
  return Object.keys(o)
    .sort()
    .map((name) => ({ Name: name, Tags: [...new Set(strList(o[name], `services.${name}`))].sort() }))
}

/** Watches `GET /v1/catalog/services?stale[&dc=]`. */
export class CatalogServicesDependency implements Dependency<CatalogService[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly dc: string
  constructor(query = '') {
    this.dc = parseDcQuery('services', query)
    this.id = `catalog.services(${this.dc ? `@${this.dc}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CatalogService[]>> {
    const path = '/v1/catalog/services'
    const res = await client.get(path, { dc: this.dc || undefined, ...stale(o) }, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseCatalogServices), index: res.index, digest: res.digest, meta: res.meta }
  }
}
