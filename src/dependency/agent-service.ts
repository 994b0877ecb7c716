/**
 * `connectProxy()`: the proxy's own registration from the local agent,
 * blocking on content hash (this endpoint has no index). An unknown id is a
 * 404 and stays an error, so a restarted agent that lost the registration
 * never turns into an empty render. `Proxy.Expose` (plaintext paths for
 * health checks and metrics, those of `Expose.Checks` added by the agent) and
 * `Proxy.AccessLogs` (merged from `proxy-defaults` by Consul 1.15 and later;
 * Consul 1.14 has no such field) are typed here; what their values mean to
 * HAProxy is decided in template/expose.ts and template/access-logs.ts.
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, num, obj, optBool, optNum, optObj, optStr, SchemaError, str, strList, strMap, type JsonObject } from '../consul/schema.ts'
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

/** One plaintext listener serving one exact path of the local app. */
export interface ExposePath {
  Path: string
  /** The app's port that serves the path. */
  LocalPathPort: number
  /** The sidecar's plaintext listener. */
  ListenerPort: number
  /** `http` (or empty) or `http2`. */
  Protocol: string
  /** Added by the agent for a check of the service (`Expose.Checks`): only loopback and the agent may call it. */
  ParsedFromCheck: boolean
}

export interface Expose {
  Checks: boolean
  Paths: ExposePath[]
}

/** `proxy-defaults` AccessLogs as the agent merges them (Consul 1.15+). */
export interface AccessLogs {
  Enabled: boolean
  DisableListenerLogs: boolean
  /** `stdout` (also empty), `stderr` or `file`. */
  Type: string
  Path: string
  JSONFormat: string
  TextFormat: string
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
    Expose: Expose
    /** Absent (Consul 1.14, or no AccessLogs in proxy-defaults): null. */
    AccessLogs: AccessLogs | null
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
      Expose: parseExpose(p.Expose),
      AccessLogs: parseAccessLogs(p.AccessLogs),
    },
  }
}

function parseExpose(value: unknown): Expose {
  const e = optObj(value, 'Proxy.Expose')
  return {
    Checks: optBool(e.Checks, 'Proxy.Expose.Checks'),
    Paths: arr(e.Paths, 'Proxy.Expose.Paths').map((v, i) => {
      const path = `Proxy.Expose.Paths[${i}]`
      const p = obj(v, path)
      return {
        Path: str(p.Path, `${path}.Path`),
        LocalPathPort: num(p.LocalPathPort, `${path}.LocalPathPort`),
        ListenerPort: num(p.ListenerPort, `${path}.ListenerPort`),
        Protocol: optStr(p.Protocol, `${path}.Protocol`),
        ParsedFromCheck: optBool(p.ParsedFromCheck, `${path}.ParsedFromCheck`),
      }
    }),
  }
}

function parseAccessLogs(value: unknown): AccessLogs | null {
  if (value === undefined || value === null) return null
  const a = obj(value, 'Proxy.AccessLogs')
  const path = (k: string) => `Proxy.AccessLogs.${k}`
  return {
    Enabled: optBool(a.Enabled, path('Enabled')),
    DisableListenerLogs: optBool(a.DisableListenerLogs, path('DisableListenerLogs')),
    Type: optStr(a.Type, path('Type')),
    Path: optStr(a.Path, path('Path')),
    JSONFormat: optStr(a.JSONFormat, path('JSONFormat')),
    TextFormat: optStr(a.TextFormat, path('TextFormat')),
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
