/**
 * `service("[tag.]name[@dc]")` is the generic query consul-template users
 * know. The query syntax is parsed here, so a typo must be refused with the
 * query quoted, and each part must reach Consul as the right parameter.
 */
import t from 'tap'
import { HealthServiceDependency, parseServiceQuery } from '../../../src/dependency/health-service.ts'
import { recordingClient } from '../../support/fake-client.ts'

t.test('parseServiceQuery reads [tag.]name[@dc][~near]', async (t) => {
  t.same(parseServiceQuery('web'), { tag: '', name: 'web', dc: '', near: '' })
  t.same(parseServiceQuery('v2.web'), { tag: 'v2', name: 'web', dc: '', near: '' })
  t.same(parseServiceQuery('web@dc2'), { tag: '', name: 'web', dc: 'dc2', near: '' })
  t.same(parseServiceQuery('primary.postgres@eu-west-1'), { tag: 'primary', name: 'postgres', dc: 'eu-west-1', near: '' })
  t.same(parseServiceQuery('  web  '), { tag: '', name: 'web', dc: '', near: '' })
  t.same(parseServiceQuery('v2.web@dc2~_agent'), { tag: 'v2', name: 'web', dc: 'dc2', near: '_agent' }, "consul-template's full syntax")
  t.same(parseServiceQuery('web~node-1'), { tag: '', name: 'web', dc: '', near: 'node-1' })
})

t.test('parseServiceQuery refuses malformed queries, quoting them', async (t) => {
  for (const bad of ['', '.web', 'web.', 'web@', '@dc2', 'a.b.c', 'web@dc1@dc2', 'v2.@dc1', 'web~', 'web~a~b', 'web~n@dc1']) {
    t.throws(() => parseServiceQuery(bad), { code: 'CONFIG_INVALID', message: `service("${bad}"): expected [tag.]name[@dc][~near]` }, JSON.stringify(bad))
  }
  t.throws(() => parseServiceQuery('a.b.c', 'connect'), { message: 'connect("a.b.c"): expected [tag.]name[@dc][~near]' }, 'names the function called')
})

t.test('fetch sends name, tag and dc as Consul expects', async (t) => {
  const { client, calls } = recordingClient({ body: [], index: 3 })
  const res = await new HealthServiceDependency('v2.web@dc2').fetch(client, { index: 2, waitMs: 5_000 })
  t.same(res, { data: [], index: 3, digest: '[]' }, 'the digest passes through (the stub digests by JSON text)')
  t.same(calls[0], ['/v1/health/service/web', { passing: '', filter: 'Service.Tags contains "v2"', dc: 'dc2', near: undefined, stale: '' }, { index: 2, waitMs: 5_000, signal: undefined }])
  await new HealthServiceDependency('web').fetch(client, { waitMs: 5_000 })
  t.same(calls[1]?.[1], { passing: '', filter: undefined, dc: undefined, near: undefined, stale: '' })
  await new HealthServiceDependency('web~_agent').fetch(client, { waitMs: 5_000 })
  t.same(calls[2]?.[1], { passing: '', filter: undefined, dc: undefined, near: '_agent', stale: '' }, '~near is sent as near=')
  t.notOk(JSON.stringify(calls).includes('"tag"'), 'never ?tag= (deprecated since Consul 1.15)')
})

t.test('equivalent spellings share one id; different queries do not', async (t) => {
  t.equal(new HealthServiceDependency(' web ').id, new HealthServiceDependency('web').id)
  t.equal(new HealthServiceDependency('v2.web@dc2').id, 'health.service(v2.web@dc2)')
  t.equal(new HealthServiceDependency('v2.web@dc2~n1').id, 'health.service(v2.web@dc2~n1)')
  const ids = ['web', 'v2.web', 'web@dc2', 'v2.web@dc2', 'v1.web@dc2', 'web~n1', 'web@dc2~n1'].map((q) => new HealthServiceDependency(q).id)
  t.equal(new Set(ids).size, ids.length)
})

t.test('a bad query fails when the dependency is made, not when it is fetched', async (t) => {
  t.throws(() => new HealthServiceDependency('a.b.c'), { code: 'CONFIG_INVALID' })
})
