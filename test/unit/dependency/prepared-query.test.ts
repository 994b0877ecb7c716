/**
 * Upstreams of type `prepared_query` are polled: executing a query does not
 * block. The answer's `Nodes` are health entries, so the same Address
 * fallback applies. Bodies follow `GET /v1/query/<name>/execute?connect=true`.
 */
import t from 'tap'
import { PreparedQueryDependency } from '../../../src/dependency/prepared-query.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const executed = {
  Service: 'db',
  Nodes: [
    {
      Node: { Node: 'node-7', Address: '10.1.0.7', Datacenter: 'dc2' },
      Service: { Kind: 'connect-proxy', ID: 'db-sidecar-proxy', Service: 'db-sidecar-proxy', Address: '', Port: 21002, Proxy: { DestinationServiceName: 'db' } },
      Checks: [{ CheckID: 'serfHealth', Status: 'passing' }],
    },
  ],
  DNS: { TTL: '' },
  Datacenter: 'dc2',
  Failovers: 1,
}

const client = (body: unknown) => recordingClient({ body, index: 500 })

t.test('executes the query for Connect and reads its Nodes', async (t) => {
  const { client: c, calls } = client(executed)
  const signal = new AbortController().signal
  const dep = new PreparedQueryDependency('db-nearest', 'dc2')
  const res = await dep.fetch(c, { index: 499, waitMs: 60_000, signal })
  t.same(calls[0], ['/v1/query/db-nearest/execute', { dc: 'dc2', connect: 'true', cached: '', stale: '' }, { signal, cacheMaxAgeS: 10 }], 'never sent as a blocking query; cached at most one poll interval')
  t.equal(res.index, undefined, 'a polled answer has no index')
  t.equal(res.data.length, 1)
  t.match(res.data[0], { Address: '10.1.0.7', Port: 21002, Node: 'node-7', Datacenter: 'dc2' })
})

t.test('is polled, and its id names query and datacenter', async (t) => {
  t.equal(new PreparedQueryDependency('db').blocking, 'poll')
  t.equal(new PreparedQueryDependency('db').id, 'query.execute(db)')
  t.equal(new PreparedQueryDependency('db', 'dc2').id, 'query.execute(db@dc2)')
  const { client: c, calls } = client(executed)
  await new PreparedQueryDependency('db').fetch(c, { waitMs: 1, pollMs: 30_000 })
  t.same(calls[0]?.[1], { dc: undefined, connect: 'true', cached: '', stale: '' })
  t.equal((calls[0]?.[2] as { cacheMaxAgeS: number }).cacheMaxAgeS, 30, 'the view\'s poll interval bounds the cached answer\'s age')
})

t.test('a query without results is no instances; a bad body is refused', async (t) => {
  t.same((await new PreparedQueryDependency('db').fetch(client({ ...executed, Nodes: null }).client, { waitMs: 1 })).data, [])
  const err = await new PreparedQueryDependency('db').fetch(client({ ...executed, Nodes: {} }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/query/db/execute: invalid response: entries is not an array')
  const notObject = await new PreparedQueryDependency('db').fetch(client([]).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.equal((notObject as Error).message, 'consul GET /v1/query/db/execute: invalid response: query is not an object')
})
