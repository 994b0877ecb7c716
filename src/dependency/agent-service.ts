/**
 * `connectProxy()`: the proxy's own registration from the local agent,
 * blocking on content hash (this endpoint has no index). An unknown id is a
 * 404 and stays an error, so a restarted agent that lost the registration
 * never turns into an empty render. `Proxy.Expose` (plaintext paths for
 * health checks and metrics, those of `Expose.Checks` added by the agent) and
 * `Proxy.AccessLogs` (merged from `proxy-defaults` by Consul 1.15 and later;
 * Consul 1.14 has no such field) are typed here; what their values mean to
 * HAProxy is decided in connect/expose.ts and connect/access-logs.ts.
 *
 * `Proxy.Upstreams` holds the upstreams the sidecar serves: a listener on a
 * local port each. A registration may also carry upstreams with no port: in
 * transparent mode (Nomad 1.8+ `transparent_proxy`, `Proxy.Mode`) Consul
 * adds `service-defaults` `UpstreamConfig.Overrides` as `CentrallyConfigured`
 * entries, which are settings for implicit upstreams, not listeners; a
 * `LocalBindSocketPath` upstream listens on a unix socket; a `DestinationPeer`
 * upstream lives in another cluster; a multi-port one (Consul 1.22
 * Enterprise) names a port. Those are parsed, kept apart in
 * `Proxy.UnservedUpstreams` with the reason, and never fail the registration.
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

/** An upstream the sidecar does not listen for, and why. */
export interface UnservedUpstream {
  DestinationName: string
  /** `centrally-configured`, `socket`, `peer`, `multi-port` or `no-port`. */
  Reason: string
  /** What the reason means to a user, for the warning (empty for settings-only entries). */
  Detail: string
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
    UnservedUpstreams: UnservedUpstream[]
    /** `transparent` (Nomad 1.8+ `transparent_proxy`) or `direct`/empty. */
    Mode: string
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
      ...parseUpstreams(p.Upstreams),
      Mode: optStr(p.Mode, 'Proxy.Mode'),
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

function parseUpstreams(value: unknown): { Upstreams: Upstream[]; UnservedUpstreams: UnservedUpstream[] } {
  const served: Upstream[] = []
  const unserved: UnservedUpstream[] = []
  arr(value, 'Proxy.Upstreams').forEach((v, i) => {
    const path = `Proxy.Upstreams[${i}]`
    const u = obj(v, path)
    const why = unservedReason(u, path)
    if (why) unserved.push({ DestinationName: str(u.DestinationName, `${path}.DestinationName`), ...why })
    else served.push(parseUpstream(u, path))
  })
  return { Upstreams: served, UnservedUpstreams: unserved }
}

/** Why an upstream gets no listener, or undefined when it gets one. */
function unservedReason(u: JsonObject, path: string): { Reason: string; Detail: string } | undefined {
  if (optBool(u.CentrallyConfigured, `${path}.CentrallyConfigured`)) return { Reason: 'centrally-configured', Detail: '' }
  if (optStr(u.DestinationPeer, `${path}.DestinationPeer`)) {
    return { Reason: 'peer', Detail: `it is in cluster peer ${JSON.stringify(u.DestinationPeer)}, which meshplate does not reach yet` }
  }
  const port = u.DestinationPort
  if (port !== undefined && port !== null && port !== '' && port !== 0) {
    return { Reason: 'multi-port', Detail: `it names port ${JSON.stringify(port)} of a multi-port service, which meshplate does not route yet` }
  }
  if (optStr(u.LocalBindSocketPath, `${path}.LocalBindSocketPath`)) return { Reason: 'socket', Detail: 'it listens on a unix socket (LocalBindSocketPath), which meshplate does not serve yet' }
  if (!optNum(u.LocalBindPort, `${path}.LocalBindPort`)) return { Reason: 'no-port', Detail: 'it has no LocalBindPort' }
  return undefined
}

function parseUpstream(u: JsonObject, path: string): Upstream {
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
  readonly answeredBy = 'agent' as const
  constructor(readonly serviceId: string) {
    this.id = `agent.service(${serviceId})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<ProxyService>> {
    const path = `/v1/agent/service/${seg(this.serviceId)}`
    const res = await client.get(path, {}, { hash: o.hash, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseProxyService), hash: res.contentHash, meta: res.meta }
  }
}
