/**
 * The discovery chain plan on chains a real Consul 1.14 compiled
 * (test/fixtures/chains, recorded by scripts/record-chains.mjs with the
 * config entries kept beside each answer): route order and conditions,
 * rewrites, timeouts, retries as backends, split weights, failover order,
 * target backend names and identities, load-balancing policies, and the
 * errors a user gets for what HAProxy cannot do.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseChainBody, type CompiledChain } from '../../../src/dependency/discovery-chain.ts'
import { chainPlan, upstreamPlan } from '../../../src/template/chain-plan.ts'
import type { Instance } from '../../../src/template/functions.ts'

const fixture = (name: string): CompiledChain => parseChainBody(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/chains', `${name}.json`), 'utf8')))
type Raw = Omit<Instance, 'Weight'>
const instance = (id: string, status: Raw['Status'] = 'passing'): Raw => ({
  Address: '127.0.0.1', Port: 21000, Node: 'n1', ID: id, Weights: { Passing: 1, Warning: 1 }, Status: status, ServiceName: id.split('-')[0]!, ServiceURI: '',
})
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

t.test('what HAProxy cannot do is an error naming the entry and field', async (t) => {
  const chain = fixture('router')
  const router = Object.values(chain.Nodes).find((n) => n.Type === 'router')!
  if (router.Type !== 'router') throw new Error('no router')
  const at = (i: number, dest: object) => {
    const copy = structuredClone(chain)
    const r = Object.values(copy.Nodes).find((n) => n.Type === 'router')!
    if (r.Type === 'router') r.Routes[i]!.Destination = { ...r.Routes[i]!.Destination, ...dest }
    return copy
  }
  t.throws(() => plan(at(2, { RetryOnStatusCodes: [429] })), /service-router route 2: Destination.RetryOnStatusCodes: HAProxy retries only on .* not 429/)
  t.throws(() => plan(at(0, { RetryOn: ['retriable-4xx'] })), /route 0: Destination.RetryOn "retriable-4xx" has no HAProxy equivalent/)
  const badRegex = structuredClone(chain)
  const r = Object.values(badRegex.Nodes).find((n) => n.Type === 'router')!
  if (r.Type === 'router') r.Routes[2]!.Match = { HTTP: { PathRegex: '/(?=x)' } }
  t.throws(() => plan(badRegex), /discovery chain api: service-router route 2: .*lookahead|route 2: /)
  const lb = fixture('failover')
  const res = Object.values(lb.Nodes).find((n) => n.Type === 'resolver' && n.LoadBalancer)!
  if (res.Type === 'resolver') res.LoadBalancer = { Policy: 'ring_hash', HashPolicies: [{ Field: 'header', FieldValue: 'x-user' }] }
  t.throws(() => plan(lb, {}, 'tcp'), /service-resolver .* LoadBalancer: a tcp upstream can only hash on SourceIP/)
})

t.test('a prepared query has no chain: one backend whose identity is the service its answers name', async (t) => {
  const u = { DestinationType: 'prepared_query', DestinationName: 'q', Datacenter: '', LocalBindAddress: '127.0.0.1', LocalBindPort: 1, Config: {}, Instances: [{ ...instance('api-1'), ServiceName: 'api', Weight: 1 }] }
  const p = upstreamPlan(u as never, null, 'prepared_query_q', 'tcp', '5000ms')
  t.match(p.backends, [{ name: 'upstream_prepared_query_q', service: 'api', balance: 'leastconn' }])
  t.throws(() => upstreamPlan(u as never, null, 'x', 'udp', '1s'), /mode "udp" is not tcp or http/)
})

t.test('a chain body that names a missing node or target is refused at the boundary', async (t) => {
  const body = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/chains/failover.json'), 'utf8'))
  const res = Object.values(body.Chain.Nodes as Record<string, { Resolver?: { Failover?: { Targets: string[] } } }>).find((n) => n.Resolver?.Failover)!
  res.Resolver!.Failover!.Targets = ['nope.default.default.dc1']
  t.throws(() => parseChainBody(body), /Failover.Targets\[0\] names target "nope.default.default.dc1", which Chain.Targets lacks/)
  t.throws(() => parseChainBody({ Chain: { ...body.Chain, StartNode: 'resolver:x' } }), /Chain.StartNode names node "resolver:x"/)
})
