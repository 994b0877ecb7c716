/**
 * After an agent restart every sidecar on the host retries at once. The
 * backoff must grow, stop growing at 60 s, and spread retries with jitter so
 * they do not arrive in step. `random` is injected so the bounds are exact.
 */
import t from 'tap'
import { ConsulHttpError, ConsulUnreachableError } from '../../../src/errors.ts'
import { cappedDelay, exponentialBackoff, retryCapMs, sleep } from '../../../src/watch/backoff.ts'

t.test('the ceiling doubles from 250 ms and stops at 60 s', async (t) => {
  const high = exponentialBackoff(250, 60_000, () => 1)
  t.same(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => high.delay(n)),
    [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000],
  )
  t.equal(high.delay(10_000), 60_000, 'a huge attempt number stays at the cap')
  t.equal(high.delay(0), 250, 'attempt 0 is treated as the first')
})

t.test('jitter keeps each delay between half the ceiling and the ceiling', async (t) => {
  const at = (r: number) => exponentialBackoff(250, 60_000, () => r)
  t.equal(at(0).delay(1), 125)
  t.equal(at(0).delay(4), 1_000)
  t.equal(at(0).delay(20), 30_000, 'even at the cap a retry waits at least half of it')
  t.equal(at(0.5).delay(3), 750)
  t.equal(at(0.5).delay(20), 45_000)
  t.ok(at(0.999999).delay(20) <= 60_000)
})

t.test('with the real random source, delays spread within the bounds', async (t) => {
  const backoff = exponentialBackoff()
  const delays = Array.from({ length: 200 }, () => backoff.delay(5))
  t.ok(delays.every((d) => d >= 2_000 && d <= 4_000), 'attempt 5 waits 2–4 s')
  t.ok(new Set(delays).size > 10, 'retries are not in step')
})

t.test('custom base and cap are honoured', async (t) => {
  const b = exponentialBackoff(10, 35, () => 1)
  t.same([1, 2, 3, 4].map((n) => b.delay(n)), [10, 20, 35, 35])
})

t.test('sleep resolves after the delay, or at once when aborted', async (t) => {
  let done = false
  const p = sleep(20).then(() => (done = true))
  t.equal(done, false, 'does not resolve synchronously')
  await p
  t.equal(done, true)

  const abort = new AbortController()
  const started = Date.now()
  const long = sleep(60_000, abort.signal)
  setTimeout(() => abort.abort(), 10)
  await long
  t.ok(Date.now() - started < 5_000, 'an abort ends a 60 s sleep early')

  const already = new AbortController()
  already.abort()
  const s2 = Date.now()
  await sleep(60_000, already.signal)
  t.ok(Date.now() - s2 < 5_000, 'an already-aborted signal does not sleep')
})

t.test('a 404 or an unreachable agent is retried within 1 s; other errors get the full backoff', async (t) => {
  t.equal(retryCapMs(new ConsulHttpError('GET /v1/agent/service/x', 404, 'unknown service ID')), 1_000, 'a missing registration is an answer')
  t.equal(retryCapMs(new ConsulUnreachableError('GET /v1/agent/self', 'connect ECONNREFUSED')), 1_000, 'the local agent down')
  t.equal(retryCapMs(new ConsulHttpError('GET /v1/kv/x', 503, 'rate limited')), Infinity, 'rate limiting backs off fully')
  t.equal(retryCapMs(new ConsulHttpError('GET /v1/kv/x', 403, 'Permission denied')), Infinity)
  for (const body of ['No known Consul servers', 'No cluster leader', 'rpc error making call: EOF', 'rpc error making call: dial tcp 127.0.0.1:8300: connect: connection refused']) {
    t.equal(retryCapMs(new ConsulHttpError('GET /v1/connect/intentions/match', 500, body)), 4_000, `servers away (${body}): retried within 4 s`)
  }
  t.equal(retryCapMs(new ConsulHttpError('GET /v1/health/connect/api', 500, 'rpc error making call: Failed to parse filter')), Infinity, 'a server that answers with an error backs off fully')
  t.equal(cappedDelay(500, 2_000), 500, 'a short delay is kept')
  const capped = cappedDelay(58_036, 2_000, () => 0.5)
  t.equal(capped, 1_500, 'a long one is jittered within the cap')
})
