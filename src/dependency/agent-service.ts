/**
 * `connectProxy()`: the proxy's own registration from the local agent,
 * blocking on content hash (this endpoint has no index). An unknown id is a
 * 404 and stays an error, so a restarted agent that lost the registration
 * never turns into an empty render.
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, num, obj, optNum, optObj, optStr, SchemaError, str, strList, strMap, type JsonObject } from '../consul/schema.ts'
import { seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface Upstream {
  DestinationType: 'service' | 'prepared_query'
  DestinationName: string
  DestinationNamespace: string
  Datacenter: string
  LocalBindAddress: string
  LocalBindPort: number
  Config: JsonObject
}

export interface ProxyService {
  ID: string
  Service: string
  Kind: string
  Port: number
  Address: string
  Tags: string[]
  Meta: Record<string, string>
  Datacenter: string
  Proxy: {
    DestinationServiceName: string
    DestinationServiceID: string
    LocalServiceAddress: string
    LocalServicePort: number
    Config: JsonObject
    Upstreams: Upstream[]
  }
}

/** Validates one agent service body into a ProxyService. */
export function parseProxyService(body: unknown): ProxyService {
  const s = obj(body, 'service')
  const p = obj(s.Proxy, 'Proxy')
  return {
    ID: str(s.ID, 'ID'),
    Service: str(s.Service, 'Service'),
    Kind: optStr(s.Kind, 'Kind'),
    Port: optNum(s.Port, 'Port'),
    Address: optStr(s.Address, 'Address'),
    Tags: strList(s.Tags, 'Tags'),
    Meta: strMap(s.Meta, 'Meta'),
    Datacenter: optStr(s.Datacenter, 'Datacenter'),
    Proxy: {
      DestinationServiceName: str(p.DestinationServiceName, 'Proxy.DestinationServiceName'),
      DestinationServiceID: optStr(p.DestinationServiceID, 'Proxy.DestinationServiceID'),
      LocalServiceAddress: optStr(p.LocalServiceAddress, 'Proxy.LocalServiceAddress') || '127.0.0.1',
      LocalServicePort: optNum(p.LocalServicePort, 'Proxy.LocalServicePort'),
      Config: optObj(p.Config, 'Proxy.Config'),
      Upstreams: arr(p.Upstreams, 'Proxy.Upstreams').map((u, i) => parseUpstream(u, `Proxy.Upstreams[${i}]`)),
    },
  }
}

function parseUpstream(value: unknown, path: string): Upstream {
  const u = obj(value, path)
  const type = optStr(u.DestinationType, `${path}.DestinationType`) || 'service'
  if (type !== 'service' && type !== 'prepared_query') throw new SchemaError(`${path}.DestinationType ${type} is not supported`)
  return {
    DestinationType: type,
    DestinationName: str(u.DestinationName, `${path}.DestinationName`),
    DestinationNamespace: optStr(u.DestinationNamespace, `${path}.DestinationNamespace`),
    Datacenter: optStr(u.Datacenter, `${path}.Datacenter`),
    LocalBindAddress: optStr(u.LocalBindAddress, `${path}.LocalBindAddress`) || '127.0.0.1',
    LocalBindPort: num(u.LocalBindPort, `${path}.LocalBindPort`),
    Config: optObj(u.Config, `${path}.Config`),
  }
}

/** Watches `GET /v1/agent/service/<id>` for one connect proxy. */
export class AgentServiceDependency implements Dependency<ProxyService> {
  readonly id: string
  readonly blocking = 'hash' as const
  constructor(readonly serviceId: string) {
    this.id = `agent.service(${serviceId})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<ProxyService>> {
    const path = `/v1/agent/service/${seg(this.serviceId)}`
    const res = await client.get(path, {}, { hash: o.hash, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseProxyService), hash: res.contentHash }
  }
}
