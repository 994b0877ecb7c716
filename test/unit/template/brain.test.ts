/**
 * The brain is the cache templates read, and its snapshot file is what
 * `--record` writes and `--data` reads to render in CI without Consul. A
 * snapshot must round-trip exactly, and a wrong file must be refused with its
 * name, not render empty templates.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Brain } from '../../../src/template/brain.ts'

const roots = { ActiveRootID: 'r2', TrustDomain: 'td.consul', Roots: [{ ID: 'r2', Name: '', RootCert: 'PEM', IntermediateCerts: [], Active: true }] }
const instances = [{ Address: '10.0.0.5', Port: 21001, Node: 'node-1', Tags: ['v2'], Meta: {}, Weights: { Passing: 1, Warning: 1 } }]

t.test('set, has, get and forget', async (t) => {
  const brain = new Brain()
  t.notOk(brain.has('connect.roots'))
  t.equal(brain.get('connect.roots'), undefined)
  brain.set('connect.roots', roots)
  t.ok(brain.has('connect.roots'))
  t.equal(brain.get('connect.roots'), roots)
  brain.set('kv.get(app/flag)', null)
  t.ok(brain.has('kv.get(app/flag)'), 'null is data, not absence')
  brain.forget('connect.roots')
  t.notOk(brain.has('connect.roots'))
})

t.test('a snapshot written to a file reads back as the same brain', async (t) => {
  const brain = new Brain()
  brain.set('connect.roots', roots)
  brain.set('health.connect(api)', instances)
  brain.set('kv.get(app/flag)', { Exists: false, Value: '' })
  const dir = t.testdir({})
  const file = join(dir, 'snapshot.json')
  writeFileSync(file, JSON.stringify(brain.snapshot(undefined, 'web-sidecar-proxy'), null, 2))

  const { brain: loaded, proxyId } = Brain.fromSnapshotFile(file)
  t.equal(proxyId, 'web-sidecar-proxy')
  for (const id of ['connect.roots', 'health.connect(api)', 'kv.get(app/flag)']) t.same(loaded.get(id), brain.get(id), id)
  t.same(loaded.snapshot(), brain.snapshot(), 'nothing added or lost')
})

t.test('a snapshot can be limited to the ids in use', async (t) => {
  const brain = new Brain()
  brain.set('connect.roots', roots)
  brain.set('health.connect(api)', instances)
  t.same(brain.snapshot(['health.connect(api)', 'not.watched']), { meshplateSnapshot: 1, data: { 'health.connect(api)': instances } })
})

t.test('a snapshot without a proxy id reads back without one', async (t) => {
  const dir = t.testdir({ 'snap.json': JSON.stringify({ meshplateSnapshot: 1, data: { 'kv.get(a)': { Exists: true, Value: 'x' } } }) })
  const { brain, proxyId } = Brain.fromSnapshotFile(join(dir, 'snap.json'))
  t.equal(proxyId, undefined)
  t.same(brain.get('kv.get(a)'), { Exists: true, Value: 'x' })
})

t.test('a file that is not a snapshot is refused with its name', async (t) => {
  const dir = t.testdir({
    'broken.json': '{"meshplateSnapshot": 1, "data": {',
    'other.json': JSON.stringify({ data: {} }),
    'version2.json': JSON.stringify({ meshplateSnapshot: 2, data: {} }),
    'nodata.json': JSON.stringify({ meshplateSnapshot: 1, data: null }),
    'null.json': 'null',
  })
  for (const name of ['broken.json', 'other.json', 'version2.json', 'nodata.json', 'null.json', 'missing.json']) {
    const file = join(dir, name)
    t.throws(() => Brain.fromSnapshotFile(file), { code: 'SNAPSHOT_INVALID', message: new RegExp(`^${file.replace(/[.]/g, '\\.')}: `) }, name)
  }
})
