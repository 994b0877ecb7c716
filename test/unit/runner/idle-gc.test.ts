/**
 * The idle collection: a full (major) GC once the process has been quiet for
 * `quietMs` after a batch, none while batches keep coming, and at most one
 * per `minIntervalMs`. Observed through Node's own GC performance entries.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks'
import t from 'tap'
import { IdleGc } from '../../../src/runner/idle-gc.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function majorGcs(): { count: () => number; stop: () => void } {
  let n = 0
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e.detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++
  })
  obs.observe({ entryTypes: ['gc'] })
  return { count: () => n, stop: () => obs.disconnect() }
}

t.test('one major GC after the quiet period, none while batches keep coming, then none before minInterval', async (t) => {
  const gcs = majorGcs()
  t.teardown(gcs.stop)
  // Generous times, so a loaded machine's late timers cannot reorder what is checked.
  const idle = new IdleGc(1_000, 3_000)
  t.teardown(() => idle.cancel())
  for (let i = 0; i < 5; i++) {
    idle.after()
    await sleep(20)
  }
  t.equal(gcs.count(), 0, 'no collection while batches keep coming')
  await sleep(1_500)
  t.equal(gcs.count(), 1, 'one collection once the batches stopped for quietMs')
  idle.after()
  await sleep(1_200)
  t.equal(gcs.count(), 1, 'another batch: none before minIntervalMs')
  await sleep(2_500)
  t.equal(gcs.count(), 2, 'then one more once the interval has passed')
})
