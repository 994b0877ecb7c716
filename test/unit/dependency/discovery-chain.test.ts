/**
 * The chain body as Consul marshals it, across releases: Go durations as
 * strings or nanoseconds, negative ones from Consul 1.18 ("no timeout",
 * GH-19992), a resolver's RequestTimeout (1.15+), and a target's cluster
 * peer. The plan built from them is tested in test/unit/connect/chain/plan.test.ts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { durationMs, parseChainBody } from '../../../src/dependency/discovery-chain.ts'

const body = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/chains', `${name}.json`), 'utf8'))

t.test('Go durations, negative ones included', async (t) => {
  const cases: Array<[unknown, number]> = [
    ['5s', 5000], ['1m30s', 90_000], ['1.5s', 1500], ['250ms', 250], ['1h', 3_600_000], ['0s', 0], ['0', 0],
    ['-1s', -1000], ['-1m30s', -90_000], ['-500ms', -500], [-1_000_000_000, -1000], [2_500_000_000, 2500], ['', 0], [null, 0], [undefined, 0],
  ]
  for (const [v, ms] of cases) t.equal(durationMs(v, 'X'), ms, JSON.stringify(v))
  for (const bad of ['soon', '5', '-', '--1s', '1d', ' 5s']) t.throws(() => durationMs(bad, 'Route.RequestTimeout'), { message: `Route.RequestTimeout: ${JSON.stringify(bad)} is not a duration` }, bad)
})

t.test('a resolver\'s RequestTimeout and a target\'s Peer are read; 1.14 answers have neither', async (t) => {
  const resolver = parseChainBody(body('resolver-timeout-1.18'))
  const start = resolver.Nodes[resolver.StartNode]!
  t.match(start, { Type: 'resolver', Resolver: { ConnectTimeoutMs: 3000, RequestTimeoutMs: -1000 } })
  const peer = parseChainBody(body('peer-failover-1.15'))
  t.same(Object.values(peer.Targets).map((x) => [x.ID, x.Peer, x.Datacenter]), [
    ['api.default.default.dc1', '', 'dc1'],
    ['api.default.default.external.dc2-peer', 'dc2-peer', ''],
  ])
  for (const recorded of ['default', 'router', 'splitter', 'failover', 'redirect', 'retry']) {
    const chain = parseChainBody(body(recorded))
    t.ok(Object.values(chain.Targets).every((x) => x.Peer === ''), `${recorded}: no peer`)
    t.ok(Object.values(chain.Nodes).every((n) => n.Type !== 'resolver' || n.Resolver.RequestTimeoutMs === 0), `${recorded}: no resolver RequestTimeout`)
  }
})

t.test('a route\'s negative timeout is kept as Consul sent it, for the plan to read', async (t) => {
  const chain = parseChainBody(body('router-timeouts-1.18'))
  const router = chain.Nodes[chain.StartNode]!
  if (router.Type !== 'router') throw new Error('the fixture starts at its router')
  t.same(router.Routes.map((r) => r.Destination.RequestTimeout ?? null), ['-1s', null, '5s', '10s', null])
})
