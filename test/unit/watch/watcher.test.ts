/**
 * The watcher keeps one blocking query per distinct dependency, however many
 * templates (or duplicate entries) ask for it (consul-template #830), and
 * stops the queries nobody uses any more. Dependencies here are in-memory
 * fakes that block until aborted, so the test observes exactly which queries
 * are open.
 */
import t, { type Test } from 'tap'
import type { ConsulClient } from '../../../src/consul/client.ts'
import type { Dependency, FetchOptions, FetchResult } from '../../../src/dependency/dependency.ts'
import { silentLogger } from '../../../src/log.ts'
import { Watcher } from '../../../src/watch/watcher.ts'

/** Answers its first fetch with data, then blocks until aborted, like an idle blocking query. */
class FakeDependency implements Dependency<string> {
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent-cache' as const
  fetches = 0
  aborted = 0
  constructor(readonly id: string) {}
  fetch(_client: ConsulClient, o: FetchOptions): Promise<FetchResult<string>> {
    this.fetches++
    if (!o.index) return Promise.resolve({ data: `${this.id} data`, index: 1 })
    return new Promise((_resolve, reject) => {
      o.signal?.addEventListener('abort', () => {
        this.aborted++
        reject(new Error('aborted'))
      })
    })
  }
}

async function until(cond: () => boolean, what: string) {
  const started = Date.now()
  while (!cond()) {
    if (Date.now() - started > 5_000) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const options = { waitMs: 60_000, minIntervalMs: 1, pollIntervalMs: 10_000, backoff: { delay: () => 1 } }

function setup(t: Test) {
  const data: Array<[string, unknown]> = []
  const errors: unknown[] = []
  const watcher = new Watcher({} as ConsulClient, { onData: (id, d) => data.push([id, d]), onError: (_id, e) => errors.push(e) }, silentLogger, options)
  t.teardown(() => watcher.stop())
  return { watcher, data, errors }
}

t.test('one view per distinct id, even when sync() gets duplicates', async (t) => {
  const { watcher, data } = setup(t)
  const roots = new FakeDependency('connect.roots')
  const rootsAgain = new FakeDependency('connect.roots')
  const leaf = new FakeDependency('connect.leaf(web)')
  watcher.sync([roots, leaf, rootsAgain, roots])
  await until(() => roots.fetches === 2 && leaf.fetches === 2, 'both views to block')
  t.same(watcher.watching().sort(), ['connect.leaf(web)', 'connect.roots'])
  t.equal(rootsAgain.fetches, 0, 'a duplicate id does not open a second query')
  t.same(data.map(([id]) => id).sort(), ['connect.leaf(web)', 'connect.roots'], 'each dependency delivers its data once')
})

t.test('syncing the same set again keeps the running views', async (t) => {
  const { watcher } = setup(t)
  const roots = new FakeDependency('connect.roots')
  watcher.sync([roots])
  await until(() => roots.fetches === 2, 'the view to block')
  watcher.sync([new FakeDependency('connect.roots')])
  watcher.sync([roots])
  await new Promise((r) => setTimeout(r, 50))
  t.equal(roots.fetches, 2, 'no restart: no new fetch')
  t.equal(roots.aborted, 0, 'the open query was not cancelled')
})

t.test('views no longer wanted are stopped and their queries cancelled', async (t) => {
  const { watcher } = setup(t)
  const api = new FakeDependency('health.connect(api)')
  const db = new FakeDependency('health.connect(db@dc2)')
  watcher.sync([api, db])
  await until(() => api.fetches === 2 && db.fetches === 2, 'both views to block')
  watcher.sync([db])
  t.same(watcher.watching(), ['health.connect(db@dc2)'])
  await until(() => api.aborted === 1, 'the unused query to be cancelled')
  t.equal(db.aborted, 0, 'the wanted query stays open')
  watcher.sync([])
  t.same(watcher.watching(), [])
  await until(() => db.aborted === 1, 'the last query to be cancelled')
})

t.test('a dependency removed and then wanted again gets a fresh view', async (t) => {
  const { watcher, data } = setup(t)
  const kv = new FakeDependency('kv.get(app/config)')
  watcher.sync([kv])
  await until(() => kv.fetches === 2, 'the view to block')
  watcher.sync([])
  await until(() => kv.aborted === 1, 'the query to be cancelled')
  watcher.sync([kv])
  await until(() => kv.fetches === 4, 'the new view to block')
  t.equal(data.length, 2, 'the new view delivers the data again')
})

t.test('stop() cancels every query and forgets every view', async (t) => {
  const { watcher } = setup(t)
  const deps = ['a', 'b', 'c'].map((id) => new FakeDependency(`kv.get(${id})`))
  watcher.sync(deps)
  await until(() => deps.every((d) => d.fetches === 2), 'all views to block')
  await watcher.stop()
  t.same(watcher.watching(), [])
  t.same(
    deps.map((d) => d.aborted),
    [1, 1, 1],
  )
})
