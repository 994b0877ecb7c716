/**
 * `--wait min:max` is one timer for all templates: a burst of changes makes
 * one flush, quiet for `min`, but never later than `max` after the first
 * change; with no wait a flush happens on the next turn of the event loop.
 */
import t from 'tap'
import { Quiescence } from '../../../src/runner/quiescence.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('a burst of triggers flushes once, after the quiet period', async (t) => {
  let flushes = 0
  const q = new Quiescence(80, 1_000, () => flushes++)
  for (let i = 0; i < 5; i++) {
    q.trigger()
    await sleep(20)
  }
  t.equal(flushes, 0, 'nothing while changes keep coming')
  await sleep(200)
  t.equal(flushes, 1, 'one flush for the burst')
})

t.test('max bounds the delay under continuous changes', async (t) => {
  let flushes = 0
  const q = new Quiescence(100, 250, () => flushes++)
  const started = Date.now()
  while (Date.now() - started < 600) {
    q.trigger()
    await sleep(30)
  }
  q.cancel()
  t.ok(flushes >= 2, `flushed ${flushes} times in 600 ms of changes every 30 ms, although min (100 ms) never passed quietly`)
})

t.test('with no wait, triggers in one tick flush once, on the next turn', async (t) => {
  let flushes = 0
  const q = new Quiescence(0, 0, () => flushes++)
  q.trigger()
  q.trigger()
  q.trigger()
  t.equal(flushes, 0, 'not synchronously')
  await new Promise((r) => setImmediate(r))
  t.equal(flushes, 1)
})

t.test('cancel drops a pending flush', async (t) => {
  let flushes = 0
  const q = new Quiescence(30, 100, () => flushes++)
  q.trigger()
  q.cancel()
  const z = new Quiescence(0, 0, () => flushes++)
  z.trigger()
  z.cancel()
  await sleep(80)
  t.equal(flushes, 0)
})
