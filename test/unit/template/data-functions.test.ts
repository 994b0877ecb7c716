/**
 * consul-template's data functions as a template author sees them: what each
 * returns from a brain filled with parsed data, and what it reports missing.
 * The safe listings must hold the file back while the prefix is empty, where
 * ls/tree render empty; keyExists and envOrDefault must never wait; connect()
 * keeps passing instances only.
 */
import t from 'tap'
import { parseHealthEntries } from '../../../src/dependency/health-entry.ts'
import { parseKvList } from '../../../src/dependency/kv-list.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createFunctions, type RenderScope } from '../../../src/template/functions.ts'
import { Tracker } from '../../../src/template/tracker.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const kv = parseKvList('app')([
  { Key: 'app/', Value: null },
  { Key: 'app/port', Value: b64('8080') },
  { Key: 'app/db/', Value: null },
  { Key: 'app/db/host', Value: b64('db.local') },
])

function render(brain: Brain, env: NodeJS.ProcessEnv = {}) {
  const scope: RenderScope = { tracker: new Tracker(brain), proxyId: undefined, env }
  return { fns: createFunctions(scope) as Record<string, (...a: unknown[]) => unknown>, tracker: scope.tracker! }
}

t.test('ls shows the top level, tree every key that is not a folder', async (t) => {
  const brain = new Brain()
  brain.set('kv.list(app)', kv)
  const { fns, tracker } = render(brain)
  t.same((fns.ls!('app') as Array<{ Key: string }>).map((p) => p.Key), ['port'])
  t.same((fns.tree!('app') as Array<{ Key: string; Value: string }>).map((p) => `${p.Key}=${p.Value}`), ['port=8080', 'db/host=db.local'])
  t.same((fns.safeLs!('app') as unknown[]).length, 1)
  t.same([...tracker.missing], [])
  t.same([...tracker.used.keys()], ['kv.list(app)'], 'one query for all four')
})

t.test('safeLs and safeTree hold the file back while the prefix is empty; ls and tree do not', async (t) => {
  const brain = new Brain()
  brain.set('kv.list(empty)', [])
  brain.set('kv.list(folders)', parseKvList('folders')([{ Key: 'folders/a/', Value: null }]))
  for (const fn of ['ls', 'tree']) {
    const r = render(brain)
    t.same(r.fns[fn]!('empty'), [])
    t.same([...r.tracker.missing], [], `${fn} renders empty`)
  }
  for (const [fn, prefix] of [['safeLs', 'empty'], ['safeTree', 'empty'], ['safeTree', 'folders'], ['safeLs', 'folders']] as const) {
    const r = render(brain)
    t.same(r.fns[fn]!(prefix), [])
    t.same([...r.tracker.missing], [`kv.list(${prefix})`], `${fn}("${prefix}") waits`)
  }
})

t.test('keyExists never waits; key does', async (t) => {
  const brain = new Brain()
  brain.set('kv.get(app/on)', { Exists: true, Value: '' })
  brain.set('kv.get(app/off@dc2)', { Exists: false, Value: '' })
  const r = render(brain)
  t.equal(r.fns.keyExists!('app/on'), true)
  t.equal(r.fns.keyExists!('app/off@dc2'), false)
  t.same([...r.tracker.missing], [])
  r.fns.key!('app/off@dc2')
  t.same([...r.tracker.missing], ['kv.get(app/off@dc2)'], 'key() names the query with its datacenter')
})

t.test('catalog functions return the data or empty values while waiting', async (t) => {
  const brain = new Brain()
  brain.set('catalog.services()', [{ Name: 'web', Tags: ['v1'] }])
  brain.set('catalog.datacenters', ['dc1'])
  const r = render(brain)
  t.same(r.fns.services!(), [{ Name: 'web', Tags: ['v1'] }])
  t.same(r.fns.datacenters!(), ['dc1'])
  t.same(r.fns.nodes!('@dc2'), [])
  t.equal(r.fns.node!(), null)
  t.same([...r.tracker.missing].sort(), ['catalog.node()', 'catalog.nodes(@dc2)'])
})

t.test('connect() keeps passing instances, with the tag as a filter', async (t) => {
  const entry = (id: string, status: string) => ({
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: id, Service: 'api-sidecar-proxy', Port: 21000, Tags: ['v2'] },
    Checks: [{ Status: status }],
  })
  const brain = new Brain()
  brain.set('health.connect(api@dc2 | Service.Tags contains "v2")', parseHealthEntries([entry('a', 'passing'), entry('b', 'warning'), entry('c', 'critical')]))
  const r = render(brain)
  t.same((r.fns.connect!('v2.api@dc2') as Array<{ ID: string }>).map((e) => e.ID), ['a'])
  t.throws(() => r.fns.connect!('api~_agent'), { code: 'CONFIG_INVALID' }, '~near is refused, not ignored')
})

t.test('envOrDefault: set (even empty) wins, unset gives the default; timestamp and file', async (t) => {
  const r = render(new Brain(), { SET: 'x', EMPTY: '' })
  t.equal(r.fns.envOrDefault!('SET', 'd'), 'x')
  t.equal(r.fns.envOrDefault!('EMPTY', 'd'), '', 'as consul-template: an empty value is a value')
  t.equal(r.fns.envOrDefault!('UNSET', 'd'), 'd')
  t.match(r.fns.timestamp!('2006'), /^\d{4}$/)
  t.equal(r.fns.file!('motd.txt'), '')
  t.same([...r.tracker.missing], ['file(motd.txt)'])
})
