/**
 * Health entries are what upstream listeners balance over, so the flattened
 * fields must be right: the address to dial is Service.Address, else the
 * node's address (sidecars registered by Nomad often leave it empty), and the
 * status summarises every check. Bodies follow `GET /v1/health/connect/<svc>`.
 */
import t from 'tap'
import { parseHealthEntries } from '../../../src/dependency/health-entry.ts'

/** One entry as Consul returns it for a sidecar in front of `api`. */
const entry = (over: { address?: string; port?: number; checks?: string[]; node?: string; nodeAddress?: string; weights?: unknown; meta?: unknown } = {}) => ({
  Node: {
    ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
    Node: over.node ?? 'node-1',
    Address: over.nodeAddress ?? '10.0.0.5',
    Datacenter: 'dc1',
    TaggedAddresses: { lan: '10.0.0.5', wan: '10.0.0.5' },
    Meta: { 'consul-network-segment': '' },
    CreateIndex: 5,
    ModifyIndex: 9,
  },
  Service: {
    Kind: 'connect-proxy',
    ID: 'api-sidecar-proxy',
    Service: 'api-sidecar-proxy',
    Tags: ['v2'],
    Address: over.address ?? '',
    Meta: over.meta === undefined ? null : over.meta,
    Port: over.port ?? 21001,
    Weights: over.weights === undefined ? { Passing: 1, Warning: 1 } : over.weights,
    EnableTagOverride: false,
    Proxy: { DestinationServiceName: 'api', DestinationServiceID: 'api', LocalServiceAddress: '127.0.0.1', LocalServicePort: 9090, Upstreams: null },
    Connect: {},
    CreateIndex: 20,
    ModifyIndex: 20,
  },
  Checks: (over.checks ?? ['passing', 'passing']).map((Status, i) => ({
    Node: over.node ?? 'node-1',
    CheckID: i === 0 ? 'serfHealth' : `service:api-sidecar-proxy:${i}`,
    Name: i === 0 ? 'Serf Health Status' : 'Connect Sidecar Listening',
    Status,
    Output: '',
    ServiceID: i === 0 ? '' : 'api-sidecar-proxy',
    ServiceName: i === 0 ? '' : 'api-sidecar-proxy',
  })),
})

t.test('Address falls back to Node.Address when the service has none', async (t) => {
  const [fallback, own] = parseHealthEntries([entry({ address: '', nodeAddress: '10.0.0.5' }), entry({ address: '172.26.64.3', nodeAddress: '10.0.0.6', node: 'node-2' })])
  t.equal(fallback?.Address, '10.0.0.5')
  t.equal(fallback?.NodeAddress, '10.0.0.5')
  t.equal(own?.Address, '172.26.64.3', 'Service.Address wins when set')
  t.equal(own?.NodeAddress, '10.0.0.6')
  t.equal(own?.Node, 'node-2')
})

t.test('flattens the fields a config author uses and keeps the raw service', async (t) => {
  const [e] = parseHealthEntries([entry({ port: 21005, meta: { version: 'v2' } })])
  t.match(e, {
    Port: 21005,
    Node: 'node-1',
    Datacenter: 'dc1',
    ID: 'api-sidecar-proxy',
    Name: 'api-sidecar-proxy',
    Tags: ['v2'],
    Meta: { version: 'v2' },
    Weights: { Passing: 1, Warning: 1 },
    Status: 'passing',
  })
  t.match(e?.Service, { Kind: 'connect-proxy', Proxy: { DestinationServiceName: 'api' } })
})

t.test('status is the worst of the checks', async (t) => {
  const status = (checks: string[]) => parseHealthEntries([entry({ checks })])[0]?.Status
  t.equal(status([]), 'passing')
  t.equal(status(['passing', 'passing']), 'passing')
  t.equal(status(['passing', 'warning']), 'warning')
  t.equal(status(['warning', 'critical']), 'critical')
  t.equal(status(['critical', 'warning']), 'critical', 'a later warning does not soften a critical')
  t.equal(status(['maintenance']), 'critical')
})

t.test('weights default to 1 when Consul omits them', async (t) => {
  t.same(parseHealthEntries([entry({ weights: null })])[0]?.Weights, { Passing: 1, Warning: 1 })
  t.same(parseHealthEntries([entry({ weights: { Passing: 10, Warning: 2 } })])[0]?.Weights, { Passing: 10, Warning: 2 })
})

t.test('an empty or null list is no instances', async (t) => {
  t.same(parseHealthEntries([]), [])
  t.same(parseHealthEntries(null), [])
})

t.test('bad shapes name the entry and field', async (t) => {
  const good = entry()
  const cases: Array<[unknown, string]> = [
    [{}, 'entries is not an array'],
    [[good, { ...good, Node: null }], '[1].Node is not an object'],
    [[{ ...good, Node: { ...good.Node, Address: 5 } }], '[0].Node.Address is not a string'],
    [[{ ...good, Service: { ...good.Service, Port: '21001' } }], '[0].Service.Port is not a number'],
    [[{ ...good, Service: { ...good.Service, ID: undefined } }], '[0].Service.ID is not a string'],
    [[{ ...good, Checks: [{ CheckID: 'serfHealth' }] }], '[0].Checks[0].Status is not a string'],
  ]
  for (const [body, message] of cases) t.throws(() => parseHealthEntries(body), { message }, message)
})
