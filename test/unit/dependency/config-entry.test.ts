/**
 * Most meshes have no `mesh` config entry, and Consul answers that with a
 * 404: the sidecar must then render with Consul's defaults (normalisation
 * on), not wait forever for data. An entry that exists is validated at the
 * boundary and handed over whole; other errors stay errors.
 */
import t from 'tap'
import { ConfigEntryDependency, parseConfigEntry } from '../../../src/dependency/config-entry.ts'
import { ConsulHttpError, ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

// As Consul 1.14.11 returns it: the mesh entry is a singleton and has no Name.
const mesh = { Kind: 'mesh', TransparentProxy: { MeshDestinationsOnly: false }, CreateIndex: 12, ModifyIndex: 12 }

t.test('an existing entry is returned whole, with the index to block on', async (t) => {
  const { client, calls } = recordingClient({ body: mesh, index: 12 })
  const dep = new ConfigEntryDependency('mesh', 'mesh')
  t.equal(dep.id, 'config.entry(mesh/mesh)')
  t.not(new ConfigEntryDependency('service-defaults', 'api').id, new ConfigEntryDependency('service-defaults', 'web').id)
  t.same(await dep.fetch(client, { index: 3, waitMs: 1_000 }), { data: mesh, index: 12 })
  t.equal(calls[0]![0], '/v1/config/mesh/mesh')
  t.same(calls[0]![1], { stale: '' }, 'any server answers: config entries have no agent cache')
  t.same(calls[0]![2], { index: 3, waitMs: 1_000, signal: undefined })
  await dep.fetch(client, { index: 12, waitMs: 1_000, consistent: true })
  t.same(calls[1]![1], {}, 'after an answer older than max stale the view asks the leader')
})

t.test('a 404 is "no entry" (null) with its index; other errors stay errors', async (t) => {
  const missing = recordingClient({ error: new ConsulHttpError('GET /v1/config/mesh/mesh', 404, 'Config entry not found for "mesh" / "mesh"', 40) }).client
  t.same(await new ConfigEntryDependency('mesh', 'mesh').fetch(missing, { waitMs: 1 }), { data: null, index: 40 })
  const denied = new ConsulHttpError('GET /v1/config/mesh/mesh', 403, 'Permission denied')
  await t.rejects(new ConfigEntryDependency('mesh', 'mesh').fetch(recordingClient({ error: denied }).client, { waitMs: 1 }), denied)
})

t.test('bodies are validated at the boundary', async (t) => {
  t.throws(() => parseConfigEntry([]), { message: 'entry is not an object' })
  t.throws(() => parseConfigEntry({ Name: 'mesh' }), { message: /Kind/ })
  t.throws(() => parseConfigEntry({ Kind: 'service-defaults', Name: 7 }), { message: /Name/ })
  await t.rejects(new ConfigEntryDependency('mesh', 'mesh').fetch(recordingClient({ body: 'nope' }).client, { waitMs: 1 }), ConsulResponseError)
})
