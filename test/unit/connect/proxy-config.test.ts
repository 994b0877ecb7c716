/**
 * Proxy.Config and an upstream's Config are read in one place, and what a
 * user sets there must reach every file the sidecar renders the same way:
 * the defaults when a key is unset, both spellings, a one-line warning naming
 * the key when a value cannot be used (its default then applies and the rest
 * keeps working), and for `server_slots` an error naming the key that fails
 * haproxy.cfg while intentions.map, which does not need it, still renders.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { JsonObject } from '../../../src/consul/schema.ts'
import { connectExtension } from '../../../src/connect/index.ts'
import { proxyConfig, upstreamConfig, upstreamProtocol } from '../../../src/connect/proxy-config.ts'
import { localSettings, upstreamSettings } from '../../../src/connect/proxy-settings.ts'
import type { ProxyService, Upstream } from '../../../src/dependency/agent-service.ts'
import { SlotTable } from '../../../src/haproxy/slots.ts'
import { shippedTemplateDir, shippedTemplateRoot } from '../../../src/sidecar/preset.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createEnvironment } from '../../../src/template/environment.ts'
import type { RenderScope } from '../../../src/template/functions.ts'
import { Template } from '../../../src/template/template.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

const proxy = (config: JsonObject, address = ''): ProxyService => ({
  ID: 'web-sidecar-proxy', Service: 'web-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Address: address, Tags: [], Meta: {}, Datacenter: 'dc1',
  Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Config: config, Upstreams: [], UnservedUpstreams: [], Mode: '', Expose: { Checks: false, Paths: [] }, AccessLogs: null },
})
const upstream = (config: JsonObject): Upstream => ({
  DestinationType: 'service', DestinationName: 'api', DestinationNamespace: '', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 9191, Config: config,
})
const chain = (protocol: string) => ({ Protocol: protocol })

/** What `f` returns and the warnings it raised. */
const warned = <T>(f: () => T): { value: T; warnings: string[] } => {
  const sink = new Set<string>()
  const value = collectWarnings(sink, f)
  return { value, warnings: [...sink] }
}

t.test('the proxy: every default when nothing is set', async (t) => {
  t.same(proxyConfig(proxy({})), {
    protocol: 'tcp',
    mode: 'tcp',
    bindAddress: '0.0.0.0',
    bindPort: 21000,
    exposeAddress: '0.0.0.0',
    prometheusBindAddr: '',
    local: localSettings(proxy({})),
  })
  t.equal(proxyConfig(proxy({}, '10.0.0.5')).exposeAddress, '10.0.0.5', 'expose listeners: the registration\'s address')
  t.equal(proxyConfig(undefined).protocol, 'tcp', 'no registration yet: still renders')
  t.ok(Object.isFrozen(proxyConfig(proxy({}))))
})

t.test('the proxy: each key, in both spellings', async (t) => {
  for (const [protocol, mode] of [['http', 'http'], ['http2', 'http'], ['grpc', 'http'], ['tcp', 'tcp'], ['', 'tcp']]) {
    t.match(proxyConfig(proxy({ protocol: protocol! })), { protocol: protocol || 'tcp', mode }, `protocol ${JSON.stringify(protocol)}`)
  }
  t.match(proxyConfig(proxy({ Protocol: 'http' })), { protocol: 'http', mode: 'http' }, 'CamelCase')
  t.match(proxyConfig(proxy({ protocol: 'http', Protocol: 'grpc' })), { protocol: 'http' }, 'snake_case wins')
  t.match(proxyConfig(proxy({ bind_address: '127.0.0.1', bind_port: 21005 }, '10.0.0.5')), { bindAddress: '127.0.0.1', bindPort: 21005, exposeAddress: '127.0.0.1' }, 'bind_address is the expose listeners\' address too')
  t.match(proxyConfig(proxy({ BindAddress: '::1', BindPort: '21005' })), { bindAddress: '::1', bindPort: 21005 }, 'a numeric string, as Consul\'s weak decoding takes')
  t.equal(proxyConfig(proxy({ bind_port: 0 })).bindPort, 21000, '0 counts as unset')
  t.equal(proxyConfig(proxy({ envoy_prometheus_bind_addr: '127.0.0.1:9102' })).prometheusBindAddr, '127.0.0.1:9102')
  t.equal(proxyConfig(proxy({ prometheus_bind_addr: '0.0.0.0:9103', envoy_prometheus_bind_addr: '127.0.0.1:9102' })).prometheusBindAddr, '0.0.0.0:9103', 'meshplate\'s own key first')
  t.same(proxyConfig(proxy({ local_request_timeout_ms: 2000 })).local, localSettings(proxy({ local_request_timeout_ms: 2000 })), 'local: the localSettings filter\'s values')
})

t.test('the proxy: a bad value is a warning naming the key, and its default applies', async (t) => {
  const cases: Array<[JsonObject, Partial<ReturnType<typeof proxyConfig>>, string]> = [
    [{ protocol: 1 }, { protocol: 'tcp', mode: 'tcp' }, 'Proxy.Config.protocol: 1 is not a protocol (tcp, http, http2 or grpc)'],
    [{ bind_address: ['127.0.0.1'] }, { bindAddress: '0.0.0.0' }, 'Proxy.Config.bind_address: ["127.0.0.1"] is not an address'],
    [{ bind_address: '127.0.0.1\n    bind :80' }, { bindAddress: '0.0.0.0' }, 'Proxy.Config.bind_address: "127.0.0.1\\n    bind :80" is not an address'],
    [{ bind_port: 'abc' }, { bindPort: 21000 }, 'Proxy.Config.bind_port: "abc" is not a port'],
    [{ bind_port: 70000 }, { bindPort: 21000 }, 'Proxy.Config.bind_port: 70000 is not a port'],
    [{ prometheus_bind_addr: 9102 }, { prometheusBindAddr: '' }, 'Proxy.Config.prometheus_bind_addr: 9102 is not a host:port'],
  ]
  for (const [config, expected, message] of cases) {
    const { value, warnings } = warned(() => proxyConfig(proxy(config)))
    t.match(value, expected, message)
    t.same(warnings, [`${message}; meshplate uses the default instead`])
  }
  const next = warned(() => proxyConfig(proxy({ prometheus_bind_addr: true, envoy_prometheus_bind_addr: '127.0.0.1:9102' })))
  t.equal(next.value.prometheusBindAddr, '127.0.0.1:9102', 'a bad prometheus_bind_addr: Envoy\'s key still applies')
  t.doesNotThrow(() => proxyConfig(proxy({ server_slots: 5000 })), 'server_slots is read per upstream, never here')
})

t.test('an upstream: its protocol is the chain\'s unless tcp, else its own, else the proxy\'s', async (t) => {
  t.match(upstreamConfig(upstream({}), {}, chain('tcp')), { protocolOverride: '', protocol: 'tcp', mode: 'tcp' })
  t.match(upstreamConfig(upstream({}), { protocol: 'http' }, chain('tcp')), { protocol: 'http', mode: 'http' }, 'the proxy\'s')
  t.match(upstreamConfig(upstream({ protocol: 'grpc' }), { protocol: 'http' }, null), { protocolOverride: 'grpc', protocol: 'grpc' }, 'its own (a prepared query has no chain)')
  t.match(upstreamConfig(upstream({ protocol: 'tcp' }), { protocol: 'http' }, chain('tcp')), { protocol: 'tcp', mode: 'tcp' }, 'its own tcp over the proxy\'s http')
  t.match(upstreamConfig(upstream({ protocol: 'http' }), {}, chain('http2')), { protocolOverride: 'http', protocol: 'http2' }, 'the compiled chain has the last word')
  t.equal(upstreamProtocol(upstream({ Protocol: 'http' })), 'http', 'what discoveryChain() compiles with: both spellings')
  const bad = warned(() => upstreamConfig(upstream({ protocol: 7 }), { protocol: 'http' }, null))
  t.match(bad.value, { protocolOverride: '', protocol: 'http' }, 'a bad override is left out')
  t.same(bad.warnings, ['Proxy.Upstreams[api].Config.protocol: 7 is not a protocol (tcp, http, http2 or grpc); meshplate uses the default instead'])
})

t.test('an upstream: server slots are its own, else the proxy\'s, else 8; a bad count fails naming the key', async (t) => {
  t.equal(upstreamConfig(upstream({}), {}, null).serverSlots, 8)
  t.equal(upstreamConfig(upstream({}), { server_slots: 4 }, null).serverSlots, 4)
  t.equal(upstreamConfig(upstream({ server_slots: 2 }), { server_slots: 4 }, null).serverSlots, 2)
  t.equal(upstreamConfig(upstream({ ServerSlots: '16' }), {}, null).serverSlots, 16, 'CamelCase, a numeric string')
  t.equal(upstreamConfig(upstream({ server_slots: 0 }), { server_slots: 4 }, null).serverSlots, 4, '0 counts as unset')
  t.equal(upstreamConfig(upstream({ server_slots: 2 }), { server_slots: 'x' }, null).serverSlots, 2, 'the proxy\'s is not read when the upstream sets its own')
  t.throws(() => upstreamConfig(upstream({ server_slots: 5000 }), {}, null), { name: 'ProxySettingsError', code: 'PROXY_CONFIG_INVALID', message: 'Proxy.Upstreams[api].Config.server_slots: 5000 is not a slot count from 1 to 1024' })
  t.throws(() => upstreamConfig(upstream({}), { server_slots: 2.5 }, null), { code: 'PROXY_CONFIG_INVALID', message: 'Proxy.Config.server_slots: 2.5 is not a whole number' })
})

t.test('an upstream: its settings are upstreamSettings\' for its mode', async (t) => {
  const config = { limits: { max_connections: 2 }, passive_health_check: {}, connect_timeout_ms: 300 }
  t.same(upstreamConfig(upstream(config), {}, chain('http')).settings, upstreamSettings(upstream(config), {}, 'http'))
  t.same(upstreamConfig(upstream(config), {}, chain('tcp')).settings, upstreamSettings(upstream(config), {}, 'tcp'))
  t.equal(upstreamConfig(upstream({}), { connect_timeout_ms: 700 }, null).settings.connectTimeout, '700ms', 'the proxy\'s connect_timeout_ms')
})

/** The shipped haproxy.cfg and intentions.map (or a file of `overrideDir`) rendered from the `limits` golden snapshot with the proxy's Config changed. */
function renderShipped(change: (config: JsonObject) => void, overrideDir?: string) {
  const snapshot = JSON.parse(readFileSync(join(import.meta.dirname, '../../golden/limits/snapshot.json'), 'utf8')) as { data: Record<string, unknown> }
  const registration = snapshot.data['agent.service(web-sidecar-proxy)'] as ProxyService
  change(registration.Proxy.Config)
  const brain = new Brain()
  for (const [id, value] of Object.entries(snapshot.data)) brain.set(id, value)
  const scope: RenderScope = { tracker: undefined, proxyId: 'web-sidecar-proxy', env: {} }
  const env = createEnvironment(scope, [...(overrideDir ? [overrideDir] : []), shippedTemplateRoot], { dir: '/sidecar' }, [connectExtension({ slots: new SlotTable() })])
  return (file: string) => new Template(join(overrideDir ?? shippedTemplateDir, file), env, scope).render(brain)
}

t.test('the shipped templates read the parsed config', async (t) => {
  const render = renderShipped((c) => {
    delete c.protocol
    c.Protocol = 'http'
    c.BindAddress = '127.0.0.1'
    c.bind_port = 'abc'
  })
  const cfg = render('haproxy.cfg.njk')
  t.match(cfg.output, /\n {4}bind 127\.0\.0\.1:21000 ssl crt \/sidecar\/leaf\.pem .* alpn http\/1\.1\n/, 'CamelCase read; a bad bind_port leaves the registration\'s Port')
  t.match(cfg.output, /frontend public_listener\n {4}mode http\n/, 'Protocol (CamelCase) makes the public listener HTTP')
  t.ok([...cfg.warnings].includes('Proxy.Config.bind_port: "abc" is not a port; meshplate uses the default instead'), 'warned, naming the key')
  t.match(render('intentions.map.njk').output, /@target web\n/, 'intentions.map renders from the same parse')
})

t.test('a bad server_slots fails haproxy.cfg naming the key; intentions.map still renders', async (t) => {
  const render = renderShipped((c) => {
    c.server_slots = 5000
  })
  t.throws(() => render('haproxy.cfg.njk'), { name: 'TemplateError', code: 'PROXY_CONFIG_INVALID', message: /haproxy\.cfg\.njk:\d+: Proxy\.Config\.server_slots: 5000 is not a slot count from 1 to 1024$/ })
  t.ok(render('intentions.map.njk').output, 'the intentions keep being served')
})

t.test('a per-service override\'s blocks see the parsed config and the raw map', async (t) => {
  const dir = t.testdir({ 'haproxy.cfg.njk': '{% extends "haproxy/haproxy.cfg.njk" %}\n{% block extra %}# {{ pc.bindPort }} {{ pc.mode }} {{ protocol }} {{ cfg.team }} {{ local.connectTimeout }}\n{% endblock %}\n' })
  const render = renderShipped((c) => {
    c.team = 'payments'
  }, dir)
  t.match(render('haproxy.cfg.njk').output, /\n# 21000 http http payments 1500ms\n$/)
})
