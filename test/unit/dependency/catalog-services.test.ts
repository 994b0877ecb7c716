/**
 * `services()` gives consul-template's `[{Name, Tags}]`: Consul's map made a
 * list in name order, tags sorted and de-duplicated, so the same catalog
 * always renders the same bytes. `@dc` is the only query syntax.
 */
import t from 'tap'
import { CatalogServicesDependency, parseCatalogServices, parseDcQuery } from '../../../src/dependency/catalog-services.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

t.test('the map becomes a sorted list with sorted, unique tags', async (t) => {
  t.same(parseCatalogServices({ web: ['v2', 'v1', 'v2'], consul: [], api: null }), [
    { Name: 'api', Tags: [] },
    { Name: 'consul', Tags: [] },
    { Name: 'web', Tags: ['v1', 'v2'] },
  ])
  t.throws(() => parseCatalogServices([]), { message: 'services is not an object' })
  t.throws(() => parseCatalogServices({ web: [1] }), { message: 'services.web[0] is not a string' })
})

t.test('parseDcQuery reads [@dc]', async (t) => {
  t.equal(parseDcQuery('services', ''), '')
  t.equal(parseDcQuery('services', '@dc2'), 'dc2')
  t.throws(() => parseDcQuery('services', 'dc2'), { code: 'CONFIG_INVALID', message: 'services("dc2"): expected [@dc]' })
})

t.test('fetch: stale, dc, blocking, errors naming the endpoint', async (t) => {
  const { client, calls } = recordingClient({ body: { web: [] }, index: 9 })
  const res = await new CatalogServicesDependency('@dc2').fetch(client, { index: 8, waitMs: 5_000 })
  t.same(res.data, [{ Name: 'web', Tags: [] }])
  t.equal(res.index, 9)
  t.same(calls[0], ['/v1/catalog/services', { dc: 'dc2', stale: '' }, { index: 8, waitMs: 5_000, signal: undefined }])
  const err = await new CatalogServicesDependency().fetch(recordingClient({ body: 'x' }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/catalog/services: invalid response: services is not an object')
  t.equal(new CatalogServicesDependency().id, 'catalog.services()')
  t.equal(new CatalogServicesDependency('@dc2').id, 'catalog.services(@dc2)')
})
