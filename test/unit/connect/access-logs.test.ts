/**
 * Access logs must carry Envoy's field names and Consul's semantics
 * (enabled or not, JSON or text, where they go), and every line HAProxy
 * writes from them must stay valid JSON whatever a client sends. These pin
 * the translation of each operator per listener kind, the rules that capture
 * request headers before HAProxy drops them, meshplate's authorization
 * fields on the public listener, the config quoting, and a warning naming
 * the field for what cannot be logged (the lines then use Envoy's default
 * format, and the sidecar keeps serving). The lines themselves are checked in real HAProxy by
 * test/e2e/settings.test.ts.
 */
import t from 'tap'
import type { AccessLogs, ProxyService } from '../../../src/dependency/agent-service.ts'
import { accessLogs, ENVOY_DEFAULT_JSON_FORMAT } from '../../../src/connect/access-logs.ts'
import { jsonFormat, textFormat } from '../../../src/connect/envoy-log-format.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

const proxy = (a: Partial<AccessLogs> | null): ProxyService => ({
  ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Address: '', Tags: [], Meta: {}, Datacenter: 'dc1',
  Proxy: {
    DestinationServiceName: 'api', DestinationServiceID: 'api', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Config: {}, Upstreams: [], Expose: { Checks: false, Paths: [] },
    AccessLogs: a && { Enabled: false, DisableListenerLogs: false, Type: '', Path: '', JSONFormat: '', TextFormat: '', ...a },
  },
})

/** What `f` returns and the warnings it raised. */
const warned = <T>(f: () => T): { value: T; warnings: string[] } => {
  const sink = new Set<string>()
  const value = collectWarnings(sink, f)
  return { value, warnings: [...sink] }
}

/** The config word back as HAProxy reads it: quotes off, escapes undone. */
const unquote = (word: string) => word.slice(1, -1).replace(/\\(.)/g, '$1')

t.test('off unless Enabled', async (t) => {
  t.equal(accessLogs(proxy(null)).enabled, false, 'Consul 1.14: no AccessLogs at all')
  t.equal(accessLogs(proxy({})).enabled, false, 'present but not enabled')
  t.equal(accessLogs(undefined).enabled, false)
})

t.test('targets: stdout by default, stderr, and a file HAProxy cannot write', async (t) => {
  t.match(accessLogs(proxy({ Enabled: true })), { target: 'stdout', note: '' })
  t.match(accessLogs(proxy({ Enabled: true, Type: 'stdout' })), { target: 'stdout', note: '' })
  t.match(accessLogs(proxy({ Enabled: true, Type: 'stderr' })), { target: 'stderr', note: '' })
  t.match(accessLogs(proxy({ Enabled: true, Type: 'file', Path: '/var/log/envoy.log' })), { target: 'stderr', note: /file \("\/var\/log\/envoy\.log"\): HAProxy cannot write a log file/ })
  const injected = accessLogs(proxy({ Enabled: true, Type: 'file', Path: '/x\n    http-request return status 200' }))
  t.notMatch(injected.note, /\n/, 'the path is printed in a config comment: a line break in it stays escaped, never a new config line')
  const syslog = warned(() => accessLogs(proxy({ Enabled: true, Type: 'syslog' })))
  t.match(syslog.value, { enabled: true, target: 'stdout', note: /"syslog" is not one HAProxy can write to/ }, 'an unknown Type still logs, to stdout')
  t.same(syslog.warnings, ['Proxy.AccessLogs.Type: "syslog" is not stdout, stderr or file; access logs go to stdout'])
})

t.test('Envoy\'s default JSON format, field for field, on an HTTP listener', async (t) => {
  const l = accessLogs(proxy({ Enabled: true })).listeners['upstream-http']
  const format = unquote(l.format)
  const keys = [...format.matchAll(/"([a-z_]+)":/g)].map((m) => m[1])
  t.same(keys, Object.keys(JSON.parse(ENVOY_DEFAULT_JSON_FORMAT)), 'every default key, in Envoy\'s order')
  t.match(format, '"start_time":"%[var(txn.mp_al_t),div(1000),utime(%Y-%m-%dT%H:%M:%S)].%[var(txn.mp_al_t),mod(1000),add(1000),regsub(^1,)]Z"')
  t.match(format, '"method":"%HM"')
  t.match(format, '"response_code":%ST,', 'numbers unquoted, as Envoy types them')
  t.match(format, '"bytes_received":%U,"bytes_sent":%B,"duration":%Ta,"upstream_service_time":%Tr,')
  t.match(format, '"route_name":null,', 'what HAProxy has no value for is null')
  t.match(format, '"response_code_details":null,')
  t.match(format, '"user_agent":"%[var(txn.mp_al2),json(utf8s)]"', 'request headers captured into variables, JSON-escaped when written')
  t.match(format, '"upstream_host":"%si:%sp","upstream_cluster":"%b","upstream_local_address":"%bi:%bp","downstream_local_address":"%fi:%fp","downstream_remote_address":"%ci:%cp"')
  t.match(format, '"requested_server_name":"%[ssl_fc_sni,json(utf8s)]"')
  t.match(format, '"upstream_transport_failure_reason":"%[bc_err_str,regsub(^Success$,-),json(utf8s)]"')
  t.same(l.connectionRules, ['tcp-request connection set-var(sess.mp_al_t) date(0,ms)'], 'the connection\'s start time, for lines about failed connections')
  t.same(l.httpRules, [
    'http-request set-var(txn.mp_al_t) date(0,ms)',
    'http-request set-var(txn.mp_al0) pathq',
    'http-request set-var(txn.mp_al1) req.fhdr(x-forwarded-for)',
    'http-request set-var(txn.mp_al2) req.fhdr(user-agent)',
    'http-request set-var(txn.mp_al3) req.fhdr(x-request-id)',
    'http-request set-var(txn.mp_al4) req.hdr(host)',
  ], 'one variable per request header, set before any rule can answer; nothing sets x-envoy-original-path without Envoy')
  const alt = jsonFormat('{"p":"%REQ(X-ORIGINAL?:PATH)%"}', 'http', 'JSONFormat')
  t.same(alt.rules, ['http-request set-var(txn.mp_al0) pathq', 'http-request set-var(txn.mp_al0) req.fhdr(x-original) if { req.fhdr(x-original) -m found }'], 'HEADER?ALTERNATIVE: the alternative, overwritten by the header when present')
})

t.test('the same format on a tcp listener and for a failed connection', async (t) => {
  const tcp = unquote(accessLogs(proxy({ Enabled: true })).listeners['upstream-tcp'].format)
  t.match(tcp, '"start_time":"%[var(sess.mp_al_t),div(1000)')
  t.match(tcp, '"method":null,', 'no HTTP fields on tcp')
  t.match(tcp, '"response_code":0,', 'Envoy logs 0 for tcp')
  t.match(tcp, '"duration":%Tt,')
  t.same(accessLogs(proxy({ Enabled: true })).listeners['upstream-tcp'].httpRules, [], 'no http-request rules in a tcp frontend')
  const error = unquote(accessLogs(proxy({ Enabled: true })).errorFormat)
  t.match(error, '"downstream_remote_address":"%ci:%cp"')
  t.match(error, '"connection_termination_details":"%[fc_err_str,regsub(^Success$,-),json(utf8s)]"', 'why the connection failed (e.g. SSL handshake failure)')
  t.match(error, '"upstream_host":null,')
})

t.test('the public listener keeps meshplate\'s authorization fields', async (t) => {
  const logs = accessLogs(proxy({ Enabled: true }))
  t.match(unquote(logs.listeners['public-http'].format), /,"src":"%\[var\(sess\.mesh_source\),json\(utf8s\)\]","decision":"%\[var\(txn\.mesh_decision\),json\(utf8s\)\]","rule":"%\[var\(txn\.mesh_rule\),json\(utf8s\)\]","reason":"%\[var\(txn\.mesh_reason\),json\(utf8s\)\]"}$/)
  t.match(unquote(logs.listeners['public-tcp'].format), /"decision":"%\[var\(sess\.mesh_decision\),json\(utf8s\)\]"/, 'tcp decisions live in the session')
  t.notMatch(unquote(logs.listeners['upstream-http'].format), /mesh_/, 'upstream listeners have no decision')
  const text = accessLogs(proxy({ Enabled: true, TextFormat: '%DOWNSTREAM_REMOTE_ADDRESS% %RESPONSE_CODE%\n' }))
  t.equal(unquote(text.listeners['public-http'].format), '%ci:%cp %ST src=%[var(sess.mesh_source)] decision=%[var(txn.mesh_decision)] rule=%[var(txn.mesh_rule)] reason=%[var(txn.mesh_reason)]')
  const own = accessLogs(proxy({ Enabled: true, JSONFormat: '{"src":"%DOWNSTREAM_REMOTE_ADDRESS%"}' }))
  t.equal((unquote(own.listeners['public-http'].format).match(/"src":/g) ?? []).length, 1, 'a user\'s own "src" key is not repeated')
})

t.test('user formats: JSONFormat wins, nested objects, literals, text escaping', async (t) => {
  const both = accessLogs(proxy({ Enabled: true, JSONFormat: '{"code":"%RESPONSE_CODE%"}', TextFormat: 'ignored %RESPONSE_CODE%' }))
  t.equal(unquote(both.listeners['upstream-http'].format), '{"code":%ST}', 'JSONFormat over TextFormat, as Consul decides')
  const nested = jsonFormat('{"req":{"m":"%REQ(:METHOD)%","ua":"agent=%REQ(USER-AGENT)% 100%%"},"v":2,"ok":true,"x":null}', 'http', 'JSONFormat')
  t.equal(nested.format, '{"req":{"m":"%HM","ua":"agent=%[var(txn.mp_al0),json(utf8s)] 100%%"},"v":2,"ok":true,"x":null}', 'mixed text stays a string; % doubled')
  const text = textFormat('[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_SENT% %DURATION%\n', 'http', 'TextFormat')
  t.equal(text.format, '[%[var(txn.mp_al_t),div(1000),utime(%Y-%m-%dT%H:%M:%S)].%[var(txn.mp_al_t),mod(1000),add(1000),regsub(^1,)]Z] "%HM %[var(txn.mp_al0)] %HV" %ST %ts %B %Ta', 'Envoy\'s text format, trailing newline dropped')
  t.equal(textFormat('%REQ(:METHOD)% %RESPONSE_CODE%', 'tcp', 'TextFormat').format, '- 0', 'missing values are - in text')
  t.equal(accessLogs(proxy({ Enabled: true, TextFormat: 'a "quoted" $HOME \\ %RESPONSE_CODE%' })).listeners['upstream-http'].format, '"a \\"quoted\\" \\$HOME \\\\ %ST"', 'quotes, $ and backslashes escaped for the config line')
})

t.test('what cannot be logged is a warning naming it, and the lines use Envoy\'s default format', async (t) => {
  const cases: Array<[Partial<AccessLogs>, RegExp]> = [
    [{ TextFormat: '%DYNAMIC_METADATA(x)%' }, /^Proxy\.AccessLogs\.TextFormat: %DYNAMIC_METADATA% is not an operator meshplate can log \(supported: START_TIME, REQ, RESP, /],
    [{ TextFormat: '100% done' }, /^Proxy\.AccessLogs\.TextFormat: "100% done" has a % that starts no operator \(write %% for a percent sign\); /],
    [{ TextFormat: '%START_TIME(%s)%' }, /^Proxy\.AccessLogs\.TextFormat: %START_TIME\(%s\)%: a custom time format is not supported/],
    [{ TextFormat: '%REQ(X#Y)%' }, /^Proxy\.AccessLogs\.TextFormat: %REQ\(X#Y\)%: "X#Y" is not a header name meshplate can log; /],
    [{ JSONFormat: '{"a":' }, /^Proxy\.AccessLogs\.JSONFormat: not JSON/],
    [{ JSONFormat: '["%RESPONSE_CODE%"]' }, /^Proxy\.AccessLogs\.JSONFormat: not a JSON object; /],
    [{ JSONFormat: '{"a":["%RESPONSE_CODE%"]}' }, /^Proxy\.AccessLogs\.JSONFormat\.a: \["%RESPONSE_CODE%"\] is not a string, number, boolean or object; /],
  ]
  const envoyDefault = accessLogs(proxy({ Enabled: true })).listeners
  for (const [a, message] of cases) {
    const { value, warnings } = warned(() => accessLogs(proxy({ Enabled: true, ...a })))
    t.equal(warnings.length, 1, `one warning for ${JSON.stringify(a)}`)
    t.match(warnings[0], message, String(message))
    t.match(warnings[0], /; access logs use Envoy's default format instead$/)
    t.same(value.listeners, envoyDefault, 'every listener logs in Envoy\'s default format')
  }
})
