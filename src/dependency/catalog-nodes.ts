/**
 * `nodes("[@dc][~near]")`: every node in the catalog (consul-template's
 * `catalog_nodes.go`): `[{ID, Node, Address, Datacenter, TaggedAddresses,
 * Meta}]`, by node name, or by round-trip time from `near` when it is given
 * (Consul sorts; `_agent` is this agent). Read `?stale`, as `service()`. The
 * node shape is shared with `node()` (catalog-node.ts).
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, obj, optStr, str, strMap } from '../consul/schema.ts'
import { ConfigError } from '../errors.ts'
import { stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface CatalogNode {
  ID: string
  Node: string
  Address: string
  Datacenter: string
  TaggedAddresses: Record<string, string>
  Meta: Record<string, string>
}

/** Parses `[@dc][~near]`. */
export function parseNodesQuery(query: string): { dc: string; near: string } {
  const m = /^(?:@([^@~]+))?(?:~([^@~]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`nodes("${query}"): expected [@dc][~near]`)
  return { dc: m[1] ?? '', near: m[2] ?? '' }
}

/** Reads one catalog node object. */
export function parseCatalogNode(value: unknown, path: string): CatalogNode {
  const n = obj(value, path)
  return {
    ID: optStr(n.ID, `${path}.ID`),
    Node: str(n.Node, `${path}.Node`),
    Address: str(n.Address, `${path}.Address`),
    Datacenter: optStr(n.Datacenter, `${path}.Datacenter`),
    TaggedAddresses: strMap(n.TaggedAddresses, `${path}.TaggedAddresses`),
    Meta: strMap(n.Meta, `${path}.Meta`),
  }
}

/** Reads a `/v1/catalog/nodes` body; sorted by name unless Consul sorted it by distance. */
export function parseCatalogNodes(near: string): (body: unknown) => CatalogNode[] {
  return (body) => {
    const nodes = arr(body, 'nodes').map((n, i) => parseCatalogNode(n, `nodes[${i}]`))
    return near ? nodes : nodes.sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0))
  }
}

/** Watches `GET /v1/catalog/nodes?stale[&dc=][&near=]`. */
export class CatalogNodesDependency implements Dependency<CatalogNode[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly #q: { dc: string; near: string }
  constructor(query = '') {
    this.#q = parseNodesQuery(query)
    this.id = `catalog.nodes(${this.#q.dc ? `@${this.#q.dc}` : ''}${this.#q.near ? `~${this.#q.near}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CatalogNode[]>> {
    const path = '/v1/catalog/nodes'
    const query = { dc: this.#q.dc || undefined, near: this.#q.near || undefined, ...stale(o) }
    const res = await client.get(path, query, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseCatalogNodes(this.#q.near)), index: res.index, digest: res.digest, meta: res.meta }
  }
}
