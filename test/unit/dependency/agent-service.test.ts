/**
 * `connectProxy()` is the root of the sidecar's config: its port, its local
 * service and its upstreams. These tests feed the parser the body
 * `GET /v1/agent/service/<id>` returns for a connect proxy and check what a
 * template author reads, the defaults Consul leaves implicit, and that a
 * malformed body is refused naming the endpoint.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { AgentServiceDependency, parseProxyService } from '../../../src/dependency/agent-service.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

/** As returned by a Consul 1.x agent for a sidecar registered with `connect { sidecar_service {} }`. */
const sidecarBody = () => ({
  Kind: 'connect-proxy',
  ID: 'web-sidecar-proxy',
  Service: 'web-sidecar-proxy',
  Tags: [],
  Meta: {},
  Port: 21000,
  Address: '',
  TaggedAddresses: { lan_ipv4: { Address: '10.0.0.5', Port: 21000 } },
  Weights: { Passing: 1, Warning: 1 },
  EnableTagOverride: false,
  Proxy: {
    DestinationServiceName: 'web',
    DestinationServiceID: 'web',
    LocalServiceAddress: '127.0.0.1',
    LocalServicePort: 8080,
    Mode: '',
    Config: { protocol: 'http', bind_address: '0.0.0.0', bind_port: 21000 },
    Upstreams: [
      { DestinationType: 'service', DestinationName: 'api', Datacenter: '', LocalBindPort: 9191, Config: {}, MeshGateway: {} },
      { DestinationType: 'prepared_query', DestinationName: 'db-nearest', Datacenter: 'dc2', LocalBindAddress: '127.0.0.2', LocalBindPort: 5432, MeshGateway: {} },
    ],
    MeshGateway: {},
    Expose: {},
  },
  ContentHash: '3e5fc39e3d0bbe9e',
  Datacenter: 'dc1',
})

t.test('parses a sidecar registration with Consul’s field names', async (t) => {
  const p = parseProxyService(sidecarBody())
  t.match(p, {
    ID: 'web-sidecar-proxy',
    Service: 'web-sidecar-proxy',
    Kind: 'connect-proxy',
    Port: 21000,
    Address: '',
    Tags: [],
    Meta: {},
    Datacenter: 'dc1',
    Proxy: {
      DestinationServiceName: 'web',
      DestinationServiceID: 'web',
      LocalServiceAddress: '127.0.0.1',
      LocalServicePort: 8080,
      Config: { protocol: 'http', bind_address: '0.0.0.0', bind_port: 21000 },
    },
  })
  t.same(p.Proxy.Upstreams, [
    { DestinationType: 'service', DestinationName: 'api', DestinationNamespace: '', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 9191, Config: {} },
    { DestinationType: 'prepared_query', DestinationName: 'db-nearest', DestinationNamespace: '', Datacenter: 'dc2', LocalBindAddress: '127.0.0.2', LocalBindPort: 5432, Config: {} },
  ])
})

t.test('fills what Consul leaves implicit', async (t) => {
  const body = sidecarBody()
  const minimal = {
    ID: body.ID,
    Service: body.Service,
    Proxy: { DestinationServiceName: 'web', Upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] },
  }
  const p = parseProxyService(minimal)
  t.equal(p.Proxy.LocalServiceAddress, '127.0.0.1', 'the local service defaults to loopback')
  t.equal(p.Proxy.LocalServicePort, 0)
  t.same(p.Proxy.Config, {})
  t.equal(p.Proxy.Upstreams[0]?.DestinationType, 'service', 'an upstream without a type is a service')
  t.equal(p.Proxy.Upstreams[0]?.LocalBindAddress, '127.0.0.1', 'upstream listeners default to loopback')
  t.same(p.Tags, [])
  t.same(p.Meta, {})
  t.same(parseProxyService({ ...minimal, Proxy: { ...minimal.Proxy, Upstreams: null } }).Proxy.Upstreams, [], 'null upstreams are none')
  t.same(p.Proxy.Expose, { Checks: false, Paths: [] }, 'no Expose: nothing exposed')
  t.equal(p.Proxy.AccessLogs, null, 'no AccessLogs (Consul 1.14): null')
})

t.test('Expose and AccessLogs, as the agent returns them', async (t) => {
  const body = sidecarBody()
  const expose = {
    Checks: true,
    Paths: [
      { ListenerPort: 21500, Path: '/health', LocalPathPort: 8080, Protocol: 'http', ParsedFromCheck: true },
      { ListenerPort: 21501, Path: '/metrics', LocalPathPort: 9102 },
    ],
  }
  const accessLogs = { Enabled: true, Type: 'file', Path: '/var/log/a.log', JSONFormat: '{"c":"%RESPONSE_CODE%"}' }
  const p = parseProxyService({ ...body, Proxy: { ...body.Proxy, Expose: expose, AccessLogs: accessLogs } })
  t.same(p.Proxy.Expose, {
    Checks: true,
    Paths: [
      { Path: '/health', LocalPathPort: 8080, ListenerPort: 21500, Protocol: 'http', ParsedFromCheck: true },
      { Path: '/metrics', LocalPathPort: 9102, ListenerPort: 21501, Protocol: '', ParsedFromCheck: false },
    ],
  })
  t.same(p.Proxy.AccessLogs, { Enabled: true, DisableListenerLogs: false, Type: 'file', Path: '/var/log/a.log', JSONFormat: '{"c":"%RESPONSE_CODE%"}', TextFormat: '' })
  t.same(parseProxyService({ ...body, Proxy: { ...body.Proxy, AccessLogs: {} } }).Proxy.AccessLogs?.Enabled, false, 'an empty AccessLogs is not enabled')
})

t.test('a transparent-mode registration as Nomad 1.8 makes it: upstreams without a port are kept apart, never a parse failure', async (t) => {
  const body = JSON.parse(readFileSync(new URL('../../fixtures/newer/agent-service-nomad-1.8-transparent.json', import.meta.url), 'utf8'))
  const p = parseProxyService(body)
  t.equal(p.Proxy.Mode, 'transparent')
  t.same(p.Proxy.Upstreams.map((u) => [u.DestinationName, u.LocalBindPort]), [['api', 9191]], 'only the declared upstream with a port is served')
  t.same(p.Proxy.UnservedUpstreams.map((u) => [u.DestinationName, u.Reason]), [
    ['db', 'centrally-configured'],
    ['cache', 'socket'],
    ['billing', 'peer'],
    ['search', 'multi-port'],
    ['queue', 'no-port'],
  ])
  t.equal(p.Proxy.UnservedUpstreams[0]!.Detail, '', 'settings for implicit upstreams are not a warning')
  t.match(p.Proxy.UnservedUpstreams[2]!.Detail, /cluster peer "east"/)
})

t.test('bad shapes are refused with the field named', async (t) => {
  const cases: Array<[unknown, string]> = [
    [[], 'service is not an object'],
    [{ ...sidecarBody(), Proxy: undefined }, 'Proxy is not an object'],
    [{ ...sidecarBody(), ID: 7 }, 'ID is not a string'],
    [{ ...sidecarBody(), Port: '21000' }, 'Port is not a number'],
    [{ ...sidecarBody(), Meta: { version: 2 } }, 'Meta.version is not a string'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, DestinationServiceName: undefined } }, 'Proxy.DestinationServiceName is not a string'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, Upstreams: [{ DestinationName: 'api', LocalBindPort: '9191' }] } }, 'Proxy.Upstreams[0].LocalBindPort is not a number'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, Expose: { Checks: 'yes' } } }, 'Proxy.Expose.Checks is not a boolean'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, Expose: { Paths: [{ Path: '/h', LocalPathPort: '8080', ListenerPort: 21500 }] } } }, 'Proxy.Expose.Paths[0].LocalPathPort is not a number'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, Expose: { Paths: [{ LocalPathPort: 8080, ListenerPort: 21500 }] } } }, 'Proxy.Expose.Paths[0].Path is not a string'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, AccessLogs: { Enabled: 'true' } } }, 'Proxy.AccessLogs.Enabled is not a boolean'],
    [{ ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, AccessLogs: [] } }, 'Proxy.AccessLogs is not an object'],
  ]
  for (const [body, message] of cases) t.throws(() => parseProxyService(body), { message }, message)
})

t.test('fetch blocks on the content hash and validates at the boundary', async (t) => {
  const calls: unknown[][] = []
  const reply = (body: unknown) => recordingClient({ body, contentHash: 'a1b2c3' }, calls).client
  const dep = new AgentServiceDependency('_nomad-task-5b0e/web')
  t.equal(dep.blocking, 'hash')
  const signal = new AbortController().signal
  const res = await dep.fetch(reply(sidecarBody()), { index: 99, hash: 'prev', waitMs: 60_000, signal })
  t.equal(res.hash, 'a1b2c3')
  t.equal(res.data.Proxy.DestinationServiceName, 'web')
  t.same(calls[0], ['/v1/agent/service/_nomad-task-5b0e%2Fweb', {}, { hash: 'prev', waitMs: 60_000, signal }], 'the id is one path segment; no index is sent')

  const bad = { ...sidecarBody(), Proxy: { ...sidecarBody().Proxy, Upstreams: [{ DestinationType: 'mesh_gateway', DestinationName: 'x', LocalBindPort: 1 }] } }
  const err = await dep.fetch(reply(bad), { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError, 'an unsupported upstream type is an invalid response, not a crash')
  t.equal((err as Error).message, 'consul GET /v1/agent/service/_nomad-task-5b0e%2Fweb: invalid response: Proxy.Upstreams[0].DestinationType mesh_gateway is not supported')
})
