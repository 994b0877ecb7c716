/**
 * The mesh's functions are template API too (templates and users' overrides
 * call them by name). They read only the brain and record what they touched,
 * so these tests fill a brain with data parsed from Consul-shaped bodies and
 * check what a template would see and what would be reported missing: the
 * upstream instances and the identity each must present, the upstreams left
 * unserved, and a discovery chain's targets.
 */
import t from 'tap'
import { SlotTable } from '../../../src/haproxy/slots.ts'
import { parseProxyService } from '../../../src/dependency/agent-service.ts'
import { parseCaRoots } from '../../../src/dependency/ca-roots.ts'
import { parseHealthEntries } from '../../../src/dependency/health-entry.ts'
import { Brain } from '../../../src/template/brain.ts'
import { connectFunctions, type UpstreamWithInstances } from '../../../src/connect/functions.ts'
import { functionContext, type RenderScope } from '../../../src/template/functions.ts'
import { Tracker } from '../../../src/template/tracker.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseChainBody } from '../../../src/dependency/discovery-chain.ts'

const TD = '11111111-2222-3333-4444-555555555555.consul'

const proxy = parseProxyService({
  Kind: 'connect-proxy',
  ID: 'web-sidecar-proxy',
  Service: 'web-sidecar-proxy',
  Port: 21000,
  Proxy: {
    DestinationServiceName: 'web',
    DestinationServiceID: 'web',
    LocalServicePort: 8080,
    Upstreams: [
      { DestinationType: 'service', DestinationName: 'api', LocalBindPort: 9191 },
      { DestinationType: 'service', DestinationName: 'db', Datacenter: 'dc2', LocalBindPort: 5432 },
      { DestinationType: 'prepared_query', DestinationName: 'cache-nearest', LocalBindPort: 6379 },
    ],
  },
})

const node = (name: string, address: string, dc: string) => ({ Node: name, Address: address, Datacenter: dc })
const sidecar = (svc: string, address: string, port: number) => ({
  Kind: 'connect-proxy',
  ID: `${svc}-sidecar-proxy`,
  Service: `${svc}-sidecar-proxy`,
  Address: address,
  Port: port,
  Weights: { Passing: 3, Warning: 1 },
  Proxy: { DestinationServiceName: svc, DestinationServiceID: svc },
})
const passing = [{ CheckID: 'serfHealth', Status: 'passing' }]

const apiEntries = parseHealthEntries([
  { Node: node('node-1', '10.0.0.5', 'dc1'), Service: sidecar('api', '', 21001), Checks: passing },
  { Node: node('node-2', '10.0.0.6', 'dc1'), Service: { Kind: '', ID: 'api-native-1', Service: 'api', Address: '10.0.0.9', Port: 8443, Connect: { Native: true } }, Checks: passing },
])
const dbEntries = parseHealthEntries([{ Node: node('db-node', '10.2.0.7', 'dc2'), Service: sidecar('db', '172.26.64.3', 21002), Checks: passing }])
const cacheEntries = parseHealthEntries([{ Node: node('cache-node', '10.0.0.8', 'dc1'), Service: sidecar('cache', '', 21003), Checks: passing }])
const roots = parseCaRoots({ ActiveRootID: 'r1', TrustDomain: TD, Roots: [{ ID: 'r1', RootCert: 'PEM', Active: true }] })

function fullBrain(): Brain {
  const brain = new Brain()
  brain.set('agent.service(web-sidecar-proxy)', proxy)
  brain.set('connect.roots', roots)
  brain.set('health.connect(api)', apiEntries)
  brain.set('health.connect(db@dc2)', dbEntries)
  brain.set('query.execute(cache-nearest)', cacheEntries)
  return brain
}

interface Fns {
  upstreams(): UpstreamWithInstances[]
  serverSlots(name: string, instances: unknown[], min?: number): unknown
}

/** Functions bound to a fresh render over `brain`. */
function rendering(brain: Brain, proxyId = 'web-sidecar-proxy', env: NodeJS.ProcessEnv = {}) {
  const tracker = new Tracker(brain)
  const scope: RenderScope = { tracker, proxyId: proxyId || undefined, env }
  return { fns: connectFunctions(functionContext(scope), new SlotTable()) as unknown as Fns, tracker, scope }
}

t.test('upstreams() lists each upstream with its instances and their expected identity', async (t) => {
  const { fns, tracker } = rendering(fullBrain())
  const ups = fns.upstreams()
  t.same(
    ups.map((u) => [u.DestinationName, u.LocalBindPort]),
    [
      ['api', 9191],
      ['db', 5432],
      ['cache-nearest', 6379],
    ],
  )
  t.same(ups[0]!.Instances, [
    { Address: '10.0.0.5', Port: 21001, Node: 'node-1', ID: 'api-sidecar-proxy', Weights: { Passing: 3, Warning: 1 }, Status: 'passing', Weight: 3, ServiceName: 'api', ServiceURI: `spiffe://${TD}/ns/default/dc/dc1/svc/api` },
    { Address: '10.0.0.9', Port: 8443, Node: 'node-2', ID: 'api-native-1', Weights: { Passing: 1, Warning: 1 }, Status: 'passing', Weight: 1, ServiceName: 'api', ServiceURI: `spiffe://${TD}/ns/default/dc/dc1/svc/api` },
  ])
  t.match(ups[1]!.Instances, [{ Address: '172.26.64.3', Port: 21002, ServiceName: 'db', ServiceURI: `spiffe://${TD}/ns/default/dc/dc2/svc/db` }], 'the upstream’s datacenter is in the identity')
  t.match(ups[2]!.Instances, [{ Address: '10.0.0.8', Port: 21003, ServiceName: 'cache', ServiceURI: `spiffe://${TD}/ns/default/dc/dc1/svc/cache` }], 'a prepared query upstream reads the polled query')
  t.same([...tracker.used.keys()].sort(), ['agent.service(web-sidecar-proxy)', 'connect.roots', 'health.connect(api)', 'health.connect(db@dc2)', 'query.execute(cache-nearest)'])
  t.equal(tracker.missing.size, 0)
})

t.test('upstreams() serves the upstreams with a port and warns about the others (a transparent-mode registration, Nomad 1.8)', async (t) => {
  const brain = fullBrain()
  const body = JSON.parse(readFileSync(new URL('../../fixtures/newer/agent-service-nomad-1.8-transparent.json', import.meta.url), 'utf8'))
  brain.set('agent.service(web-sidecar-proxy)', parseProxyService({ ...body, ID: 'web-sidecar-proxy' }))
  brain.set('health.connect(api)', [])
  const { fns, tracker } = rendering(brain)
  const served = collectWarnings(tracker.warnings, () => fns.upstreams())
  t.same(served.map((u) => u.DestinationName), ['api'])
  t.same([...tracker.warnings], [
    'web-sidecar-proxy: Proxy.Mode is transparent, but meshplate has no outbound listener yet: apps reach only the upstreams declared with a LocalBindPort',
    'web-sidecar-proxy: upstream cache is not served: it listens on a unix socket (LocalBindSocketPath), which meshplate does not serve yet',
    'web-sidecar-proxy: upstream billing is not served: it is in cluster peer "east", which meshplate does not reach yet',
    'web-sidecar-proxy: upstream search is not served: it names port "grpc" of a multi-port service, which meshplate does not route yet',
    'web-sidecar-proxy: upstream queue is not served: it has no LocalBindPort',
  ], 'a CentrallyConfigured entry (settings for implicit upstreams) is no warning')
})

t.test('upstreams() with instances not fetched yet reports them missing', async (t) => {
  const brain = fullBrain()
  brain.forget('health.connect(db@dc2)')
  brain.forget('connect.roots')
  const { fns, tracker } = rendering(brain)
  const ups = fns.upstreams()
  t.same(ups[1]!.Instances, [])
  t.equal(ups[0]!.Instances[0]!.ServiceURI, '', 'no trust domain yet: no identity is invented')
  t.same([...tracker.missing].sort(), ['connect.roots', 'health.connect(db@dc2)'])
})

t.test('upstreams() before the proxy is known is empty and missing the proxy', async (t) => {
  const { fns, tracker } = rendering(new Brain())
  t.same(fns.upstreams(), [])
  t.same([...tracker.missing], ['agent.service(web-sidecar-proxy)'])
})

t.test('discoveryChain() never asks the local catalog for a target in a cluster peer', async (t) => {
  const chain = parseChainBody(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/chains/peer-redirect-1.14.json'), 'utf8')))
  const brain = fullBrain()
  brain.set('discovery.chain(api)', chain)
  const { fns, tracker } = rendering(brain)
  const u = fns.upstreams()[0]!
  tracker.used.clear()
  const got = (fns as unknown as { discoveryChain(u: UpstreamWithInstances): { TargetInstances: Record<string, unknown[]> } }).discoveryChain(u)
  t.same(got.TargetInstances, { 'api.default.default.external.dc2-peer': [] }, 'no instances, although local api has some')
  t.notOk([...tracker.used.keys()].some((k) => k.startsWith('health.')), `no health query for the peer target (read: ${[...tracker.used.keys()].join(', ')})`)
  t.equal(tracker.missing.size, 0)
})
t.test('misuse is a clear error', async (t) => {
  const { fns } = rendering(new Brain(), '')
  t.throws(() => fns.upstreams(), { message: /needs --proxy-id/ })
  t.throws(() => fns.serverSlots('upstream_api', [], 0), { message: 'serverSlots("upstream_api"): 0 is not a slot count from 1 to 1024' })
})
