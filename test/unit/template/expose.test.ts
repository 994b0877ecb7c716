/**
 * An expose path is a hole through mTLS and intentions by design, so it must
 * be exactly as wide as Consul makes it for Envoy: one exact path per
 * listener, on the address Envoy would bind, h2c only for http2, and for a
 * path the agent added for a check, reachable from loopback and the agent
 * only. A path that would collide or cannot be written into the config is an
 * error naming it.
 */
import t from 'tap'
import type { ExposePath, ProxyService } from '../../../src/dependency/agent-service.ts'
import type { JsonObject } from '../../../src/consul/schema.ts'
import { exposeListeners, exposeSources } from '../../../src/template/expose.ts'

const path = (p: Partial<ExposePath>): ExposePath => ({ Path: '/health', LocalPathPort: 8080, ListenerPort: 21500, Protocol: 'http', ParsedFromCheck: false, ...p })
const proxy = (paths: ExposePath[], config: JsonObject = {}, address = ''): ProxyService => ({
  ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Address: address, Tags: [], Meta: {}, Datacenter: 'dc1',
  Proxy: { DestinationServiceName: 'api', DestinationServiceID: 'api', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Config: config, Upstreams: [], Expose: { Checks: false, Paths: paths }, AccessLogs: null },
})

t.test('one listener per path, bound where Envoy binds it', async (t) => {
  t.same(exposeListeners(proxy([path({}), path({ Path: '/metrics', LocalPathPort: 9102, ListenerPort: 21501, Protocol: 'http2' })])), [
    { name: 'expose_21500', bind: '0.0.0.0:21500', path: '"/health"', server: '127.0.0.1:8080', h2: false, localOnly: false },
    { name: 'expose_21501', bind: '0.0.0.0:21501', path: '"/metrics"', server: '127.0.0.1:9102', h2: true, localOnly: false },
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
    [[path({}), path({ Path: '/other' })], {}, 'Proxy.Expose.Paths[1].ListenerPort: 21500 is also the port of Proxy.Expose.Paths[0]'],
    [[path({ Path: '/a\nb' })], {}, '"/a\\nb" holds a line break or NUL, which an HAProxy config line cannot'],
  ]
  for (const [paths, config, message] of cases) t.throws(() => exposeListeners(proxy(paths, config)), { message }, message)
  t.equal(exposeListeners(proxy([path({ Path: '/he"al#th$x' })]))[0]?.path, '"/he\\"al#th\\$x"', 'quoted as one config word')
})
