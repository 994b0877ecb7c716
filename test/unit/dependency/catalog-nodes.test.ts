/**
 * `nodes("[@dc][~near]")`: the catalog's nodes in name order, or in the
 * distance order Consul computes for `near` (left as Consul sent it).
 */
import t from 'tap'
import { CatalogNodesDependency, parseCatalogNodes, parseNodesQuery } from '../../../src/dependency/catalog-nodes.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const node = (name: string, address: string) => ({ ID: `id-${name}`, Node: name, Address: address, Datacenter: 'dc1', TaggedAddresses: { lan: address }, Meta: { rack: 'r1' }, CreateIndex: 1, ModifyIndex: 2 })

t.test('nodes come in name order unless sorted by distance', async (t) => {
  const body = [node('b', '10.0.0.2'), node('a', '10.0.0.1')]
  t.same(parseCatalogNodes('')(body).map((n) => n.Node), ['a', 'b'])
  t.same(parseCatalogNodes('_agent')(body).map((n) => n.Node), ['b', 'a'], 'near: Consul\'s order is kept')
  t.same(parseCatalogNodes('')([node('a', '10.0.0.1')])[0], { ID: 'id-a', Node: 'a', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: { lan: '10.0.0.1' }, Meta: { rack: 'r1' } })
  t.throws(() => parseCatalogNodes('')([{ Node: 'a' }]), { message: 'nodes[0].Address is not a string' })
})

t.test('parseNodesQuery reads [@dc][~near]', async (t) => {
  t.same(parseNodesQuery(''), { dc: '', near: '' })
  t.same(parseNodesQuery('@dc2~_agent'), { dc: 'dc2', near: '_agent' })
  t.same(parseNodesQuery('~node-1'), { dc: '', near: 'node-1' })
  t.throws(() => parseNodesQuery('dc2'), { code: 'CONFIG_INVALID', message: 'nodes("dc2"): expected [@dc][~near]' })
})

t.test('fetch: stale, dc, near, blocking, errors naming the endpoint', async (t) => {
  const { client, calls } = recordingClient({ body: [node('a', '10.0.0.1')], index: 4 })
  const res = await new CatalogNodesDependency('@dc2~_agent').fetch(client, { index: 3, waitMs: 5_000 })
  t.equal(res.index, 4)
  t.same(calls[0], ['/v1/catalog/nodes', { dc: 'dc2', near: '_agent', stale: '' }, { index: 3, waitMs: 5_000, signal: undefined }])
  const err = await new CatalogNodesDependency().fetch(recordingClient({ body: {} }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/catalog/nodes: invalid response: nodes is not an array')
  t.same(['', '@dc2', '~n', '@dc2~n'].map((q) => new CatalogNodesDependency(q).id), ['catalog.nodes()', 'catalog.nodes(@dc2)', 'catalog.nodes(~n)', 'catalog.nodes(@dc2~n)'])
})
