/**
 * An expose path is a hole through mTLS and intentions by design, so it must
 * be exactly as wide as Consul makes it for Envoy: one exact path per
 * listener, on the address Envoy would bind, h2c only for http2, and for a
 * path the agent added for a check, reachable from loopback and the agent
 * only. A path that would collide or cannot be written into the config is an
 * error naming it. The checks `Expose.Checks` exposes get the same listeners,
 * from the app port the check targets (the agent's config files) or else the
 * service's port; one that cannot be served is left out with a warning, so
 * the rest of the sidecar still runs.
 */
import t from 'tap'
import type { ExposePath, ProxyService } from '../../../src/dependency/agent-service.ts'
import type { JsonObject } from '../../../src/consul/schema.ts'
import type { CheckTarget } from '../../../src/dependency/check-targets.ts'
import type { ExposedCheck } from '../../../src/dependency/exposed-checks.ts'
import { exposeListeners, exposeSources } from '../../../src/connect/expose.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

const path = (p: Partial<ExposePath>): ExposePath => ({ Path: '/health', LocalPathPort: 8080, ListenerPort: 21500, Protocol: 'http', ParsedFromCheck: false, ...p })
const proxy = (paths: ExposePath[], config: JsonObject = {}, address = ''): ProxyService => ({
  ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Address: address, Tags: [], Meta: {}, Datacenter: 'dc1',
  Proxy: { DestinationServiceName: 'api', DestinationServiceID: 'api', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Config: config, Upstreams: [], UnservedUpstreams: [], Mode: '', Expose: { Checks: false, Paths: paths }, AccessLogs: null },
})

t.test('one listener per path, bound where Envoy binds it', async (t) => {
  t.same(exposeListeners(proxy([path({}), path({ Path: '/metrics', LocalPathPort: 9102, ListenerPort: 21501, Protocol: 'http2' })])), [
    { name: 'expose_21500', bind: '0.0.0.0:21500', path: '"/health"', server: '127.0.0.1:8080', h2: false, localOnly: false, source: '' },
    { name: 'expose_21501', bind: '0.0.0.0:21501', path: '"/metrics"', server: '127.0.0.1:9102', h2: true, localOnly: false, source: '' },
  ])
  t.equal(exposeListeners(proxy([path({})], {}, '10.0.0.5'))[0]?.bind, '10.0.0.5:21500', 'the proxy\'s address when there is no bind_address')
  t.equal(exposeListeners(proxy([path({})], { bind_address: '127.0.0.1' }, '10.0.0.5'))[0]?.bind, '127.0.0.1:21500', 'bind_address wins')
  t.equal(exposeListeners(proxy([path({})], { bind_address: '::1' }))[0]?.bind, '[::1]:21500', 'IPv6 in brackets')
  t.equal(exposeListeners(proxy([path({ Protocol: '' })]))[0]?.h2, false, 'no protocol: http')
  t.same(exposeListeners(proxy([])), [])
  t.same(exposeListeners(undefined), [])
  const old = proxy([]) as unknown as { Proxy: Record<string, unknown> }
  delete old.Proxy.Expose
  t.same(exposeListeners(old as unknown as ProxyService), [], 'a snapshot recorded before Expose was parsed')
})

t.test('a path added for a check: loopback and the agent only', async (t) => {
  t.equal(exposeListeners(proxy([path({ ParsedFromCheck: true })]))[0]?.localOnly, true)
  t.equal(exposeSources('10.0.0.5'), '127.0.0.0/8 ::1 10.0.0.5')
  t.equal(exposeSources(''), '127.0.0.0/8 ::1')
})

t.test('paths that cannot be served are errors naming them', async (t) => {
  const cases: Array<[ExposePath[], JsonObject, string]> = [
    [[path({ Path: 'health' })], {}, 'Proxy.Expose.Paths[0].Path: "health" does not start with /'],
    [[path({ Protocol: 'grpc' })], {}, 'Proxy.Expose.Paths[0].Protocol: "grpc" is not http or http2'],
    [[path({ ListenerPort: 0 })], {}, 'Proxy.Expose.Paths[0].ListenerPort: 0 is not a port'],
    [[path({ LocalPathPort: 70000 })], {}, 'Proxy.Expose.Paths[0].LocalPathPort: 70000 is not a port'],
    [[path({ ListenerPort: 21000 })], {}, 'Proxy.Expose.Paths[0].ListenerPort: 21000 is the public listener\'s port'],
    [[path({ ListenerPort: 21001 })], { bind_port: 21001 }, 'Proxy.Expose.Paths[0].ListenerPort: 21001 is the public listener\'s port'],
    [[path({ ListenerPort: 21001 })], { BindPort: '21001' }, 'Proxy.Expose.Paths[0].ListenerPort: 21001 is the public listener\'s port'],
    [[path({ ListenerPort: 21000 })], { bind_port: 0 }, 'Proxy.Expose.Paths[0].ListenerPort: 21000 is the public listener\'s port'],
    [[path({}), path({ Path: '/other' })], {}, 'Proxy.Expose.Paths[1].ListenerPort: 21500 is also the port of Proxy.Expose.Paths[0]'],
    [[path({ Path: '/a\nb' })], {}, '"/a\\nb" holds a line break or NUL, which an HAProxy config line cannot'],
  ]
  for (const [paths, config, message] of cases) t.throws(() => exposeListeners(proxy(paths, config)), { message }, message)
  t.equal(exposeListeners(proxy([path({ Path: '/he"al#th$x' })]))[0]?.path, '"/he\\"al#th\\$x"', 'quoted as one config word')
})

const check = (c: Partial<ExposedCheck>): ExposedCheck => ({ CheckID: 'service:api:1', Name: 'api-http', Type: 'http', ExposedPort: 21500, Path: '/health', ...c })
const target = (c: Partial<CheckTarget>): CheckTarget => ({ CheckID: 'service:api:1', ServiceID: 'api', HTTP: 'http://127.0.0.1:9000/health', GRPC: '', ...c })
const checking = (paths: ExposePath[] = [], config: JsonObject = {}, address = ''): ProxyService => {
  const p = proxy(paths, config, address)
  return { ...p, Proxy: { ...p.Proxy, Expose: { Checks: true, Paths: paths } } }
}
/** The listeners planned for `checks`, and the warnings raised while planning. */
const plan = (p: ProxyService, checks: ExposedCheck[], targets: CheckTarget[] = []) => {
  const warnings = new Set<string>()
  const listeners = collectWarnings(warnings, () => exposeListeners(p, { Checks: checks, Targets: targets }))
  return { listeners, warnings: [...warnings] }
}

t.test('Expose.Checks: a listener per exposed check, as Envoy gets one', async (t) => {
  const { listeners, warnings } = plan(checking([], {}, '10.0.0.5'), [check({}), check({ CheckID: 'service:api:2', Name: 'api-grpc', Type: 'grpc', ExposedPort: 21501, Path: '/grpc.health.v1.Health/Check' })])
  t.same(listeners, [
    { name: 'expose_21500', bind: '10.0.0.5:21500', path: '"/health"', server: '127.0.0.1:8080', h2: false, localOnly: true, source: 'check "service:api:1" ("api-http"): the agent does not say its app port; the service\'s port 8080 is assumed' },
    { name: 'expose_21501', bind: '10.0.0.5:21501', path: '"/grpc.health.v1.Health/Check"', server: '127.0.0.1:8080', h2: true, localOnly: true, source: 'check "service:api:2" ("api-grpc"): the agent does not say its app port; the service\'s port 8080 is assumed' },
  ], 'on the proxy\'s address at ExposedPort, loopback and the agent only; gRPC is h2c to the app')
  t.same(warnings, [])
  t.same(plan(checking(), [check({ Path: '' })]).listeners, [], 'an HTTP check that has not named its URL yet: no listener (yet), no warning')
  const off = proxy([])
  t.same(exposeListeners(off, { Checks: [check({})], Targets: [] }), [], 'Expose.Checks off: checks are not exposed, whatever is passed')
  t.same(exposeListeners(checking()), [], 'no checks given (a template that does not call exposedChecks())')
})

t.test('Expose.Checks: the app port the check targets, when the agent\'s config files say', async (t) => {
  const served = (targets: CheckTarget[], c: Partial<ExposedCheck> = {}) => plan(checking(), [check(c)], targets)
  t.equal(served([target({})]).listeners[0]?.server, '127.0.0.1:9000', 'the port of the check\'s own URL')
  t.match(served([target({})]).listeners[0]?.source, /^check "service:api:1" \("api-http"\): HTTP "http:\/\/127\.0\.0\.1:9000\/health"$/)
  t.equal(served([target({ HTTP: 'http://[::1]:9001/health?x=1' })]).listeners[0]?.server, '127.0.0.1:9001', 'an IPv6 target with a query string')
  t.equal(served([target({ HTTP: '', GRPC: 'localhost:9090/my.Svc' })], { Type: 'grpc', Path: '/grpc.health.v1.Health/Check' }).listeners[0]?.server, '127.0.0.1:9090', 'a gRPC target host:port/service')
  t.equal(served([target({ HTTP: 'http://127.0.0.1:9000/other' })]).listeners[0]?.server, '127.0.0.1:8080', 'a config path that is not the one the check calls (re-registered since): not trusted')
  t.equal(served([target({ ServiceID: 'web' })]).listeners[0]?.server, '127.0.0.1:8080', 'another service\'s check of the same id')
  t.equal(served([target({ CheckID: 'service:api:2' })]).listeners[0]?.server, '127.0.0.1:8080', 'another check')
  const noPort = served([target({ HTTP: 'http://127.0.0.1/health' })])
  t.same(noPort.listeners, [], 'a target without a port is skipped, as Envoy skips it')
  t.same(noPort.warnings, ['api-sidecar-proxy: Expose.Checks: check "service:api:1" ("api-http") is not served: its target "http://127.0.0.1/health" names no port'])
})

t.test('Expose.Checks: a check that cannot be served is left out with a warning; the rest stands', async (t) => {
  const clash = plan(checking([path({ ListenerPort: 21500, Path: '/metrics' })]), [check({}), check({ CheckID: 'service:api:2', ExposedPort: 21501 })])
  t.same(clash.listeners.map((l) => [l.name, l.path]), [['expose_21500', '"/metrics"'], ['expose_21501', '"/health"']], 'the explicit path keeps its port')
  t.same(clash.warnings, ['api-sidecar-proxy: Expose.Checks: check "service:api:1" is not served: its ExposedPort 21500 is also Proxy.Expose.Paths[0]'])
  t.same(plan(checking(), [check({ ExposedPort: 21000 })]).warnings, ['api-sidecar-proxy: Expose.Checks: check "service:api:1" is not served: its ExposedPort 21000 is also the public listener\'s port'])
  const bad = plan(checking(), [check({ Path: '/a\u0001b' }), check({ CheckID: 'x', Name: '', Path: 'health' })])
  t.same(bad.listeners, [])
  t.same(bad.warnings, [
    'api-sidecar-proxy: Expose.Checks: check "service:api:1" ("api-http") is not served: its path "/a\\u0001b" cannot be matched',
    'api-sidecar-proxy: Expose.Checks: check "x" is not served: its path "health" cannot be matched',
  ])
  const noPort = checking()
  noPort.Proxy.LocalServicePort = 0
  t.same(plan(noPort, [check({})]).warnings, ['api-sidecar-proxy: Expose.Checks: check "service:api:1" ("api-http") is not served: the agent does not say its app port, and Proxy.LocalServicePort is not set'])
  const named = plan(checking(), [check({ CheckID: 'a\nb', Name: 'x\ny' })]).listeners[0]?.source ?? ''
  t.notMatch(named, /\n/, 'ids and names from the agent cannot break the config comment onto a new line')
})
