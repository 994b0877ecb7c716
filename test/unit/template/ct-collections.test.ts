/**
 * consul-template's groupings decide which backends a load balancer gets and
 * which config keys land where: a service missing from its tag's group, or a
 * KV pair nested under the wrong key, is a wrong config. These pin the
 * semantics of its funcs.go (byTag, byKey, byMeta with `|int`, explode) and
 * the contains* truth table, including what each does with bad input.
 */
import t from 'tap'
import { byKey, byMeta, byTag, collectionFilters as f, explode, explodeMap } from '../../../src/template/ct-collections.ts'

const svc = (ID: string, Tags: string[], Meta: Record<string, string> = {}) => ({ ID, Name: 'web', Tags, Meta })
const pair = (Key: string, Value: string) => ({ Path: `root/${Key}`, Key, Value })
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

t.test('byTag groups services under each of their tags, tags in sorted order', async (t) => {
  const a = svc('a', ['v2', 'blue'])
  const b = svc('b', ['blue'])
  const groups = byTag([a, b, svc('c', [])])
  t.same(Object.keys(groups), ['blue', 'v2'])
  t.same(groups.blue, [a, b])
  t.same(groups.v2, [a])
  t.same(plain(byTag([{ Name: 'api', Tags: ['x'] }])), { x: [{ Name: 'api', Tags: ['x'] }] }, 'services() entries')
  t.same(plain(byTag([{ ServiceName: 'api', ServiceTags: ['y'] }])), { y: [{ ServiceName: 'api', ServiceTags: ['y'] }] }, 'catalog entries')
  t.same(plain(byTag(undefined)), {}, 'no data yet: empty')
  t.same(plain(byTag([svc('p', ['__proto__'])])), { __proto__: [svc('p', ['__proto__'])] }, 'any tag is a key')
  t.throws(() => byTag('web'), /^byTag: expects a list of services, got string "web"/)
  t.throws(() => byTag([{ ID: 'x' }]), /^byTag: entry 0 has no Tags list/)
})

t.test('byKey groups tree pairs by top folder and cuts it off the Key', async (t) => {
  const groups = byKey([pair('elasticsearch/es1', '1'), pair('elasticsearch/es2', '2'), pair('redis/a/b', '3'), pair('toplevel', 'x'), pair('empty/', '')])
  t.same(Object.keys(groups), ['elasticsearch', 'redis'], 'pairs with nothing after the folder are left out')
  t.same(plain(groups.elasticsearch), { es1: { Path: 'root/elasticsearch/es1', Key: 'es1', Value: '1' }, es2: { Path: 'root/elasticsearch/es2', Key: 'es2', Value: '2' } })
  t.equal(groups.redis!['a/b']!.Key, 'a/b')
  t.throws(() => byKey([{ Value: 'x' }]), /^byKey: entry 0 is not a KV pair with a Key/)
  t.throws(() => byKey({}), /^byKey: expects KV pairs from ls\(\) or tree\(\), got an object/)
})

t.test("byMeta groups by meta values, with consul-template's defaults and |int padding", async (t) => {
  const dev1 = svc('redis-dev-1', [], { environment: 'dev', shard_number: '1' })
  const prod1 = svc('redis-prod-1', [], { environment: 'prod', shard_number: '1' })
  const prod2 = svc('redis-prod-2', [], { environment: 'prod', shard_number: '2' })
  const groups = byMeta([prod2, dev1, prod1], 'environment,shard_number|int')
  t.same(Object.keys(groups), ['dev_00001', 'prod_00001', 'prod_00002'], "the documented example's keys")
  t.same(groups.prod_00001, [prod1])
  const odd = svc('o', [], { environment: 'eu west/1' })
  t.same(Object.keys(byMeta([odd, svc('n', [])], 'environment,shard|int')), ['_no_environment__00000', 'eu_west_1_00000'], 'missing: _no_<key>_ or 0; other characters become _')
  t.same(Object.keys(byMeta([svc('m', [], { n: '-3' })], 'n|int')), ['-0003'])
  t.same(Object.keys(byMeta([{ ServiceMeta: { a: 'x' } }, { Service: { Meta: { a: 'y' } } }], 'a')), ['x', 'y'], 'ServiceMeta and Service.Meta are read too')
  t.throws(() => byMeta([svc('x', [], { n: 'ten' })], 'n|int'), /^byMeta: meta n is "ten", not an integer \(n\|int\)/)
  t.throws(() => byMeta([svc('x', [])], undefined), /^byMeta: expects meta keys/)
  t.throws(() => byMeta([{ ID: 'x' }], 'a'), /^byMeta: entry 0 has no Meta/)
})

t.test('explode nests pairs by /, explodeMap does the same for a flat object', async (t) => {
  t.same(plain(explode([pair('admin/port', '1234'), pair('maxconns', '5'), pair('minconns', '2'), pair('nested/', '')])), { admin: { port: '1234' }, maxconns: '5', minconns: '2', nested: {} })
  t.same(Object.keys(explode([pair('b', '1'), pair('a', '2')])), ['a', 'b'], 'keys sorted, as Go ranges a map')
  t.throws(() => explode([pair('a', 'x'), pair('a/b', 'y')]), /^explode: not a map: "a\/b": "a" already has value "x"/)
  t.same(plain(explode(undefined)), {})
  t.same(plain(explodeMap({ 'foo/baz': 'b', 'foo/bar': 'a' })), { foo: { bar: 'a', baz: 'b' } })
  t.throws(() => explodeMap(['a']), /^explodeMap: expects an object, got a list/)
})

t.test('contains and the contains* family follow consul-template’s truth table', async (t) => {
  const tags = ['production', 'blue', 8080]
  t.equal(f.contains(tags, 'blue'), true)
  t.equal(f.contains(tags, 8080), true)
  t.equal(f.contains(tags, '8080'), false, 'a string does not equal a number')
  t.equal(f.contains('production-eu', 'eu'), true, 'a string contains a substring')
  t.equal(f.contains(undefined, 'x'), false)
  t.equal(f.containsAll(tags, ['blue', 'production']), true)
  t.equal(f.containsAll(tags, ['blue', 'green']), false)
  t.equal(f.containsAny(tags, ['green', 'blue']), true)
  t.equal(f.containsAny(tags, ['green']), false)
  t.equal(f.containsNone(tags, ['green']), true)
  t.equal(f.containsNone(tags, ['green', 'blue']), false)
  t.equal(f.containsNotAll(tags, ['green', 'blue']), true)
  t.equal(f.containsNotAll(tags, ['blue']), false)
  t.same([f.containsAll(tags, []), f.containsAny(tags, []), f.containsNone(tags, []), f.containsNotAll(tags, [])], [true, false, true, false], 'no needles')
  t.throws(() => f.containsAll(tags, 'blue'), /^containsAll: expects a list of needles, got string "blue"/)
})
