/**
 * What a Consul user sets in proxy-defaults and service-defaults must mean
 * in HAProxy what it means to Envoy, or differ only as README says. These
 * pin each mapping: Envoy's defaults (a local request times out after 15 s),
 * both key spellings the agent may send (snake_case from a registration,
 * CamelCase and nanosecond durations from merged central config), what
 * becomes per-upstream and what per-instance, and a one-line warning naming
 * the key for a value that cannot be used, whose default then applies (a
 * typo never takes the sidecar down).
 */
import nunjucks from 'nunjucks'
import t from 'tap'
import type { ProxyService, Upstream } from '../../../src/dependency/agent-service.ts'
import type { JsonObject } from '../../../src/consul/schema.ts'
import { localSettings, upstreamSettings } from '../../../src/connect/proxy-settings.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

const proxy = (config: JsonObject): ProxyService => ({
  ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Address: '', Tags: [], Meta: {}, Datacenter: 'dc1',
  Proxy: { DestinationServiceName: 'api', DestinationServiceID: 'api', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Config: config, Upstreams: [], Expose: { Checks: false, Paths: [] }, AccessLogs: null },
})
const upstream = (config: JsonObject): Upstream => ({
  DestinationType: 'service', DestinationName: 'api', DestinationNamespace: '', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 9191, Config: config,
})

/** What `f` returns and the warnings it raised. */
const warned = <T>(f: () => T): { value: T; warnings: string[] } => {
  const sink = new Set<string>()
  const value = collectWarnings(sink, f)
  return { value, warnings: [...sink] }
}

t.test('local settings: Envoy\'s defaults when nothing is set', async (t) => {
  t.same(localSettings(proxy({})), {
    connectTimeout: '5000ms',
    requestTimeoutMs: 15_000,
    idleTimeoutMs: 300_000,
    serverTimeout: '15000ms',
    clientTimeout: '300000ms',
    tunnelTimeout: '300000ms',
    maxInboundConnections: 0,
    queueTimeout: '15000ms',
  })
  t.equal(localSettings(undefined).serverTimeout, '15000ms', 'no registration yet: still renders')
})

t.test('local settings: each key, in both spellings', async (t) => {
  for (const [snake, camel] of [['local_request_timeout_ms', 'LocalRequestTimeoutMs'], ['local_idle_timeout_ms', 'LocalIdleTimeoutMs']]) {
    t.same(localSettings(proxy({ [snake!]: 2500 })), localSettings(proxy({ [camel!]: 2500 })), `${snake} = ${camel}`)
  }
  t.equal(localSettings(proxy({ local_connect_timeout_ms: 250 })).connectTimeout, '250ms')
  t.equal(localSettings(proxy({ LocalConnectTimeoutMs: '250' })).connectTimeout, '250ms', 'a numeric string, as Consul\'s weak decoding takes')
  t.equal(localSettings(proxy({ local_connect_timeout_ms: 0 })).connectTimeout, '5000ms', 'Consul treats 0 as unset here')
  t.equal(localSettings(proxy({ max_inbound_connections: 50 })).maxInboundConnections, 50)
  t.equal(localSettings(proxy({ MaxInboundConnections: 50 })).maxInboundConnections, 50)
  t.equal(localSettings(proxy({ local_request_timeout_ms: 800, LocalRequestTimeoutMs: 900 })).requestTimeoutMs, 800, 'snake_case wins when both are there')
})

t.test('the app\'s server timeout is the shorter of request and idle; 0 means none', async (t) => {
  t.equal(localSettings(proxy({ local_request_timeout_ms: 2000 })).serverTimeout, '2000ms')
  t.equal(localSettings(proxy({ local_request_timeout_ms: 2000, local_idle_timeout_ms: 500 })).serverTimeout, '500ms', 'idle shorter')
  t.equal(localSettings(proxy({ local_request_timeout_ms: 0 })).serverTimeout, '300000ms', 'no request timeout: the idle one still applies')
  const none = localSettings(proxy({ local_request_timeout_ms: 0, local_idle_timeout_ms: 0 }))
  t.equal(none.serverTimeout, '24d', 'both off: HAProxy\'s longest timer')
  t.equal(none.clientTimeout, '24d')
  t.equal(localSettings(proxy({ local_request_timeout_ms: 99_999_999_999 })).serverTimeout, '300000ms', 'idle still caps it')
  t.equal(localSettings(proxy({ local_request_timeout_ms: 99_999_999_999, local_idle_timeout_ms: 0 })).serverTimeout, '24d', 'beyond HAProxy\'s range: 24d')
})

t.test('bad values are a warning naming the key, and the default applies', async (t) => {
  const defaults = localSettings(proxy({}))
  const cases: Array<[JsonObject, string]> = [
    [{ local_request_timeout_ms: 'abc' }, 'Proxy.Config.local_request_timeout_ms: "abc" is not a number of milliseconds'],
    [{ LocalRequestTimeoutMs: -5 }, 'Proxy.Config.LocalRequestTimeoutMs: -5 is not a number of milliseconds'],
    [{ local_idle_timeout_ms: 1.5 }, 'Proxy.Config.local_idle_timeout_ms: 1.5 is not a number of milliseconds'],
    [{ local_connect_timeout_ms: true }, 'Proxy.Config.local_connect_timeout_ms: true is not a number of milliseconds'],
    [{ max_inbound_connections: '10k' }, 'Proxy.Config.max_inbound_connections: "10k" is not a whole number'],
  ]
  for (const [config, message] of cases) {
    const { value, warnings } = warned(() => localSettings(proxy(config)))
    t.same(warnings, [`${message}; meshplate uses the default instead`], message)
    t.same(value, defaults, 'every setting is the default')
  }
  const mixed = warned(() => localSettings(proxy({ local_request_timeout_ms: 'abc', local_idle_timeout_ms: 500 })))
  t.equal(mixed.value.idleTimeoutMs, 500, 'the good key next to a bad one still applies')
})

t.test('upstream connect timeout: the upstream\'s, else the proxy\'s, else 5 s', async (t) => {
  t.equal(upstreamSettings(upstream({}), {}, 'tcp').connectTimeout, '5000ms')
  t.equal(upstreamSettings(upstream({}), { connect_timeout_ms: 700 }, 'tcp').connectTimeout, '700ms')
  t.equal(upstreamSettings(upstream({ connect_timeout_ms: 300 }), { connect_timeout_ms: 700 }, 'tcp').connectTimeout, '300ms')
  t.equal(upstreamSettings(upstream({ ConnectTimeoutMs: 300 }), {}, 'http').connectTimeout, '300ms')
  const bad = warned(() => upstreamSettings(upstream({ connect_timeout_ms: '5s' }), { connect_timeout_ms: 700 }, 'tcp'))
  t.equal(bad.value.connectTimeout, '700ms', 'a bad upstream value: the proxy\'s applies')
  t.same(bad.warnings, ['Proxy.Upstreams[api].Config.connect_timeout_ms: "5s" is not a number of milliseconds; meshplate uses the default instead'])
})

t.test('limits: per upstream where HAProxy counts per backend, per instance for HTTP max_connections', async (t) => {
  const none = upstreamSettings(upstream({}), {}, 'http')
  t.match(none, { maxConnections: 0, serverMaxconn: 0, maxPendingRequests: 0, maxConcurrentRequests: 0, ejection: undefined }, 'no limits unless set')
  const limits = { max_connections: 2, max_pending_requests: 3, max_concurrent_requests: 4 }
  t.match(upstreamSettings(upstream({ limits }), {}, 'http'), { maxConnections: 0, serverMaxconn: 2, maxPendingRequests: 3, maxConcurrentRequests: 4, queueTimeout: '15000ms' })
  t.match(upstreamSettings(upstream({ limits }), {}, 'tcp'), { maxConnections: 2, serverMaxconn: 0, maxPendingRequests: 0, maxConcurrentRequests: 0 }, 'tcp: connections only (Envoy applies the others to L7)')
  const merged = { Limits: { MaxConnections: 2, MaxPendingRequests: 3, MaxConcurrentRequests: 4 } }
  t.same(upstreamSettings(upstream(merged), {}, 'http'), upstreamSettings(upstream({ limits }), {}, 'http'), 'CamelCase inside `limits`: how Consul 1.14.11 merges service-defaults Limits')
  const zero = warned(() => upstreamSettings(upstream({ limits: { max_connections: 0, max_pending_requests: 3 } }), {}, 'tcp'))
  t.match(zero.value, { maxConnections: 0 }, '0 is read as no limit')
  t.same(zero.warnings, ['Proxy.Upstreams[api].Config.limits.max_connections: 0 would refuse every request, so meshplate reads it as no limit; leave it out for no limit'])
  const many = warned(() => upstreamSettings(upstream({ limits: { MaxPendingRequests: 'many', max_concurrent_requests: 4 } }), {}, 'http'))
  t.match(many.value, { maxPendingRequests: 0, maxConcurrentRequests: 4 }, 'the bad limit is left out, the good one kept')
  t.same(many.warnings, ['Proxy.Upstreams[api].Config.limits.MaxPendingRequests: "many" is not a whole number; meshplate uses the default instead'])
  const list = warned(() => upstreamSettings(upstream({ limits: [2] }), {}, 'http'))
  t.match(list.value, { serverMaxconn: 0, maxPendingRequests: 0, maxConcurrentRequests: 0 })
  t.same(list.warnings, ['Proxy.Upstreams[api].Config.limits: [2] is not an object; meshplate uses the default instead'])
  t.throws(() => upstreamSettings(upstream({}), {}, 'h2'), { message: /mode "h2" is not tcp or http/ })
  t.equal(upstreamSettings(upstream({ limits }), {}, new nunjucks.runtime.SafeString('http')).serverMaxconn, 2, 'the mode as a macro returns it (a SafeString)')
})

t.test('passive health check: Envoy\'s defaults, observe by mode, ejection between base and base + interval', async (t) => {
  t.same(upstreamSettings(upstream({ passive_health_check: {} }), {}, 'http').ejection, {
    observe: 'layer7', errorLimit: 5, inter: '10000ms', rise: 4, intervalMs: 10_000, baseEjectionMs: 30_000,
  }, 'all defaults: 5 failures, checks every 10 s, back after 30-40 s')
  t.equal(upstreamSettings(upstream({ passive_health_check: {} }), {}, 'tcp').ejection?.observe, 'layer4')
  const phc = upstreamSettings(upstream({ passive_health_check: { interval: '1s', max_failures: 3, base_ejection_time: '2500ms' } }), {}, 'http').ejection
  t.match(phc, { errorLimit: 3, inter: '1000ms', rise: 4 }, 'ceil(2.5 s / 1 s) + 1 checks: back after 3-4 s')
  const merged = upstreamSettings(upstream({ PassiveHealthCheck: { Interval: 1_000_000_000, MaxFailures: 3, EnforcingConsecutive5xx: 100 } }), {}, 'http').ejection
  t.match(merged, { errorLimit: 3, inter: '1000ms', intervalMs: 1000 }, 'CamelCase, interval as Go nanoseconds: how Consul 1.14.11 merges a service-defaults PassiveHealthCheck')
  t.equal(upstreamSettings(upstream({ passive_health_check: { interval: '1m30s' } }), {}, 'http').ejection?.intervalMs, 90_000)
  t.equal(upstreamSettings(upstream({ passive_health_check: { interval: 0, max_failures: 0 } }), {}, 'http').ejection?.errorLimit, 5, 'Consul treats 0 as unset')
  t.equal(upstreamSettings(upstream({ passive_health_check: { enforcing_consecutive_5xx: 0 } }), {}, 'http').ejection, undefined, '0% enforced: no ejection')
  t.ok(upstreamSettings(upstream({ passive_health_check: { enforcing_consecutive_5xx: 50 } }), {}, 'http').ejection, 'any other percentage ejects (README)')
  const bad: Array<[JsonObject, string]> = [
    [{ interval: 'often' }, 'Proxy.Upstreams[api].Config.passive_health_check.interval: "often" is not a duration (e.g. "10s", "1m30s")'],
    [{ interval: '10' }, 'Proxy.Upstreams[api].Config.passive_health_check.interval: "10" is not a duration (e.g. "10s", "1m30s")'],
    [{ base_ejection_time: true }, 'Proxy.Upstreams[api].Config.passive_health_check.base_ejection_time: true is not a duration (e.g. "10s", "1m30s")'],
    [{ max_failures: -1 }, 'Proxy.Upstreams[api].Config.passive_health_check.max_failures: -1 is not a whole number'],
    [{ enforcing_consecutive_5xx: 150 }, 'Proxy.Upstreams[api].Config.passive_health_check.enforcing_consecutive_5xx: 150 is not a percentage from 0 to 100'],
    [{ MaxEjectionPercent: 'x' }, 'Proxy.Upstreams[api].Config.passive_health_check.MaxEjectionPercent: "x" is not a percentage from 0 to 100'],
  ]
  const defaults = upstreamSettings(upstream({ passive_health_check: {} }), {}, 'http').ejection
  for (const [p, message] of bad) {
    const { value, warnings } = warned(() => upstreamSettings(upstream({ passive_health_check: p }), {}, 'http'))
    t.same(warnings, [`${message}; meshplate uses the default instead`], message)
    t.same(value.ejection, defaults, 'the passive health check runs with the default for that key')
  }
  const yes = warned(() => upstreamSettings(upstream({ passive_health_check: 'yes' }), {}, 'http'))
  t.equal(yes.value.ejection, undefined, 'not an object: no passive health check')
  t.same(yes.warnings, ['Proxy.Upstreams[api].Config.passive_health_check: "yes" is not an object; meshplate uses the default instead'])
  const fast = warned(() => upstreamSettings(upstream({ passive_health_check: { interval: '500us' } }), {}, 'http'))
  t.match(fast.value.ejection, { inter: '1ms', intervalMs: 1 }, 'below 1 ms: HAProxy\'s shortest')
  t.same(fast.warnings, ['Proxy.Upstreams[api].Config.passive_health_check.interval: 0.5ms is below HAProxy\'s 1ms; checks run every 1ms'])
})
