/**
 * One recursive KV listing serves ls, safeLs, tree and safeTree, as in
 * consul-template. Keys must come out relative to the prefix the way
 * consul-template cuts them, values decoded, the `@dc` suffix sent as `dc=`,
 * and an empty prefix (Consul's 404) must be an empty list with its index,
 * not an error, so ls renders and safeLs can wait.
 */
import t from 'tap'
import { KvListDependency, parseKvList, parseKvPrefix } from '../../../src/dependency/kv-list.ts'
import { ConsulHttpError, ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const pair = (Key: string, value: string | null) => ({ Key, Value: value === null ? null : b64(value), Flags: 0, LockIndex: 0, CreateIndex: 10, ModifyIndex: 11 })

t.test('parseKvPrefix reads prefix[@dc]', async (t) => {
  t.same(parseKvPrefix('app/config'), { prefix: 'app/config', dc: '' })
  t.same(parseKvPrefix('/app/config/@dc2'), { prefix: 'app/config/', dc: 'dc2' }, 'a leading slash is dropped, a trailing one kept')
  t.same(parseKvPrefix(''), { prefix: '', dc: '' }, 'the whole store')
  t.throws(() => parseKvPrefix('a@b@c'), { code: 'CONFIG_INVALID', message: 'ls("a@b@c"): expected prefix[@dc]' })
})

t.test('keys are relative to the prefix, values decoded', async (t) => {
  const body = [pair('app/', null), pair('app/port', '8080'), pair('app/db/', null), pair('app/db/host', 'db.local'), pair('application/x', 'y')]
  const pairs = parseKvList('app')(body)
  t.same(pairs.map((p) => p.Key), ['', 'port', 'db/', 'db/host', 'lication/x'], "consul-template's cut: the prefix, then leading slashes")
  t.same(pairs[1], { Path: 'app/port', Key: 'port', Value: '8080', CreateIndex: 10, ModifyIndex: 11, LockIndex: 0, Flags: 0, Session: '' })
  t.same(parseKvList('app/')(body).map((p) => p.Key)[1], 'port', 'the same with a trailing slash')
  t.throws(() => parseKvList('app')([{ Key: 3 }]), { message: 'kv[0].Key is not a string' })
})

t.test('fetch sends recurse, dc and stale, and blocks on the index', async (t) => {
  const { client, calls } = recordingClient({ body: [pair('app/port', '1')], index: 42 })
  const res = await new KvListDependency('app@dc2').fetch(client, { index: 41, waitMs: 5_000 })
  t.equal(res.index, 42)
  t.same(res.data.map((p) => p.Key), ['port'])
  t.same(calls[0], ['/v1/kv/app', { recurse: '', dc: 'dc2', stale: '' }, { index: 41, waitMs: 5_000, signal: undefined }])
  await new KvListDependency('app').fetch(client, { waitMs: 5_000, consistent: true })
  t.same(calls[1]?.[1], { recurse: '', dc: undefined }, 'no stale when the view asks the leader')
})

t.test('an empty prefix is an empty list with the index to block on; other errors stay errors', async (t) => {
  const missing = recordingClient({ error: new ConsulHttpError('GET /v1/kv/app', 404, '', 77) })
  t.same(await new KvListDependency('app').fetch(missing.client, { waitMs: 1 }), { data: [], index: 77 })
  const denied = new ConsulHttpError('GET /v1/kv/app', 403, 'Permission denied')
  await t.rejects(new KvListDependency('app').fetch(recordingClient({ error: denied }).client, { waitMs: 1 }), denied)
  const err = await new KvListDependency('app').fetch(recordingClient({ body: { Key: 'x' } }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/kv/app: invalid response: kv is not an array')
})

t.test('ids: prefix and dc make the identity', async (t) => {
  t.equal(new KvListDependency('app').id, 'kv.list(app)')
  t.equal(new KvListDependency('/app').id, 'kv.list(app)')
  t.equal(new KvListDependency('app@dc2').id, 'kv.list(app@dc2)')
  t.not(new KvListDependency('app').id, new KvListDependency('app/').id)
})
