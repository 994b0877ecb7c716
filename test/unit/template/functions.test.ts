/**
 * The built-in functions are the template author's API. They read only the
 * brain and record what they touched, so these tests fill a brain with data
 * parsed from Consul-shaped bodies and check what a template would see and
 * what would be reported missing: the default leaf and intentions, exposed
 * checks, and `key` vs `keyOrDefault`. The mesh's joins (`upstreams()`,
 * `discoveryChain()`) are tested in test/unit/connect/functions.test.ts.
 */
import t from 'tap'
import { parseProxyService, type ProxyService } from '../../../src/dependency/agent-service.ts'
import { parseCaRoots } from '../../../src/dependency/ca-roots.ts'
import { parseHealthEntries, type HealthEntry } from '../../../src/dependency/health-entry.ts'
import type { Intention } from '../../../src/dependency/intentions-match.ts'
import type { LeafCert } from '../../../src/dependency/leaf-cert.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createFunctions, type RenderScope } from '../../../src/template/functions.ts'
import { Tracker } from '../../../src/template/tracker.ts'

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
  connectProxy(): ProxyService | undefined
  leafCert(name?: string): LeafCert | undefined
  intentions(name?: string): Intention[]
  caRoots(): unknown
  service(q: string): HealthEntry[]
  key(path: string): string
  keyOrDefault(path: string, fallback: string): string
  env(name: string): string
}

/** Functions bound to a fresh render over `brain`. */
function rendering(brain: Brain, proxyId = 'web-sidecar-proxy', env: NodeJS.ProcessEnv = {}) {
  const tracker = new Tracker(brain)
  const scope: RenderScope = { tracker, proxyId: proxyId || undefined, env }
  return { fns: createFunctions(scope) as unknown as Fns, tracker, scope }
}

t.test('leafCert() defaults to the proxy’s destination service', async (t) => {
  const leaf = { SerialNumber: '01', CertPEM: 'C', PrivateKeyPEM: 'K', Service: 'web', ServiceURI: '', ValidAfter: '', ValidBefore: '', ModifyIndex: 1 }
  const brain = fullBrain()
  brain.set('connect.leaf(web)', leaf)
  const { fns, tracker } = rendering(brain)
  t.equal(fns.leafCert(), leaf)
  t.ok(tracker.used.has('connect.leaf(web)'))

  const named = rendering(brain)
  t.equal(named.fns.leafCert('billing'), undefined)
  t.same([...named.tracker.used.keys()], ['connect.leaf(billing)'], 'a named leaf does not need the proxy')
  t.same([...named.tracker.missing], ['connect.leaf(billing)'])

  const early = rendering(new Brain())
  t.equal(early.fns.leafCert(), undefined)
  t.same([...early.tracker.missing], ['agent.service(web-sidecar-proxy)'], 'no leaf is guessed before the proxy is known')
})

t.test('intentions() defaults to the destination service and is [] until fetched', async (t) => {
  const table = [{ SourceName: 'api', Action: 'allow' }]
  const brain = fullBrain()
  brain.set('connect.intentions(web)', table)
  t.equal(rendering(brain).fns.intentions(), table)
  const other = rendering(brain)
  t.same(other.fns.intentions('db'), [])
  t.same([...other.tracker.missing], ['connect.intentions(db)'])
})

t.test('key waits for a missing key; keyOrDefault renders the default', async (t) => {
  const brain = new Brain()
  brain.set('kv.get(app/present)', { Exists: true, Value: 'max_conn 2000' })
  brain.set('kv.get(app/absent)', { Exists: false, Value: '' })

  const present = rendering(brain)
  t.equal(present.fns.key('app/present'), 'max_conn 2000')
  t.equal(present.fns.keyOrDefault('app/present', 'dflt'), 'max_conn 2000')
  t.equal(present.tracker.missing.size, 0)

  const absentKey = rendering(brain)
  t.equal(absentKey.fns.key('app/absent'), '')
  t.same([...absentKey.tracker.missing], ['kv.get(app/absent)'], 'key on a missing key holds the file back')

  const absentDefault = rendering(brain)
  t.equal(absentDefault.fns.keyOrDefault('app/absent', 'max_conn 100'), 'max_conn 100')
  t.equal(absentDefault.tracker.missing.size, 0, 'keyOrDefault renders at once')
  t.ok(absentDefault.tracker.used.has('kv.get(app/absent)'), 'and keeps watching for the key to appear')

  const notFetched = rendering(new Brain())
  t.equal(notFetched.fns.keyOrDefault('app/x', 'd'), 'd')
  t.same([...notFetched.tracker.missing], ['kv.get(app/x)'], 'before the first answer even keyOrDefault waits')
})

t.test('service() reads the generic health query', async (t) => {
  const brain = new Brain()
  brain.set('health.service(v2.web@dc2)', dbEntries)
  const { fns } = rendering(brain)
  t.equal(fns.service('v2.web@dc2'), dbEntries)
  const missing = rendering(new Brain())
  t.same(missing.fns.service('web'), [])
  t.same([...missing.tracker.missing], ['health.service(web)'])
})

t.test('env() reads the given environment; unset is empty', async (t) => {
  const { fns, tracker } = rendering(new Brain(), '', { NOMAD_ALLOC_ID: '5b0e', EMPTY: '' })
  t.equal(fns.env('NOMAD_ALLOC_ID'), '5b0e')
  t.equal(fns.env('EMPTY'), '')
  t.equal(fns.env('UNSET_VARIABLE'), '')
  t.equal(tracker.used.size, 0, 'env is not a Consul dependency')
})

t.test('misuse is a clear error', async (t) => {
  const { fns } = rendering(new Brain(), '')
  t.throws(() => fns.connectProxy(), { message: 'connectProxy() needs --proxy-id or --sidecar-for', code: 'CONFIG_INVALID' })
  const idle = createFunctions({ tracker: undefined, proxyId: 'p', env: {} }) as unknown as Fns
  t.throws(() => idle.caRoots(), { message: 'template functions can only be called while rendering' })
})

t.test('exposedChecks() asks the agent only for a sidecar with Expose.Checks, and for targets only once it has checks', async (t) => {
  const off = rendering(fullBrain())
  t.same((off.fns as unknown as { exposedChecks(): unknown }).exposedChecks(), { Checks: [], Targets: [] })
  t.same([...off.tracker.used.keys()], ['agent.service(web-sidecar-proxy)'], 'Expose.Checks off: no new query')
  const brain = fullBrain()
  brain.set('agent.service(web-sidecar-proxy)', { ...proxy, Proxy: { ...proxy.Proxy, Expose: { Checks: true, Paths: [] } } })
  const waiting = rendering(brain)
  t.same((waiting.fns as unknown as { exposedChecks(): unknown }).exposedChecks(), { Checks: [], Targets: [] })
  t.same([...waiting.tracker.missing], ['agent.exposedChecks(web)'], 'the destination service\'s checks, waited for')
  const check = { CheckID: 'service:web', Name: 'web-http', Type: 'http', ExposedPort: 21500, Path: '/health' }
  brain.set('agent.exposedChecks(web)', [check])
  brain.set('agent.checkTargets', [])
  const ready = rendering(brain)
  t.same((ready.fns as unknown as { exposedChecks(): unknown }).exposedChecks(), { Checks: [check], Targets: [] })
  t.same([...ready.tracker.used.keys()].sort(), ['agent.checkTargets', 'agent.exposedChecks(web)', 'agent.service(web-sidecar-proxy)'])
  brain.set('agent.exposedChecks(web)', [])
  const none = rendering(brain)
  ;(none.fns as unknown as { exposedChecks(): unknown }).exposedChecks()
  t.notOk(none.tracker.used.has('agent.checkTargets'), 'no exposed checks: the agent\'s config is not read')
})

