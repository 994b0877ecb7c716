/**
 * `node("[name][@dc]")`: one node and its services as a list. Without a name
 * it is the agent's own node, whose name is asked of the agent at the start
 * of a watch only, not on every blocking call. An unknown node is `null`.
 */
import t from 'tap'
import type { ConsulClient, ConsulResponse } from '../../../src/consul/client.ts'
import { CatalogNodeDependency, parseNodeQuery, parseNodeServices } from '../../../src/dependency/catalog-node.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const body = {
  Node: { ID: 'n1', Node: 'node-1', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: null, Meta: null },
  Services: {
    'web-2': { ID: 'web-2', Service: 'web', Tags: ['v2'], Meta: {}, Port: 81, Address: '' },
    consul: { ID: 'consul', Service: 'consul', Tags: [], Port: 8300, Address: '' },
    'web-1': { ID: 'web-1', Service: 'web', Tags: null, Meta: { a: 'b' }, Port: 80, Address: '10.0.0.9' },
  },
}

t.test('services become a list by name then id; null is no node', async (t) => {
  const n = parseNodeServices(body)!
  t.same(n.Node, { ID: 'n1', Node: 'node-1', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: {}, Meta: {} })
  t.same(n.Services.map((s) => s.ID), ['consul', 'web-1', 'web-2'])
  t.same(n.Services[1], { ID: 'web-1', Service: 'web', Tags: [], Meta: { a: 'b' }, Port: 80, Address: '10.0.0.9' })
  t.equal(parseNodeServices(null), null)
  t.throws(() => parseNodeServices({ Node: body.Node, Services: { x: { ID: 'x' } } }), { message: 'Services.x.Service is not a string' })
})

t.test('parseNodeQuery reads [name][@dc]', async (t) => {
  t.same(parseNodeQuery(''), { name: '', dc: '' })
  t.same(parseNodeQuery('node-1@dc2'), { name: 'node-1', dc: 'dc2' })
  t.same(parseNodeQuery('@dc2'), { name: '', dc: 'dc2' }, "the agent's node, in another datacenter")
  t.throws(() => parseNodeQuery('a@b@c'), { code: 'CONFIG_INVALID', message: 'node("a@b@c"): expected [name][@dc]' })
})

t.test('a named node: one blocking call with stale and dc', async (t) => {
  const { client, calls } = recordingClient({ body, index: 12 })
  const res = await new CatalogNodeDependency('node-1@dc2').fetch(client, { index: 11, waitMs: 5_000 })
  t.equal(res.index, 12)
  t.same(calls, [['/v1/catalog/node/node-1', { dc: 'dc2', stale: '' }, { index: 11, waitMs: 5_000, signal: undefined }]])
  t.equal(new CatalogNodeDependency('node-1@dc2').id, 'catalog.node(node-1@dc2)')
  t.equal(new CatalogNodeDependency().id, 'catalog.node()')
})

t.test("no name: the agent's node, looked up at the start of a watch", async (t) => {
  const calls: string[] = []
  const client = {
    get: async (path: string): Promise<ConsulResponse> => {
      calls.push(path)
      const b = path === '/v1/agent/self' ? { Config: { NodeName: 'my-node' } } : body
      return { body: b, index: 5, digest: '' }
    },
  } as unknown as ConsulClient
  const dep = new CatalogNodeDependency()
  await dep.fetch(client, { waitMs: 1 })
  await dep.fetch(client, { index: 5, waitMs: 1 })
  t.same(calls, ['/v1/agent/self', '/v1/catalog/node/my-node', '/v1/catalog/node/my-node'], 'asked once, then blocking calls only')
  await dep.fetch(client, { index: 0, waitMs: 1 })
  t.equal(calls.at(-2), '/v1/agent/self', 'asked again when the watch starts over (an index reset: the agent may have restarted)')
  const bad = recordingClient({ body: { Config: {} } })
  const err = await new CatalogNodeDependency().fetch(bad.client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/self: invalid response: Config.NodeName is not a string')
})
