/**
 * A dependency's id is its identity everywhere: the brain's cache key, the
 * watcher's map key, the snapshot key and the log tag. Two different queries
 * with one id would share data (a template would render another service's
 * instances); one query with two ids would open two blocking queries. This
 * file checks both across every dependency class, and the shared helpers.
 *
 * It also checks who answers each query, on the wire: a blocking query at
 * Consul's default consistency is forwarded to the leader, so every sidecar's
 * watch would wake there on every change. Each dependency's exact request
 * line is recorded by a local stub through the real client: `cached` where
 * the agent caches, `stale` where it does not, nothing for the agent's own
 * endpoints.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { ConsulClient } from '../../../src/consul/client.ts'
import { SchemaError } from '../../../src/consul/schema.ts'
import { AgentAddressDependency } from '../../../src/dependency/agent-address.ts'
import { IntentionDefaultDependency } from '../../../src/dependency/agent-self.ts'
import { AgentServiceDependency } from '../../../src/dependency/agent-service.ts'
import { CaRootsDependency } from '../../../src/dependency/ca-roots.ts'
import { CheckTargetsDependency } from '../../../src/dependency/check-targets.ts'
import { ConfigEntryDependency } from '../../../src/dependency/config-entry.ts'
import { seg, validate, type Dependency, type FetchOptions } from '../../../src/dependency/dependency.ts'
import { DiscoveryChainDependency } from '../../../src/dependency/discovery-chain.ts'
import { ExposedChecksDependency } from '../../../src/dependency/exposed-checks.ts'
import { HealthConnectDependency } from '../../../src/dependency/health-connect.ts'
import { HealthServiceDependency } from '../../../src/dependency/health-service.ts'
import { IntentionsMatchDependency } from '../../../src/dependency/intentions-match.ts'
import { KvGetDependency } from '../../../src/dependency/kv-get.ts'
import { LeafCertDependency } from '../../../src/dependency/leaf-cert.ts'
import { PreparedQueryDependency } from '../../../src/dependency/prepared-query.ts'
import { CatalogDatacentersDependency } from '../../../src/dependency/catalog-datacenters.ts'
import { CatalogNodeDependency } from '../../../src/dependency/catalog-node.ts'
import { CatalogNodesDependency } from '../../../src/dependency/catalog-nodes.ts'
import { CatalogServicesDependency } from '../../../src/dependency/catalog-services.ts'
import { FileDependency } from '../../../src/dependency/file.ts'
import { KvListDependency } from '../../../src/dependency/kv-list.ts'
import { ConsulResponseError } from '../../../src/errors.ts'

/** Builders for every class; each call builds a fresh instance from the same arguments. */
const builders: Array<[string, () => Dependency]> = [
  ['agent.service web', () => new AgentServiceDependency('web-sidecar-proxy')],
  ['agent.service api', () => new AgentServiceDependency('api-sidecar-proxy')],
  ['roots', () => new CaRootsDependency()],
  ['health.connect api', () => new HealthConnectDependency('api')],
  ['health.connect api dc2', () => new HealthConnectDependency('api', 'dc2')],
  ['health.connect api dc3', () => new HealthConnectDependency('api', 'dc3')],
  ['health.connect web', () => new HealthConnectDependency('web')],
  ['health.service api', () => new HealthServiceDependency('api')],
  ['health.service v2.api', () => new HealthServiceDependency('v2.api')],
  ['health.service api@dc2', () => new HealthServiceDependency('api@dc2')],
  ['intentions web', () => new IntentionsMatchDependency('web')],
  ['intentions api', () => new IntentionsMatchDependency('api')],
  ['kv app/a', () => new KvGetDependency('app/a')],
  ['kv app/b', () => new KvGetDependency('app/b')],
  ['kv app', () => new KvGetDependency('app')],
  ['leaf web', () => new LeafCertDependency('web')],
  ['leaf api', () => new LeafCertDependency('api')],
  ['query db', () => new PreparedQueryDependency('db')],
  ['query db dc2', () => new PreparedQueryDependency('db', 'dc2')],
  ['query api', () => new PreparedQueryDependency('api')],
  ['kv app@dc2', () => new KvGetDependency('app@dc2')],
  ['kv.list app', () => new KvListDependency('app')],
  ['kv.list app/', () => new KvListDependency('app/')],
  ['kv.list app@dc2', () => new KvListDependency('app@dc2')],
  ['catalog.services', () => new CatalogServicesDependency()],
  ['catalog.services dc2', () => new CatalogServicesDependency('@dc2')],
  ['catalog.nodes', () => new CatalogNodesDependency()],
  ['catalog.nodes near', () => new CatalogNodesDependency('~_agent')],
  ['catalog.node', () => new CatalogNodeDependency()],
  ['catalog.node web', () => new CatalogNodeDependency('web')],
  ['catalog.node web@dc2', () => new CatalogNodeDependency('web@dc2')],
  ['catalog.datacenters', () => new CatalogDatacentersDependency()],
  ['file web', () => new FileDependency('web')],
  ['health.service api~n1', () => new HealthServiceDependency('api~n1')],
]

t.test('different arguments give different ids, across all classes', async (t) => {
  const ids = builders.map(([, build]) => build().id)
  const seen = new Map<string, string>()
  builders.forEach(([label], i) => {
    const id = ids[i]!
    t.notOk(seen.has(id), `${label} has its own id (${id})${seen.has(id) ? `, but so does ${seen.get(id)}` : ''}`)
    seen.set(id, label)
  })
  t.equal(seen.size, builders.length)
})

t.test('equal arguments give equal ids', async (t) => {
  for (const [label, build] of builders) t.equal(build().id, build().id, label)
  t.equal(new HealthConnectDependency('api', '').id, new HealthConnectDependency('api').id, 'an empty datacenter is the local one')
  t.equal(new PreparedQueryDependency('db', '').id, new PreparedQueryDependency('db').id)
})

t.test('the same name under different queries never shares an id', async (t) => {
  const ids = [
    new AgentServiceDependency('web').id,
    new HealthConnectDependency('web').id,
    new HealthServiceDependency('web').id,
    new IntentionsMatchDependency('web').id,
    new KvGetDependency('web').id,
    new LeafCertDependency('web').id,
    new PreparedQueryDependency('web').id,
    new KvListDependency('web').id,
    new CatalogNodeDependency('web').id,
    new FileDependency('web').id,
  ]
  t.equal(new Set(ids).size, ids.length, ids.join(', '))
})

t.test('validate turns schema failures into ConsulResponseError naming the endpoint', async (t) => {
  const parse = (body: unknown) => {
    if (typeof body !== 'number') throw new SchemaError('Port is not a number')
    return body * 2
  }
  t.equal(validate('GET /v1/x', 21, parse), 42)
  const err = (() => {
    try {
      return validate('GET /v1/agent/service/web', 'x', parse)
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/service/web: invalid response: Port is not a number')
  t.ok((err as Error).cause instanceof SchemaError, 'the schema error is the cause')
  const bug = new TypeError('a programming error')
  t.throws(
    () =>
      validate('GET /v1/x', 1, () => {
        throw bug
      }),
    bug,
    'other errors pass through untouched',
  )
})

t.test('seg makes one path segment of any name', async (t) => {
  t.equal(seg('web'), 'web')
  t.equal(seg('a/b'), 'a%2Fb')
  t.equal(seg('web sidecar?x=1#y'), 'web%20sidecar%3Fx%3D1%23y')
})

/** A canned answer per path, each valid for its parser. */
const bodies: Record<string, unknown> = {
  '/v1/agent/self': { Member: { Addr: '10.0.0.1' }, DebugConfig: { ACLsEnabled: false, ACLResolverSettings: { ACLDefaultPolicy: 'allow' }, Services: [] } },
  '/v1/agent/service/web-sidecar-proxy': { ID: 'web-sidecar-proxy', Service: 'web-sidecar-proxy', Proxy: { DestinationServiceName: 'web' } },
  '/v1/agent/connect/ca/roots': { TrustDomain: 'x.consul', Roots: [] },
  '/v1/agent/connect/ca/leaf/web': { SerialNumber: '1', CertPEM: '-----BEGIN CERTIFICATE-----', PrivateKeyPEM: 'k' },
  '/v1/agent/checks': {},
  '/v1/connect/intentions/match': { web: [] },
  '/v1/discovery-chain/api': {
    Chain: { ServiceName: 'api', StartNode: 'resolver:api', Nodes: { 'resolver:api': { Type: 'resolver', Name: 'api', Resolver: { Target: 'api.dc1' } } }, Targets: { 'api.dc1': { ID: 'api.dc1', Service: 'api' } } },
  },
  '/v1/health/connect/api': [],
  '/v1/health/service/web': [],
  '/v1/config/mesh/mesh': { Kind: 'mesh' },
  '/v1/kv/app/config': [],
  '/v1/query/db/execute': { Nodes: [] },
  '/v1/kv/app': [],
  '/v1/kv/app/': [],
  '/v1/catalog/services': {},
  '/v1/catalog/nodes': [],
  '/v1/catalog/node/node-1': null,
  '/v1/catalog/node/n1': null,
  '/v1/catalog/datacenters': ['dc1'],
}

interface Sent {
  line: string
  headers: IncomingHttpHeaders
  body: string
}

/** A stub agent answering `bodies` and recording each request line (`GET /path?query`), headers and body. */
async function wire(t: Test) {
  const sent: Sent[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      sent.push({ line: `${req.method} ${req.url}`, headers: req.headers, body })
      const answer = bodies[new URL(req.url!, 'http://stub').pathname]
      res.writeHead(answer === undefined ? 404 : 200, { 'x-consul-index': '7' })
      res.end(answer === undefined ? 'not found' : JSON.stringify(answer))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const client = new ConsulClient({ address: `127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'secret-token' })
  t.teardown(async () => {
    await client.close()
    await new Promise<void>((r) => server.close(() => r()))
  })
  /** The request lines one fetch sent. */
  const lines = async (dep: Dependency, o: Partial<FetchOptions> = {}) => {
    const from = sent.length
    await dep.fetch(client, { waitMs: 1_000, ...o })
    return sent.slice(from).map((s) => s.line)
  }
  return { sent, lines }
}

const blocking = { index: 5, waitMs: 1_000 }

t.test('on the wire: the agent\'s cache or streaming view answers intentions, chains, connect health and prepared queries', async (t) => {
  const { sent, lines } = await wire(t)
  const intentions = new IntentionsMatchDependency('web')
  t.same(await lines(intentions), ['GET /v1/connect/intentions/match?by=destination&name=web&cached&stale'])
  t.same(await lines(intentions, blocking), ['GET /v1/connect/intentions/match?by=destination&name=web&cached&stale&index=5&wait=1000ms'], 'a cached query still blocks on the index')

  t.same(await lines(new DiscoveryChainDependency('api')), ['GET /v1/discovery-chain/api?cached&stale'])
  t.same(await lines(new DiscoveryChainDependency('api', 'dc2'), blocking), ['GET /v1/discovery-chain/api?compile-dc=dc2&cached&stale&index=5&wait=1000ms'])
  t.same(await lines(new DiscoveryChainDependency('api', '', 'http'), blocking), ['POST /v1/discovery-chain/api?cached&stale&index=5&wait=1000ms'], 'the protocol override is cached too')
  t.equal(sent.at(-1)!.body, '{"OverrideProtocol":"http"}')

  t.same(await lines(new HealthConnectDependency('api')), ['GET /v1/health/connect/api?cached&stale'], 'the first call goes through the streaming view too')
  t.same(await lines(new HealthConnectDependency('api', 'dc2', 'Service.Meta.v == "2"'), blocking), ['GET /v1/health/connect/api?dc=dc2&filter=Service.Meta.v+%3D%3D+%222%22&cached&stale&index=5&wait=1000ms'])

  t.same(await lines(new PreparedQueryDependency('db')), ['GET /v1/query/db/execute?connect=true&cached&stale'])
  t.equal(sent.at(-1)!.headers['cache-control'], 'max-age=10', 'an answer at most one poll interval (10 s) old')
  t.same(await lines(new PreparedQueryDependency('db', 'dc2'), { pollMs: 500 }), ['GET /v1/query/db/execute?dc=dc2&connect=true&cached&stale'])
  t.equal(sent.at(-1)!.headers['cache-control'], 'max-age=1', 'never max-age=0, which the agent reads as "no bound"')
  t.equal(sent.at(-3)!.headers['cache-control'], undefined, 'only prepared queries send a max-age')
})

t.test('on the wire: any server answers config entries, service() and key(); the view can ask the leader', async (t) => {
  const { lines } = await wire(t)
  t.same(await lines(new ConfigEntryDependency('mesh', 'mesh')), ['GET /v1/config/mesh/mesh?stale'])
  t.same(await lines(new ConfigEntryDependency('mesh', 'mesh'), blocking), ['GET /v1/config/mesh/mesh?stale&index=5&wait=1000ms'])
  t.same(await lines(new ConfigEntryDependency('mesh', 'mesh'), { ...blocking, consistent: true }), ['GET /v1/config/mesh/mesh?index=5&wait=1000ms'])
  t.same(await lines(new ConfigEntryDependency('service-defaults', 'absent')), ['GET /v1/config/service-defaults/absent?stale'], 'a missing entry is asked the same way')

  t.same(await lines(new HealthServiceDependency('web')), ['GET /v1/health/service/web?passing&stale'])
  t.same(await lines(new HealthServiceDependency('v2.web@dc2'), blocking), ['GET /v1/health/service/web?passing&filter=Service.Tags+contains+%22v2%22&dc=dc2&stale&index=5&wait=1000ms'])
  t.same(await lines(new HealthServiceDependency('web'), { consistent: true }), ['GET /v1/health/service/web?passing'])

  t.same(await lines(new KvGetDependency('app/config'), blocking), ['GET /v1/kv/app/config?stale&index=5&wait=1000ms'])
  t.same(await lines(new KvGetDependency('app/config'), { ...blocking, consistent: true }), ['GET /v1/kv/app/config?index=5&wait=1000ms'])
  t.same(await lines(new KvGetDependency('app/config@dc2')), ['GET /v1/kv/app/config?dc=dc2&stale'])

  t.same(await lines(new KvListDependency('app/'), blocking), ['GET /v1/kv/app/?recurse&stale&index=5&wait=1000ms'])
  t.same(await lines(new KvListDependency('app@dc2'), { ...blocking, consistent: true }), ['GET /v1/kv/app?recurse&dc=dc2&index=5&wait=1000ms'])
  t.same(await lines(new CatalogServicesDependency('@dc2'), blocking), ['GET /v1/catalog/services?dc=dc2&stale&index=5&wait=1000ms'])
  t.same(await lines(new CatalogNodesDependency('~_agent'), blocking), ['GET /v1/catalog/nodes?near=_agent&stale&index=5&wait=1000ms'])
  t.same(await lines(new CatalogNodeDependency('node-1@dc2'), blocking), ['GET /v1/catalog/node/node-1?dc=dc2&stale&index=5&wait=1000ms'])
  t.same(await lines(new CatalogDatacentersDependency(), blocking), ['GET /v1/catalog/datacenters?stale'], 'polled: never a blocking call')
})

t.test('on the wire: the agent answers its own endpoints from its own state, with no consistency parameter', async (t) => {
  const { lines } = await wire(t)
  t.same(await lines(new AgentServiceDependency('web-sidecar-proxy'), { hash: 'abc', waitMs: 1_000 }), ['GET /v1/agent/service/web-sidecar-proxy?hash=abc&wait=1000ms'])
  t.same(await lines(new LeafCertDependency('web'), blocking), ['GET /v1/agent/connect/ca/leaf/web?index=5&wait=1000ms'])
  t.same(await lines(new CaRootsDependency(), blocking), ['GET /v1/agent/connect/ca/roots?index=5&wait=1000ms'])
  t.same(await lines(new AgentAddressDependency()), ['GET /v1/agent/self'])
  t.same(await lines(new CheckTargetsDependency()), ['GET /v1/agent/self'])
  t.same(await lines(new IntentionDefaultDependency('web')), ['GET /v1/agent/self'])
  t.same(await lines(new ExposedChecksDependency('web')), ['GET /v1/agent/checks'])
})

t.test('no dependency reads at default consistency (the leader): each is the agent\'s, cached or stale', async (t) => {
  const { lines } = await wire(t)
  const all: Dependency[] = [
    new AgentServiceDependency('web-sidecar-proxy'), new LeafCertDependency('web'), new CaRootsDependency(), new AgentAddressDependency(),
    new CheckTargetsDependency(), new IntentionDefaultDependency('web'), new ExposedChecksDependency('web'),
    new IntentionsMatchDependency('web'), new DiscoveryChainDependency('api'), new DiscoveryChainDependency('api', '', 'http'),
    new HealthConnectDependency('api'), new PreparedQueryDependency('db'),
    new ConfigEntryDependency('mesh', 'mesh'), new HealthServiceDependency('web'), new KvGetDependency('app/config'),
    new KvListDependency('app'), new CatalogServicesDependency(), new CatalogNodesDependency(), new CatalogNodeDependency('n1'),
    new CatalogDatacentersDependency(),
  ]
  for (const dep of all) {
    for (const o of [{}, blocking]) {
      const [line] = await lines(dep, o)
      const query = new URLSearchParams(line!.split('?')[1] ?? '')
      const ok = { agent: line!.includes(' /v1/agent/'), 'agent-cache': query.has('cached') && query.has('stale'), 'any-server': query.has('stale') }[dep.answeredBy]
      t.ok(ok, `${dep.id} (${dep.answeredBy}): ${line}`)
    }
  }
})
