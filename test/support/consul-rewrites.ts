/**
 * What newer Consul releases answer differently from 1.14.11, one small
 * named function per difference, for the emulating proxy (consul-emulated.ts).
 * Each cites the release and the Consul (or Nomad) source it follows, as read
 * for ../../../shared/COMPAT.md (`Cnew` there: hashicorp/consul main at
 * eef91f28b2, 1.22.0-dev). These are emulations, not recordings: no newer
 * release ran here. Parameters name exactly which intention, route, target or
 * registration changes, so a test states what it emulates.
 */
import type { AgentRequest, Reply, Rewrite } from './consul-emulated.ts'

/** An agent body inside a rewrite: untyped JSON, edited on a copy. Never crosses the module boundary. */
type Json = any

const get = (path: string) => (req: AgentRequest) => req.method === 'GET' && req.path === path
const json = (status: number, body: string): Reply => ({ status, body })

/**
 * A default-decided authorize answer says "Default intention policy", as an agent with
 * `default_intention_policy` set answers; `policy` also sets its decision (an agent with
 * `default_intention_policy = "deny"` denies what no intention decides).
 */
export function authorizeDefaultIntentionPolicy(policy?: 'allow' | 'deny'): Rewrite {
  return {
    name: `authorize reason "Default intention policy"${policy ? ` (default_intention_policy = ${policy})` : ''}`,
    cites: 'Consul 1.18.0 (GH-20544), agent/agent_endpoint.go:1779-1785 AgentConnectAuthorize',
    applies: (req) => req.method === 'POST' && req.path === '/v1/agent/connect/authorize',
    body(answer: Json) {
      if (typeof answer?.Reason !== 'string' || !answer.Reason.startsWith('Default behavior')) return answer
      return { ...answer, Authorized: policy ? policy === 'allow' : answer.Authorized, Reason: 'Default intention policy' }
    },
  }
}

/** `GET /v1/agent/self` refused, as for a service-identity token (Nomad's si_token): no agent:read. */
export function agentSelfForbidden(): Rewrite {
  return {
    name: 'agent/self 403 (token without agent:read)',
    cites: 'Consul agent/agent_endpoint.go AgentSelf (AgentReadAllowed), acl/errors.go PermissionDeniedError; agent/structs/acl.go ACLServiceIdentity.SyntheticPolicy grants no agent:read',
    applies: get('/v1/agent/self'),
    answer: () => json(403, `Permission denied: token with AccessorID '00000000-0000-4000-8000-00000000e17a' lacks permission 'agent:read' on "meshplate-test"`),
  }
}

/** Edits the intentions of `destination` from `source` ('*' for the wildcard) in `intentions/match`. */
export function editIntentions(o: { name: string; cites: string; destination: string; source?: string; edit: (ixn: Json) => void }): Rewrite {
  return {
    name: o.name,
    cites: o.cites,
    applies: (req) => req.method === 'GET' && req.path === '/v1/connect/intentions/match' && req.query.get('name') === o.destination,
    body(match: Json) {
      const copy = structuredClone(match)
      for (const ixn of copy?.[o.destination] ?? []) {
        if (ixn.DestinationName === o.destination && (o.source === undefined || ixn.SourceName === o.source)) o.edit(ixn)
      }
      return copy
    },
  }
}

/** Sets `field` (`Permissions[0].HTTP.Header[0].IgnoreCase`) to `value` (undefined removes it) on one intention. */
export function setOnIntention(source: string, destination: string, field: string, value: unknown, cites: string): Rewrite {
  return editIntentions({ name: `intention ${source} -> ${destination}: ${field} = ${JSON.stringify(value)}`, cites, source, destination, edit: (ixn) => setPath(ixn, field, value) })
}

const JWT_CITES = 'Consul 1.16.0, agent/structs/config_entry_intentions.go:24,379 (IntentionJWTRequirement; ToIntention copies the entry-level JWT into every intention)'
const OKTA = { Providers: [{ Name: 'okta' }] }

/** An entry-level `JWT` on `destination`'s service-intentions: every intention to it carries it. */
export function entryJwt(destination: string, jwt: Record<string, unknown> = OKTA): Rewrite {
  return editIntentions({ name: `service-intentions ${destination}: entry-level JWT`, cites: JWT_CITES, destination, edit: (ixn) => (ixn.JWT = jwt) })
}

/** `JWT` on one permission of one intention. */
export function permissionJwt(source: string, destination: string, permission: number, jwt: Record<string, unknown> = OKTA): Rewrite {
  return setOnIntention(source, destination, `Permissions[${permission}].JWT`, jwt, JWT_CITES)
}

const HEADER_CITES = 'Consul 1.20.1 (GH-21816, CVE-2024-10006), agent/structs/config_entry_intentions.go:426-438; agent/xds/rbac.go:1241-1300'

/** `IgnoreCase: true` on one header matcher of one permission. */
export function headerIgnoreCase(source: string, destination: string, permission: number, header: number): Rewrite {
  return setOnIntention(source, destination, `Permissions[${permission}].HTTP.Header[${header}].IgnoreCase`, true, HEADER_CITES)
}

/** One header matcher becomes `{Name, Contains: value}` (its other match fields dropped). */
export function headerContains(source: string, destination: string, permission: number, header: number, value: string): Rewrite {
  return editIntentions({
    name: `intention ${source} -> ${destination}: Permissions[${permission}].HTTP.Header[${header}] = Contains ${JSON.stringify(value)}`,
    cites: HEADER_CITES,
    source,
    destination,
    edit: (ixn) => {
      const h = ixn.Permissions[permission].HTTP.Header
      h[header] = { Name: h[header].Name, Contains: value, ...(h[header].Invert ? { Invert: true } : {}) }
    },
  })
}

/** `SourceSamenessGroup` on one intention (the source named in every member of the group). */
export function sourceSamenessGroup(source: string, destination: string, group: string): Rewrite {
  return setOnIntention(source, destination, 'SourceSamenessGroup', group, 'Consul 1.16.0, agent/structs/config_entry_intentions.go ToIntention (SourceSamenessGroup: src.SamenessGroup)')
}

/** Edits route `route` of the router node in `service`'s compiled chain (GET or POST). */
function editRoute(service: string, route: number, name: string, cites: string, edit: (r: Json) => void): Rewrite {
  return {
    name: `discovery-chain ${service}: route ${route}: ${name}`,
    cites,
    applies: (req) => (req.method === 'GET' || req.method === 'POST') && req.path === `/v1/discovery-chain/${service}`,
    body(answer: Json) {
      const copy = structuredClone(answer)
      for (const node of Object.values<Json>(copy?.Chain?.Nodes ?? {})) {
        if (node.Type === 'router' && node.Routes?.[route]) edit(node.Routes[route].Definition)
      }
      return copy
    },
  }
}

/** `RequestTimeout` and `IdleTimeout` of a route's destination `-1s`: "no timeout". */
export function routeNegativeTimeouts(service: string, route: number): Rewrite {
  return editRoute(service, route, 'RequestTimeout and IdleTimeout -1s', 'Consul 1.18.0 (GH-19992), agent/xds/routes.go:713,787 (a negative timeout disables it); CHANGELOG 1.18.0', (r) => {
    r.Destination = { ...r.Destination, RequestTimeout: '-1s', IdleTimeout: '-1s' }
  })
}

/** `Match.HTTP.CaseInsensitive: true` on a route. */
export function routeCaseInsensitive(service: string, route: number): Rewrite {
  return editRoute(service, route, 'Match.HTTP.CaseInsensitive', 'Consul 1.18.0 (GH-19647), agent/structs/config_entry_discoverychain.go:378', (r) => {
    r.Match.HTTP.CaseInsensitive = true
  })
}

/**
 * The targets of `targetService` in `service`'s chain move to peer `peer`, in the shape Consul
 * compiles for a `service-resolver` `Redirect.Peer` (checked against 1.14.11's own answer by
 * test/integration/consul-emulated.test.ts): the ID ChainID gives a peer target
 * (`<svc>.<ns>.<partition>.external.<peer>`), `Peer` set, no Datacenter, SNI or Name (the
 * peer's SNI comes from the peering, not the chain), and the resolvers naming them follow.
 * For chains 1.14 cannot compile with a peer target (a failover or a split into a peer).
 */
export function targetInPeer(service: string, targetService: string, peer: string): Rewrite {
  return {
    name: `discovery-chain ${service}: target ${targetService} in peer ${peer}`,
    cites: 'Consul 1.14+, agent/structs/discovery_chain.go ChainID and DiscoveryTarget.Peer; agent/consul/discoverychain/compile.go',
    applies: (req) => (req.method === 'GET' || req.method === 'POST') && req.path === `/v1/discovery-chain/${service}`,
    body(answer: Json) {
      const copy = structuredClone(answer)
      const chain = copy?.Chain
      const renamed = new Map<string, string>()
      for (const [id, t] of Object.entries<Json>(chain?.Targets ?? {})) {
        if (t.Service !== targetService) continue
        const { Datacenter: _dc, SNI: _sni, Name: _name, ...rest } = t
        const newId = `${t.Service}.${t.Namespace || 'default'}.${t.Partition || 'default'}.external.${peer}`
        delete chain.Targets[id]
        chain.Targets[newId] = { ...rest, ID: newId, Peer: peer }
        renamed.set(id, newId)
      }
      for (const node of Object.values<Json>(chain?.Nodes ?? {})) {
        const r = node.Resolver
        if (!r) continue
        r.Target = renamed.get(r.Target) ?? r.Target
        if (r.Failover?.Targets) r.Failover.Targets = r.Failover.Targets.map((x: string) => renamed.get(x) ?? x)
      }
      return copy
    },
  }
}

/**
 * The sidecar `proxyId` as Nomad 1.8+ registers it with `transparent_proxy`: Mode transparent,
 * an outbound listener port, plus `extra` upstreams without `LocalBindPort` (by default one
 * `CentrallyConfigured` from service-defaults overrides and one on a unix socket).
 */
export function transparentRegistration(proxyId: string, extra: Array<Record<string, unknown>> = [
  { DestinationType: 'service', DestinationName: 'db', Config: { protocol: 'tcp', connect_timeout_ms: 5000 }, MeshGateway: {}, CentrallyConfigured: true },
  { DestinationType: 'service', DestinationName: 'cache', LocalBindSocketPath: '/tmp/meshplate-emulated-cache.sock', LocalBindSocketMode: '0700', MeshGateway: {}, Config: {} },
]): Rewrite {
  return {
    name: `agent/service ${proxyId}: transparent mode, ${extra.length} upstreams without LocalBindPort`,
    cites: 'Nomad 1.8.0, command/agent/consul/connect.go:139-162 (Mode transparent); Consul agent/configentry/merge_service_config.go:165-256 (CentrallyConfigured upstreams), api/agent.go Upstream.LocalBindSocketPath',
    applies: get(`/v1/agent/service/${proxyId}`),
    body(service: Json) {
      const copy = structuredClone(service)
      copy.Proxy.Mode = 'transparent'
      copy.Proxy.TransparentProxy = { OutboundListenerPort: 15001 }
      copy.Proxy.Upstreams = [...(copy.Proxy.Upstreams ?? []), ...extra]
      return copy
    },
  }
}

/** A release without `?tag=` on `/v1/health/service/:name`: 400 unless the query uses `filter`. */
export function healthServiceTagRemoved(): Rewrite {
  return {
    name: 'health/service without ?tag=',
    cites: 'hypothetical removal: deprecated for `filter` since Consul 1.15 (website/content/api-docs/health.mdx:244-254), still parsed in agent/health_endpoint.go:196-201 of 1.22.0-dev',
    applies: (req) => req.method === 'GET' && req.path.startsWith('/v1/health/service/') && req.query.has('tag'),
    answer: () => json(400, 'Bad request: the tag query parameter is not supported; use filter (emulated)'),
  }
}

/** Sets `a.B[0].C` on `target`, creating objects on the way; undefined deletes the key. */
export function setPath(target: object, path: string, value: unknown): void {

  const keys = path.match(/[^.[\]]+/g) ?? []
  let at: Json = target
  for (const [i, key] of keys.entries()) {
    const k = /^\d+$/.test(key) ? Number(key) : key
    if (i === keys.length - 1) {
      if (value === undefined) delete at[k]
      else at[k] = value
      return
    }
    at[k] ??= {}
    at = at[k]
  }
}
