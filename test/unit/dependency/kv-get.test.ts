/**
 * A KV key that does not exist is data, not an error: `keyOrDefault` must
 * render at once while `key` waits. Consul answers a missing key with 404 and
 * an X-Consul-Index to block on, so that index must be kept too.
 */
import t from 'tap'
import { KvGetDependency, parseKv, parseKvQuery } from '../../../src/dependency/kv-get.ts'
import { ConsulHttpError, ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const kvBody = (value: string | null) => [{ LockIndex: 0, Key: 'app/config', Flags: 0, Value: value, CreateIndex: 100, ModifyIndex: 200 }]

t.test('decodes the base64 value', async (t) => {
  t.same(parseKv(kvBody(Buffer.from('max_conn = 2000\nmode = "http"').toString('base64'))), { Exists: true, Value: 'max_conn = 2000\nmode = "http"' })
  t.same(parseKv(kvBody(Buffer.from('héllo ✓').toString('base64'))), { Exists: true, Value: 'héllo ✓' }, 'UTF-8 survives')
  t.same(parseKv(kvBody(null)), { Exists: true, Value: '' }, 'a key with a null value exists and is empty')
  t.same(parseKv([]), { Exists: false, Value: '' })
})

t.test('bad shapes are refused', async (t) => {
  t.throws(() => parseKv({ Key: 'app/config' }), { message: 'kv is not an array' })
  t.throws(() => parseKv(['x']), { message: 'kv[0] is not an object' })
  t.throws(() => parseKv([{ Key: 'app/config', Value: 42 }]), { message: 'kv[0].Value is not a string' })
})

const client = recordingClient

t.test('a 404 is a missing key, with the index to block on', async (t) => {
  const { client: c } = client({ error: new ConsulHttpError('GET /v1/kv/app/config', 404, '', 57) })
  const res = await new KvGetDependency('app/config').fetch(c, { index: 0, waitMs: 60_000 })
  t.same(res, { data: { Exists: false, Value: '' }, index: 57 })
})

t.test('other HTTP errors stay errors', async (t) => {
  const denied = new ConsulHttpError('GET /v1/kv/app/config', 403, 'Permission denied: token lacks permission \'key:read\' on "app/config"')
  const { client: c } = client({ error: denied })
  await t.rejects(new KvGetDependency('app/config').fetch(c, { waitMs: 1 }), denied)
})

t.test('fetch keeps slashes in the key, encodes the rest, and validates', async (t) => {
  const { client: c, calls } = client({ body: kvBody(Buffer.from('x').toString('base64')), index: 201 })
  const res = await new KvGetDependency('app/my key?/v1').fetch(c, { index: 200, waitMs: 60_000 })
  t.same(res, { data: { Exists: true, Value: 'x' }, index: 201 })
  t.same(calls[0], ['/v1/kv/app/my%20key%3F/v1', { dc: undefined, stale: '' }, { index: 200, waitMs: 60_000, signal: undefined }])

  const bad = client({ body: { Value: 'eA==' } })
  const err = await new KvGetDependency('app/config').fetch(bad.client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/kv/app/config: invalid response: kv is not an array')
})

t.test('path@dc: the datacenter goes to Consul as dc=, and into the id', async (t) => {
  t.same(parseKvQuery('app/config@dc2'), { path: 'app/config', dc: 'dc2' })
  t.same(parseKvQuery('/app/config'), { path: 'app/config', dc: '' }, 'a leading slash is dropped, as consul-template does')
  t.throws(() => parseKvQuery('a@b@c'), { code: 'CONFIG_INVALID', message: 'key("a@b@c"): expected path[@dc]' })
  const { client: c, calls } = client({ body: [] , index: 3 })
  await new KvGetDependency('app/config@dc2').fetch(c, { index: 2, waitMs: 1_000 })
  t.same(calls[0], ['/v1/kv/app/config', { dc: 'dc2', stale: '' }, { index: 2, waitMs: 1_000, signal: undefined }])
  t.equal(new KvGetDependency('app/config@dc2').id, 'kv.get(app/config@dc2)')
  t.equal(new KvGetDependency('app/config').id, 'kv.get(app/config)', 'unchanged without a datacenter (recorded snapshots still load)')
})
