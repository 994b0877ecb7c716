/**
 * `datacenters()` is polled (the endpoint does not block) and sorted, so a
 * change of WAN distances alone does not re-render.
 */
import t from 'tap'
import { CatalogDatacentersDependency } from '../../../src/dependency/catalog-datacenters.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

t.test('polls the datacenters, sorted', async (t) => {
  const { client, calls } = recordingClient({ body: ['dc2', 'dc1'], index: 3 })
  const dep = new CatalogDatacentersDependency()
  t.equal(dep.blocking, 'poll')
  const res = await dep.fetch(client, { index: 3, waitMs: 5_000 })
  t.same(res.data, ['dc1', 'dc2'])
  t.equal(res.index, undefined, 'no index: the view polls')
  t.same(calls[0], ['/v1/catalog/datacenters', { stale: '' }, { signal: undefined }], 'never a blocking call')
  const err = await dep.fetch(recordingClient({ body: [1] }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/catalog/datacenters: invalid response: datacenters[0] is not a string')
})
