/**
 * `node("[name][@dc]")`: one node and the services registered on it
 * (consul-template's `catalog_node.go`): `{Node: {ID, Node, Address, ...},
 * Services: [{ID, Service, Tags, Meta, Port, Address}]}`, services by name
 * then id, or `null` while Consul has no such node. Without a name it is the
 * agent's own node: its name is read from `GET /v1/agent/self` at the start
 * of each watch (index 0), as consul-template asks the agent on each fetch.
 * Read `?stale`, as `service()`.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optNum, optObj, optStr, str, strList, strMap } from '../consul/schema.ts'
import { ConfigError } from '../errors.ts'
import { parseCatalogNode, type CatalogNode } from './catalog-nodes.ts'
import { seg, stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface CatalogNodeService {
  ID: string
  Service: string
  Tags: string[]
  Meta: Record<string, string>
  Port: number
  Address: string
}

export interface CatalogNodeServices {
  Node: CatalogNode
  Services: CatalogNodeService[]
}

/** Parses `[name][@dc]`. */
export function parseNodeQuery(query: string): { name: string; dc: string } {
  const m = /^([^@~/]*)(?:@([^@~]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`node("${query}"): expected [name][@dc]`)
  return { name: m[1]!, dc: m[2] ?? '' }
}

/** Reads a `/v1/catalog/node/<name>` body (`null`: no such node). */
export function parseNodeServices(body: unknown): CatalogNodeServices | null {
  if (body === null) return null
  const b = obj(body, 'node')
  const services = optObj(b.Services, 'Services')
  return {
    Node: parseCatalogNode(b.Node, 'Node'),
    Services: Object.entries(services)
      .map(([key, v]) => {
        const s = obj(v, `Services.${key}`)
        return {
          ID: str(s.ID, `Services.${key}.ID`),
          Service: str(s.Service, `Services.${key}.Service`),
          Tags: strList(s.Tags, `Services.${key}.Tags`),
          Meta: strMap(s.Meta, `Services.${key}.Meta`),
          Port: optNum(s.Port, `Services.${key}.Port`),
          Address: optStr(s.Address, `Services.${key}.Address`),
        }
      })
      .sort((a, b) => a.Service.localeCompare(b.Service) || a.ID.localeCompare(b.ID)),
  }
}

/** Watches `GET /v1/catalog/node/<name>?stale[&dc=]`; without a name, the agent's (`GET /v1/agent/self`). */
export class CatalogNodeDependency implements Dependency<CatalogNodeServices | null> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly #q: { name: string; dc: string }
  #agentNode = ''
  constructor(query = '') {
    this.#q = parseNodeQuery(query)
    this.id = `catalog.node(${this.#q.name}${this.#q.dc ? `@${this.#q.dc}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CatalogNodeServices | null>> {
    let name = this.#q.name
    if (!name) {
      if (!o.index || !this.#agentNode) this.#agentNode = await agentNodeName(client, o.signal)
      name = this.#agentNode
    }
    const path = `/v1/catalog/node/${seg(name)}`
    const res = await client.get(path, { dc: this.#q.dc || undefined, ...stale(o) }, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseNodeServices), index: res.index, digest: res.digest, meta: res.meta }
  }
}

/** The local agent's node name (`Config.NodeName` of `GET /v1/agent/self`). */
async function agentNodeName(client: ConsulClient, signal?: AbortSignal): Promise<string> {
  const path = '/v1/agent/self'
  const res = await client.get(path, {}, { signal })
  return validate(`GET ${path}`, res.body, (b) => str(obj(obj(b, 'self').Config, 'Config').NodeName, 'Config.NodeName'))
}
