/**
 * The discovery chain plan on chains a real Consul 1.14 compiled
 * (test/fixtures/chains, recorded by scripts/record-chains.mjs with the
 * config entries kept beside each answer): route order and conditions,
 * rewrites, timeouts, retries as backends, split weights, failover order,
 * target backend names and identities, load-balancing policies, and what a
 * user gets for what HAProxy cannot do exactly: the closest plan and a
 * warning naming the entry, route and field, never a failed render. Chains
 * a 1.14 agent cannot compile (negative timeouts, CaseInsensitive, peer
 * targets) are synthetic fixtures, each naming the release and source file
 * it follows (test/fixtures/chains/README.md).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseChainBody, type CompiledChain } from '../../../../src/dependency/discovery-chain.ts'
import type { JsonObject } from '../../../../src/consul/schema.ts'
import { chainPlan, upstreamPlan } from '../../../../src/connect/chain/plan.ts'
import type { Instance } from '../../../../src/connect/endpoints.ts'
import { collectWarnings } from '../../../../src/template/warnings.ts'

const fixture = (name: string): CompiledChain => parseChainBody(JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/chains', `${name}.json`), 'utf8')))
type Raw = Omit<Instance, 'Weight'>
const instance = (id: string, status: Raw['Status'] = 'passing'): Raw => ({
  Address: '127.0.0.1', Port: 21000, Node: 'n1', ID: id, Weights: { Passing: 1, Warning: 1 }, Status: status, ServiceName: id.split('-')[0]!, ServiceURI: '',
})
/** What `f` returns and the warnings it raised. */
const warned = <T>(f: () => T): { value: T; warnings: string[] } => {
  const sink = new Set<string>()
  const value = collectWarnings(sink, f)
  return { value, warnings: [...sink] }
}
const plan = (chain: CompiledChain, instances: Record<string, Raw[]> = {}, mode: 'tcp' | 'http' = 'http') =>
  chainPlan({ chain, name: `service_${chain.ServiceName}`, mode, instances, connectTimeout: '5000ms' })

t.test('a chain with no config entries is the upstream as before: one backend, upstream_<name>', async (t) => {
  const chain = fixture('default')
  t.equal(chain.Default, true)
  const target = Object.keys(chain.Targets)[0]!
  const p = plan(chain, { [target]: [instance('api-1'), instance('api-2', 'critical')] }, 'tcp')
  t.same(p.routes, [])
  t.equal(p.picks.length, 1)
  t.same(p.picks[0]!.backends, ['upstream_service_api'])
  t.equal(p.defaultBackend, 'upstream_service_api')
  t.match(p.backends, [{ name: 'upstream_service_api', service: 'api', balance: 'leastconn', consistentHash: false, connectTimeout: '5000ms', retries: 3, retryOn: 'conn-failure empty-response' }])
  t.same(p.backends[0]!.instances.map((i) => i.ID), ['api-1'], 'the critical instance gets no traffic')
})

t.test('router: routes in order, their conditions, rewrite, timeout, headers and retries', async (t) => {
  const chain = fixture('router')
  const p = plan(chain)
  t.equal(p.routes.length, 4, 'three routes and the catch-all Consul appends')
  t.equal(p.routes[0]!.when, '{ path -m beg "/v2/" }')
  t.same(p.routes[0]!.rewrite, { pattern: '"^/v2/(.*)\\$"', replacement: '"/\\\\1"' })
  t.equal(p.routes[1]!.when, '{ req.fhdr(x-canary) -m str "1" } { method GET HEAD }')
  t.same(p.routes[1]!.headers.request, ['set-header x-route "canary"'])
  t.equal(p.routes[2]!.when, '{ path -m reg "^(?:/items/[0-9]+)\\\\z" } { urlp(debug) -m found }')
  t.equal(p.routes[2]!.timeout, '1500ms')
  t.equal(p.routes[3]!.when, '', 'the catch-all matches every request')
  t.same(p.picks.map((k) => [k.route, k.backends]), [
    [0, ['upstream_service_api.apinext.dc1']],
    [1, ['upstream_service_api.v2.api.dc1']],
    [2, ['upstream_service_api.retry1']],
    [3, ['upstream_service_api']],
  ])
  const byName = Object.fromEntries(p.backends.map((b) => [b.name, b]))
  t.equal(byName['upstream_service_api']!.target, 'v1.api.default.default.dc1', 'the default route reaches the DefaultSubset, which keeps the plain name')
  t.equal(byName['upstream_service_api.apinext.dc1']!.service, 'apinext', 'a route to another service expects its identity')
  t.match(byName['upstream_service_api.retry1'], { retries: 2, retryOn: 'conn-failure empty-response 503 504', service: 'api' })
  t.equal(byName['upstream_service_api']!.connectTimeout, '3000ms', "the api resolver's ConnectTimeout")
  t.equal(byName['upstream_service_api.apinext.dc1']!.connectTimeout, '5000ms', "a resolver nobody wrote keeps the upstream's")
  t.equal(p.usesSplit, false)
})

t.test('splitter: cumulative weights out of 10000, the last split takes the rest', async (t) => {
  const p = plan(fixture('splitter'))
  t.equal(p.usesSplit, true)
  t.same(p.picks.map((k) => [k.below, k.backends]), [
    [9050, ['upstream_service_api']],
    [undefined, ['upstream_service_api.v2.api.dc1']],
  ])
  t.same(p.picks[1]!.headers.response, ['add-header x-split "v2"'])
})

t.test('subset OnlyPassing drops warning instances', async (t) => {
  const chain = fixture('splitter')
  const v2 = Object.values(chain.Targets).find((x) => x.ServiceSubset === 'v2')!
  t.equal(v2.Filter, 'Service.Meta.version == v2')
  const p = plan(chain, { [v2.ID]: [instance('api-a', 'warning'), instance('api-b')] })
  t.same(p.backends.find((b) => b.target === v2.ID)!.instances.map((i) => i.ID), ['api-b'])
})

t.test('failover: primary then the failover target; members hold only healthy instances; panic only when all are empty', async (t) => {
  const chain = fixture('failover')
  const resolver = chain.Nodes[chain.StartNode]!
  if (resolver.Type !== 'resolver') throw new Error('the failover chain starts at its resolver')
  const [primary, backup] = [resolver.Resolver.Target, resolver.Resolver.FailoverTargets[0]]
  const healthy = plan(chain, { [primary!]: [instance('apinext-1', 'critical'), instance('apinext-2')], [backup!]: [instance('apibackup-1')] })
  t.same(healthy.picks[0]!.backends, ['upstream_service_apinext', 'upstream_service_apinext.apibackup.dc1'])
  t.same(healthy.backends.map((b) => [b.name, b.service, b.instances.map((i) => i.ID)]), [
    ['upstream_service_apinext', 'apinext', ['apinext-2']],
    ['upstream_service_apinext.apibackup.dc1', 'apibackup', ['apibackup-1']],
  ])
  t.match(healthy.backends[0], { balance: 'hdr(x-user)', consistentHash: true, connectTimeout: '2000ms' })
  const down = plan(chain, { [primary!]: [instance('apinext-1', 'critical')], [backup!]: [instance('apibackup-1')] })
  t.same(down.backends[0]!.instances, [], 'a critical primary is empty, so nbsrv sends requests to the failover target')
  const none = plan(chain, { [primary!]: [instance('apinext-1', 'critical')], [backup!]: [instance('apibackup-1', 'critical')] })
  t.same(none.backends.map((b) => b.instances.map((i) => i.ID)), [['apinext-1'], []], 'with nothing healthy anywhere, the primary gets all of its own')
})

t.test('redirect: the target is the other service, and so is the identity', async (t) => {
  const p = plan(fixture('redirect'))
  t.match(p.backends, [{ name: 'upstream_service_apiold', service: 'api' }])
})

/** A copy of `chain` with route `i`'s Definition changed by `edit`. */
const withRoute = (chain: CompiledChain, i: number, edit: (r: { Match: JsonObject; Destination: JsonObject }) => void): CompiledChain => {
  const copy = structuredClone(chain)
  const r = Object.values(copy.Nodes).find((n) => n.Type === 'router')!
  if (r.Type !== 'router') throw new Error('no router')
  edit(r.Routes[i]!)
  return copy
}

t.test('retries: codes and conditions HAProxy has no word for are left out with a warning; the route is served (recorded 1.14)', async (t) => {
  const { value: p, warnings } = warned(() => plan(fixture('retry')))
  t.same(p.routes.map((r) => r.index), [0, 1, 2], 'every route is served')
  t.match(p.backends.find((b) => b.name === p.picks[0]!.backends[0])!, { retries: 2, retryOn: 'conn-failure empty-response 500' }, '[500, 512]: retries twice on 500')
  t.match(p.backends.find((b) => b.name === p.picks[1]!.backends[0])!, { retries: 1, retryOn: 'conn-failure empty-response 500 501 502 503 504' }, '5xx kept, Envoy\'s one retry')
  t.same(warnings, [
    'discovery chain api: service-router api route 0: Destination.RetryOnStatusCodes: HAProxy cannot retry on 512 (only on 401, 403, 404, 408, 425, 500, 501, 502, 503, 504); it retries on 500',
    'discovery chain api: service-router api route 1: Destination.RetryOn "retriable-4xx" has no HAProxy equivalent and is left out (HAProxy knows connect-failure, refused-stream, reset, 5xx, gateway-error, retriable-status-codes)',
    'discovery chain api: service-router api route 1: Destination.RetryOn "cancelled" has no HAProxy equivalent and is left out (HAProxy knows connect-failure, refused-stream, reset, 5xx, gateway-error, retriable-status-codes)',
  ])
  const none = warned(() => plan(withRoute(fixture('retry'), 0, (r) => (r.Destination.RetryOnStatusCodes = [429]))))
  t.match(none.value.backends.find((b) => b.name === none.value.picks[0]!.backends[0])!, { retries: 2, retryOn: 'conn-failure empty-response' })
  t.match(none.warnings[0], /HAProxy cannot retry on 429 .*; it retries on none of them$/)
  t.same(warned(() => plan(fixture('router'))).warnings, [], 'a chain HAProxy honours exactly raises no warning')
})

t.test('a route whose match cannot be written is left out with a warning; the others are served', async (t) => {
  const cases: Array<[(r: { Match: JsonObject; Destination: JsonObject }) => void, RegExp]> = [
    [(r) => (r.Match = { HTTP: { PathRegex: '/(?=x)' } }), /^discovery chain api: service-router api route 2: regex .*; the route is left out, so the requests it would match take the next route that matches$/],
    [(r) => (r.Match = { HTTP: { Header: [{ Name: 'bad name', Present: true }] } }), /route 2: Header\[0\]\.Name "bad name" is not a header name; the route is left out/],
    [(r) => (r.Match = { HTTP: { PathPrefix: '/a\nb' } }), /route 2: "\/a\\nb" holds a line break or NUL.*; the route is left out/],
    [(r) => (r.Match = { HTTP: { Methods: 'GET' } }), /route 2: Methods is not a list; the route is left out/],
    [(r) => (r.Match = { HTTP: { PathPrefix: '/p', CaseInsensitive: 'yes' } }), /route 2: Match\.HTTP\.CaseInsensitive "yes" is not true or false; the route is left out/],
  ]
  for (const [edit, message] of cases) {
    const { value: p, warnings } = warned(() => plan(withRoute(fixture('router'), 2, edit)))
    t.same(p.routes.map((r) => r.index), [0, 1, 3], `route 2 left out (${message})`)
    t.same(p.picks.map((k) => k.route), [0, 1, 3])
    t.notOk(p.backends.some((b) => b.name.endsWith('.retry1')), 'its retry backend is not printed')
    t.match(warnings, [message])
  }
})

t.test('a key a newer Consul adds to a match is left out of it with a warning', async (t) => {
  const { value: p, warnings } = warned(() => plan(withRoute(fixture('router'), 1, (r) => {
    r.Match = { HTTP: { PathSuffix: '.json', Header: [{ Name: 'x-canary', Exact: '1', IgnoreCase: true }] } }
  })))
  t.equal(p.routes[1]!.when, '{ req.fhdr(x-canary) -m str "1" }')
  t.same(warnings, [
    'discovery chain api: service-router api route 1: Match.HTTP.PathSuffix is not a match meshplate knows: the route matches without it',
    'discovery chain api: service-router api route 1: Match.HTTP.Header[0].IgnoreCase is not a match meshplate knows: the route matches without it',
  ])
})

t.test('header changes HAProxy cannot write are left out one by one, with a warning', async (t) => {
  const { value: p, warnings } = warned(() => plan(withRoute(fixture('router'), 1, (r) => {
    r.Destination = { ...r.Destination, RequestHeaders: { Set: { 'x-ok': 'a%b', 'bad name': 'v', 'x-nl': 'a\nb' }, Remove: ['x-gone'] }, ResponseHeaders: 'no' }
  })))
  t.same(p.routes[1]!.headers, { request: ['set-header x-ok "a%%b"', 'del-header x-gone'], response: [] })
  t.match(warnings, [
    /route 1: RequestHeaders\.Set: "bad name" is not a header name; that header is left out$/,
    /route 1: RequestHeaders\.Set: header x-nl: "a\\nb" holds a line break or NUL, .*; that header is left out$/,
    /route 1: ResponseHeaders "no" is not an object and is left out$/,
  ])
})

t.test('load balancing HAProxy cannot do falls back with a warning naming the resolver', async (t) => {
  const lb = (policy: JsonObject, mode: 'tcp' | 'http' = 'http') => {
    const chain = fixture('failover')
    const res = Object.values(chain.Nodes).find((n) => n.Type === 'resolver')!
    if (res.Type === 'resolver') res.LoadBalancer = policy
    return warned(() => plan(chain, {}, mode))
  }
  const tcp = lb({ Policy: 'ring_hash', HashPolicies: [{ Field: 'header', FieldValue: 'x-user' }] }, 'tcp')
  t.match(tcp.value.backends[0], { balance: 'random', consistentHash: false })
  t.same(tcp.warnings, ['discovery chain apinext: service-resolver apinext.default.default.dc1 LoadBalancer: HashPolicies[0]: a tcp upstream can only hash on SourceIP; the upstream balances at random'])
  const odd = lb({ Policy: 'least_loaded' })
  t.match(odd.value.backends[0], { balance: 'roundrobin' })
  t.match(odd.warnings, [/LoadBalancer: Policy "least_loaded" is not one meshplate knows; the upstream balances roundrobin$/])
  const field = lb({ Policy: 'maglev', HashPolicies: [{ Field: 'header', FieldValue: 'x y' }, { SourceIP: true }] })
  t.match(field.value.backends[0], { balance: 'random' })
  t.match(field.warnings, [/HashPolicies: only the first of 2 is used/, /HashPolicies\[0\]: FieldValue "x y" is not a header, cookie or parameter name; the upstream balances at random$/])
  const cookie = lb({ Policy: 'ring_hash', HashPolicies: [{ Field: 'cookie', FieldValue: 'sid', CookieConfig: { TTL: '10s' } }] })
  t.match(cookie.value.backends[0], { balance: 'hash req.cook(sid)', consistentHash: true })
  t.match(cookie.warnings, [/CookieConfig: meshplate hashes on cookie sid when the client sends it, but never sets it as Envoy would$/])
})

t.test('structural garbage costs one upstream at most, never the other upstreams', async (t) => {
  const chain = fixture('router')
  const broken = withRoute(chain, 3, (r) => (r.Match = { HTTP: { PathRegex: '(' } }))
  t.throws(() => plan(broken), /route 3: regex/, 'the catch-all cannot be left out')
  const u = { DestinationType: 'service', DestinationName: 'api', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 1, Config: {}, Instances: [] }
  const { value: p, warnings } = warned(() => upstreamPlan(u as never, { ...broken, TargetInstances: { 'v1.api.default.default.dc1': [instance('api-1')] } }, 'service_api', 'http', '5000ms'))
  t.match(p, { routes: [], defaultBackend: 'upstream_service_api', backends: [{ name: 'upstream_service_api', instances: [] }] }, 'one backend with no servers: its requests answer 503')
  t.match(warnings, [/^upstream api: discovery chain api: service-router api route 3: regex .*; the upstream gets no servers \(requests fail with 503\) until this is fixed$/])
  const tcp = warned(() => plan(chain, {}, 'tcp'))
  t.same(tcp.value.picks.map((k) => k.backends), [['upstream_service_api']], 'a router on a tcp listener: every connection to the default target')
  t.same(tcp.warnings, ['discovery chain api: protocol tcp, but the chain starts at a router (routes and splits need an HTTP protocol); every connection goes to its default target'])
})

t.test('a prepared query has no chain: one backend whose identity is the service its answers name', async (t) => {
  const u = { DestinationType: 'prepared_query', DestinationName: 'q', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 1, Config: {}, Instances: [{ ...instance('api-1'), ServiceName: 'api', Weight: 1 }] }
  const p = upstreamPlan(u as never, null, 'prepared_query_q', 'tcp', '5000ms')
  t.match(p.backends, [{ name: 'upstream_prepared_query_q', service: 'api', balance: 'leastconn' }])
  t.throws(() => upstreamPlan(u as never, null, 'x', 'udp', '1s'), /mode "udp" is not tcp or http/)
})

t.test('a chain body that names a missing node or target is refused at the boundary', async (t) => {
  const body = JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/chains/failover.json'), 'utf8'))
  const res = Object.values(body.Chain.Nodes as Record<string, { Resolver?: { Failover?: { Targets: string[] } } }>).find((n) => n.Resolver?.Failover)!
  res.Resolver!.Failover!.Targets = ['nope.default.default.dc1']
  t.throws(() => parseChainBody(body), /Failover.Targets\[0\] names target "nope.default.default.dc1", which Chain.Targets lacks/)
  t.throws(() => parseChainBody({ Chain: { ...body.Chain, StartNode: 'resolver:x' } }), /Chain.StartNode names node "resolver:x"/)
})

t.test('emulated Consul 1.18: negative route timeouts mean none; IdleTimeout is HAProxy\'s inactivity timeout', async (t) => {
  const { value: p, warnings } = warned(() => plan(fixture('router-timeouts-1.18')))
  t.same(p.routes.map((r) => [r.when, r.timeout]), [
    ['{ path -m beg "/stream" }', ''],
    ['{ path -m beg "/idle" }', '24d'],
    ['{ path -m beg "/both" }', '5000ms'],
    ['{ path -m beg "/quiet" }', '2000ms'],
    ['', ''],
  ], 'RequestTimeout -1s: no override (HAProxy has no whole-request timer); IdleTimeout -1s: the longest; otherwise the shorter one set')
  t.same(p.backends.map((b) => [b.name, b.timeouts, b.serverTimeout]), [
    ['upstream_service_api', [{ route: 1, timeout: '24d' }, { route: 2, timeout: '5000ms' }, { route: 3, timeout: '2000ms' }], ''],
  ])
  t.same(warnings, [], 'nothing approximated: no warning')
  const garbage = warned(() => plan(withRoute(fixture('router-timeouts-1.18'), 2, (r) => (r.Destination = { RequestTimeout: 'soon', IdleTimeout: '-1s' }))))
  t.equal(garbage.value.routes[2]!.timeout, '24d', 'a timeout that is not a duration is left out, the other kept')
  t.same(garbage.warnings, ['discovery chain api: service-router api route 2: Destination.RequestTimeout: "soon" is not a duration; no timeout is set from it'])
})

t.test('emulated Consul 1.18: a start resolver\'s RequestTimeout (negative: none) is its backends\' timeout server', async (t) => {
  const chain = fixture('resolver-timeout-1.18')
  const start = chain.Nodes[chain.StartNode]!
  if (start.Type !== 'resolver') throw new Error('the fixture starts at its resolver')
  t.equal(start.Resolver.RequestTimeoutMs, -1000, 'integer nanoseconds, negative')
  t.match(plan(chain).backends, [{ name: 'upstream_service_api', serverTimeout: '', connectTimeout: '3000ms' }], '-1s: no timeout server override')
  start.Resolver.RequestTimeoutMs = 2500
  t.match(plan(chain).backends, [{ serverTimeout: '2500ms' }], 'a positive one (Consul 1.15+) applies')
  t.match(plan(chain, {}, 'tcp').backends, [{ serverTimeout: '' }], 'a tcp listener has no request to time')
  const router = fixture('router')
  for (const n of Object.values(router.Nodes)) if (n.Type === 'resolver') n.Resolver.RequestTimeoutMs = 2500
  t.ok(plan(router).backends.every((b) => b.serverTimeout === ''), 'behind a router it does not apply, as in Envoy')
})

t.test('emulated Consul 1.18: CaseInsensitive makes PathExact and PathPrefix (and the rewrite) case-blind, not a regex or headers', async (t) => {
  const { value: p, warnings } = warned(() => plan(fixture('router-case-insensitive-1.18')))
  t.same(p.routes.map((r) => r.when), [
    '{ path -i -m beg "/Admin/" }',
    '{ path -i -m str "/Health" }',
    '{ path -m reg "^(?:/Items/[0-9]+)\\\\z" }',
    '{ path -m beg "/Exact/" } { req.fhdr(x-env) -m str "Prod" }',
    '',
  ])
  t.same(p.routes[0]!.rewrite, { pattern: '"(?i)^/Admin/(.*)\\$"', replacement: '"/\\\\1"' }, '/admin/x and /ADMIN/x are rewritten as Envoy rewrites the matched prefix')
  t.same(warnings, [], 'Envoy ignores case_sensitive for a regex too: nothing to warn about')
})

t.test('a target in a cluster peer gets no servers and a warning naming the upstream, target and peer', async (t) => {
  const chain = fixture('peer-failover-1.15')
  const local = 'api.default.default.dc1'
  const peer = 'api.default.default.external.dc2-peer'
  t.equal(chain.Targets[peer]!.Peer, 'dc2-peer')
  const { value: p, warnings } = warned(() => plan(chain, { [local]: [instance('api-1')], [peer]: [instance('api-local-lookalike')] }))
  t.same(p.picks[0]!.backends, ['upstream_service_api', 'upstream_service_api.api.dc2-peer'])
  t.same(p.backends.map((b) => [b.name, b.instances.map((i) => i.ID)]), [['upstream_service_api', ['api-1']], ['upstream_service_api.api.dc2-peer', []]], 'never the local instances')
  t.same(warnings, [`upstream api: discovery chain api target ${peer} is in cluster peer "dc2-peer", which meshplate does not support: it gets no servers (requests routed there fail with 503)`])
  const down = plan(chain, { [local]: [instance('api-1', 'critical')], [peer]: [instance('api-x')] })
  t.same(down.backends.map((b) => b.instances.map((i) => i.ID)), [['api-1'], []], 'all local instances down: panic routing stays local, the peer stays empty')
  const redirect = warned(() => plan(fixture('peer-redirect-1.14'), { [peer]: [instance('api-x')] }, 'tcp'))
  t.match(redirect.value, { defaultBackend: 'upstream_service_api', backends: [{ name: 'upstream_service_api', instances: [] }] }, 'redirected to a peer: the upstream has no servers at all')
  t.match(redirect.warnings, [/target api\.default\.default\.external\.dc2-peer is in cluster peer "dc2-peer"/])
})
