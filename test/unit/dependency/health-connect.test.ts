/**
 * An upstream listener balances over `GET /v1/health/connect/<svc>`,
 * optionally in another datacenter. The test checks that the query asks for
 * every instance (health included) in the right datacenter and that the
 * answer is validated.
 */
import t from 'tap'
import { HealthConnectDependency } from '../../../src/dependency/health-connect.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const body = [
  {
    Node: { Node: 'node-1', Address: '10.0.0.5', Datacenter: 'dc2' },
    Service: { Kind: 'connect-proxy', ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Tags: [], Address: '', Meta: null, Port: 21001, Weights: { Passing: 1, Warning: 1 }, Proxy: { DestinationServiceName: 'api' } },
    Checks: [{ CheckID: 'serfHealth', Status: 'passing' }],
  },
]

const connectClient = (body: unknown) => recordingClient({ body, index: 88 })

t.test('asks the agent\'s streaming view (cached) for every instance, critical ones too, with dc only when given', async (t) => {
  const local = connectClient(body)
  const res = await new HealthConnectDependency('api').fetch(local.client, { index: 87, waitMs: 60_000 })
  t.same(local.calls[0], ['/v1/health/connect/api', { dc: undefined, filter: undefined, cached: '', stale: '' }, { index: 87, waitMs: 60_000, signal: undefined }])
  t.equal(res.index, 88)
  t.equal(res.data[0]?.Address, '10.0.0.5')
  t.equal(res.data[0]?.Port, 21001)

  const remote = connectClient(body)
  await new HealthConnectDependency('api', 'dc2').fetch(remote.client, { waitMs: 60_000 })
  t.same(remote.calls[0]?.[1], { dc: 'dc2', filter: undefined, cached: '', stale: '' })
})

t.test('the id names service and datacenter', async (t) => {
  t.equal(new HealthConnectDependency('api').id, 'health.connect(api)')
  t.equal(new HealthConnectDependency('api', 'dc2').id, 'health.connect(api@dc2)')
  t.equal(new HealthConnectDependency('api').blocking, 'index')
})

t.test('a bad body is an invalid response naming the endpoint', async (t) => {
  const { client } = connectClient({ api: body })
  const err = await new HealthConnectDependency('api').fetch(client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/health/connect/api: invalid response: entries is not an array')
})
