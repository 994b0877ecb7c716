/**
 * The tracker is how a render tells the runner what to watch (`used`) and
 * whether the output may be written (`missing`). Getting either wrong means a
 * query that is never opened, or a half-empty file on disk.
 */
import t from 'tap'
import { CaRootsDependency } from '../../../src/dependency/ca-roots.ts'
import { HealthConnectDependency } from '../../../src/dependency/health-connect.ts'
import { Brain } from '../../../src/template/brain.ts'
import { Tracker } from '../../../src/template/tracker.ts'

t.test('data the brain has is returned and recorded as used', async (t) => {
  const brain = new Brain()
  const roots = { TrustDomain: 'td.consul', ActiveRootID: '', Roots: [] }
  brain.set('connect.roots', roots)
  const tracker = new Tracker(brain)
  const dep = new CaRootsDependency()
  t.equal(tracker.read(dep), roots)
  t.same([...tracker.used.keys()], ['connect.roots'])
  t.equal(tracker.used.get('connect.roots'), dep, 'the dependency itself is kept so the watcher can fetch it')
  t.equal(tracker.missing.size, 0)
})

t.test('data the brain lacks is undefined, used and missing', async (t) => {
  const tracker = new Tracker(new Brain())
  t.equal(tracker.read(new HealthConnectDependency('api', 'dc2')), undefined)
  t.same([...tracker.used.keys()], ['health.connect(api@dc2)'])
  t.same([...tracker.missing], ['health.connect(api@dc2)'])
})

t.test('reading one dependency twice records it once', async (t) => {
  const tracker = new Tracker(new Brain())
  tracker.read(new HealthConnectDependency('api'))
  tracker.read(new HealthConnectDependency('api'))
  tracker.read(new HealthConnectDependency('db'))
  t.same([...tracker.used.keys()], ['health.connect(api)', 'health.connect(db)'])
  t.same([...tracker.missing], ['health.connect(api)', 'health.connect(db)'])
})
