/**
 * A view is one blocking loop, and each Consul rule it follows is a way a
 * sidecar could go wrong: re-rendering on every wait timeout, blocking forever
 * on an index that went backwards after an agent restart, hammering a sick
 * agent, or hanging on shutdown. Real agents do not misbehave on demand, so
 * these are fault tests against a scripted local stub; the happy path against
 * a real agent is in test/integration.
 */
import t, { type Test } from 'tap'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { ConsulClient } from '../../../src/consul/client.ts'
import type { Dependency, FetchOptions, FetchResult } from '../../../src/dependency/dependency.ts'
import { HealthConnectDependency } from '../../../src/dependency/health-connect.ts'
import type { HealthEntry } from '../../../src/dependency/health-entry.ts'
import { KvGetDependency, type KvValue } from '../../../src/dependency/kv-get.ts'
import { PreparedQueryDependency } from '../../../src/dependency/prepared-query.ts'
import { ConsulHttpError, ConsulResponseError, ConsulUnreachableError } from '../../../src/errors.ts'
import { IntentionsMatchDependency } from '../../../src/dependency/intentions-match.ts'
import { createLogger, silentLogger } from '../../../src/log.ts'
import type { Backoff } from '../../../src/watch/backoff.ts'
import { View, type ViewOptions } from '../../../src/watch/view.ts'

type Reply = { index?: number; status?: number; text?: string; json?: unknown; headers?: Record<string, string> } | 'hang' | 'reset'

/** KV body for app/config holding `value`. */
const kv = (index: number, value: string): Reply => ({ index, json: [{ Key: 'app/config', Value: Buffer.from(value).toString('base64'), ModifyIndex: index }] })

/** A stub agent whose n-th answer (0-based) is `script(n)`; requests are recorded in order. */
async function scriptedAgent(t: Test, script: (n: number) => Reply, token?: string) {
  const requests: URL[] = []
  const closed: Promise<void>[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const n = requests.push(new URL(req.url!, 'http://stub')) - 1
    closed[n] = new Promise((resolve) => res.on('close', () => resolve()))
    answer(res, script(n), req.socket)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const client = new ConsulClient({ address: `127.0.0.1:${(server.address() as AddressInfo).port}`, token })
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await client.close()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return { client, requests, closed }
}

function answer(res: ServerResponse, reply: Reply, socket: Socket) {
  if (reply === 'hang') return
  if (reply === 'reset') return void socket.destroy()
  const headers: Record<string, string> = { ...(reply.index === undefined ? {} : { 'x-consul-index': String(reply.index) }), ...reply.headers }
  res.writeHead(reply.status ?? 200, headers)
  res.end(reply.text ?? JSON.stringify(reply.json))
}

/** Polls `cond` until true; fails after a generous bound instead of hanging. */
async function until(cond: () => boolean, what: string, boundMs = 5_000) {
  const started = Date.now()
  while (!cond()) {
    if (Date.now() - started > boundMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function recorder() {
  const data: unknown[] = []
  const errors: unknown[] = []
  return { data, errors, events: { onData: (_id: string, d: unknown) => data.push(d), onError: (_id: string, e: unknown) => errors.push(e) } }
}

const fast = (over: Partial<ViewOptions> = {}): ViewOptions => ({
  waitMs: 60_000,
  minIntervalMs: 5,
  pollIntervalMs: 10_000,
  backoff: { delay: () => 5 },
  ...over,
})

const values = (data: unknown[]) => data.map((d) => (d as KvValue).Value)

t.test('fault stub: a same-index answer is a wait timeout and renders nothing', async (t) => {
  const script = [kv(10, 'a'), kv(10, 'ignored: same index'), kv(11, 'b')]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 4, 'the fourth (blocking) request')
  await view.stop()
  t.same(values(rec.data), ['a', 'b'])
  t.notOk(requests[0]!.searchParams.has('index'), 'the first read does not block')
  t.equal(requests[1]!.searchParams.get('index'), '10')
  t.equal(requests[1]!.searchParams.get('wait'), '60000ms')
  t.equal(requests[2]!.searchParams.get('index'), '10', 'after a timeout the same index is asked again')
  t.equal(requests[3]!.searchParams.get('index'), '11')
  t.same(rec.errors, [])
})

t.test('fault stub: an index that goes backwards resets to 0 and the data still arrives', async (t) => {
  const script = [kv(50, 'before restart'), kv(7, 'after restart'), kv(8, 'after restart')]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 4, 'the fourth request')
  await view.stop()
  t.same(values(rec.data), ['before restart', 'after restart'])
  t.equal(requests[1]!.searchParams.get('index'), '50')
  t.notOk(requests[2]!.searchParams.has('index'), 'after going backwards the next read starts from 0')
  t.notOk(requests[2]!.searchParams.has('wait'))
  t.equal(requests[3]!.searchParams.get('index'), '8', 'then blocking resumes from the new index')
})

t.test('fault stub: a new index with deep-equal data is dropped', async (t) => {
  const script = [kv(10, 'a'), kv(11, 'a'), kv(12, 'c')]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 4, 'the fourth request')
  await view.stop()
  t.same(values(rec.data), ['a', 'c'])
  t.equal(requests[2]!.searchParams.get('index'), '11', 'the index still advances')
})

t.test('fault stub: a health answer with the same text is dropped by its digest, a changed one delivered', async (t) => {
  const entry = (port: number) => ({ Node: { Node: 'n1', Address: '10.0.0.5', Datacenter: 'dc1' }, Service: { ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Port: port, Proxy: { DestinationServiceName: 'api' } }, Checks: [] })
  const script: Reply[] = [
    { index: 10, json: [entry(1)] },
    { index: 11, json: [entry(1)] },
    { index: 12, json: [entry(2)] },
    { index: 13, json: [entry(1)] },
    { index: 14, text: JSON.stringify([entry(1)], null, 1) },
  ]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new HealthConnectDependency('api'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 6, 'the sixth request')
  await view.stop()
  const ports = rec.data.map((d) => (d as HealthEntry[]).map((e) => e.Port))
  t.same(ports.slice(0, 3), [[1], [2], [1]], 'index 11 repeats index 10 and is dropped; 13 returns to 10 and is not')
  t.same(ports.slice(3), [[1]], 'the same data in other text is delivered again (the digest is of the text; a render of it changes nothing)')
})

t.test('fault stub: errors go to onError, retry with backoff, and keep the last good data', async (t) => {
  const script: Reply[] = [
    { status: 500, text: 'No cluster leader' },
    'reset',
    { status: 200, index: 3, text: '[{"Key": "app/config", "Val' },
    kv(3, 'a'),
    { status: 403, text: 'Permission denied: token lacks permission \'key:read\' on "app/config"' },
    kv(3, 'a'),
  ]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const attempts: number[] = []
  const backoff: Backoff = { delay: (n) => (attempts.push(n), 5) }
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast({ backoff }))
  view.start()
  await until(() => requests.length === 7, 'the seventh request')
  await view.stop()

  t.equal(rec.errors.length, 4)
  t.ok(rec.errors[0] instanceof ConsulHttpError)
  t.match(rec.errors[0], { status: 500, message: /No cluster leader/ })
  t.ok(rec.errors[1] instanceof ConsulUnreachableError, 'a reset is reported as unreachable')
  t.ok(rec.errors[2] instanceof ConsulResponseError, 'malformed JSON is reported as an invalid response')
  t.match(rec.errors[3], { status: 403, message: /Permission denied/ })
  t.same(attempts, [1, 2, 3, 1], 'backoff grows with each failure and restarts after a success')
  t.same(values(rec.data), ['a'], 'after the error the same data is not delivered again')
  t.equal(requests[5]!.searchParams.get('index'), '3', 'an error does not lose the index')
})

t.test('fault stub: stop() aborts an in-flight blocking request promptly', async (t) => {
  const { client, requests, closed } = await scriptedAgent(t, (n) => (n === 0 ? kv(5, 'a') : 'hang'))
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 2, 'the blocking request')
  const started = Date.now()
  await view.stop()
  t.ok(Date.now() - started < 2_000, 'stop did not wait for the 60 s blocking query')
  let socketClosed = false
  void closed[1]!.then(() => (socketClosed = true))
  await until(() => socketClosed, 'the stub to see the request go away')
  t.ok(socketClosed, 'the request was cancelled on the wire')
  t.same(rec.errors, [], 'stopping is not an error')
  t.equal(requests.length, 2, 'no request after stop')
})

t.test('fault stub: stop() also ends a backoff sleep', async (t) => {
  const { client } = await scriptedAgent(t, () => ({ status: 500, text: 'No cluster leader' }))
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast({ backoff: { delay: () => 60_000 } }))
  view.start()
  await until(() => rec.errors.length === 1, 'the first error')
  const started = Date.now()
  await view.stop()
  t.ok(Date.now() - started < 2_000, 'stop did not wait out the 60 s backoff')
})

t.test('fault stub: an index that changes on every answer cannot make the view spin', async (t) => {
  const { client, requests } = await scriptedAgent(t, (n) => kv(100 + n, `v${n}`))
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast({ minIntervalMs: 200 }))
  view.start()
  await new Promise((r) => setTimeout(r, 1_000))
  await view.stop()
  t.ok(requests.length >= 2, `kept watching (${requests.length} requests)`)
  t.ok(requests.length <= 7, `at most one request per 200 ms (${requests.length} in 1 s)`)
  t.ok(rec.data.length >= requests.length - 1, 'each changed answer was delivered (bar one cut short by stop)')
})

t.test('fault stub: a prepared query is polled on its interval, never as a blocking query', async (t) => {
  const { client, requests } = await scriptedAgent(t, () => ({ json: { Service: 'db', Nodes: [], Datacenter: 'dc1' } }))
  const rec = recorder()
  const view = new View(new PreparedQueryDependency('db'), client, rec.events, silentLogger, fast({ pollIntervalMs: 200 }))
  view.start()
  await new Promise((r) => setTimeout(r, 1_000))
  await view.stop()
  t.ok(requests.length >= 2 && requests.length <= 7, `polled every 200 ms (${requests.length} requests in 1 s)`)
  t.ok(requests.every((u) => !u.searchParams.has('index') && !u.searchParams.has('wait')))
  t.equal(rec.data.length, 1, 'unchanged poll results are delivered once')
})

t.test('hash-blocking dependencies send back the last content hash', async (t) => {
  const seen: FetchOptions[] = []
  const answers: Array<FetchResult<string>> = [
    { data: 'proxy v1', hash: 'h1' },
    { data: 'proxy v1', hash: 'h1' },
    { data: 'proxy v2', hash: 'h2' },
  ]
  const dep: Dependency<string> = {
    id: 'agent.service(web-sidecar-proxy)',
    blocking: 'hash',
    answeredBy: 'agent',
    fetch: (_c, o) => {
      seen.push({ ...o, signal: undefined })
      const next = answers.shift()
      if (next) return Promise.resolve(next)
      return new Promise((_resolve, reject) => o.signal?.addEventListener('abort', () => reject(new Error('aborted'))))
    },
  }
  const rec = recorder()
  const view = new View(dep, {} as ConsulClient, rec.events, silentLogger, fast())
  view.start()
  await until(() => seen.length === 4, 'the fourth fetch')
  await view.stop()
  t.same(rec.data, ['proxy v1', 'proxy v2'])
  t.same(
    seen.map((o) => o.hash),
    [undefined, 'h1', 'h1', 'h2'],
  )
  t.ok(seen.every((o) => o.waitMs === 60_000))
  t.same(rec.errors, [])
})

t.test('fault stub: a stale answer older than max stale is dropped and asked again of the leader (consul-template\'s max_stale)', async (t) => {
  const lagging = (index: number, value: string, lastContactMs: number): Reply => ({ ...(kv(index, value) as object), headers: { 'x-consul-lastcontact': String(lastContactMs) } })
  const script = [lagging(10, 'old', 5_000), lagging(12, 'from the leader', 0), lagging(13, 'stale again', 40)]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 4, 'the fourth request')
  await view.stop()
  t.same(values(rec.data), ['from the leader', 'stale again'], 'the answer 5 s behind the leader never renders')
  t.ok(requests[0]!.searchParams.has('stale'), 'the first read is stale')
  t.notOk(requests[1]!.searchParams.has('stale'), 'the answer was 5 s behind the leader: the next read goes to the leader')
  t.notOk(requests[1]!.searchParams.has('index'), 'and the dropped answer\'s index is not used')
  t.ok(requests[2]!.searchParams.has('stale'), 'then reads are stale again')
  t.equal(requests[2]!.searchParams.get('index'), '12')
  t.ok(requests[3]!.searchParams.has('stale'), '40 ms behind is within max stale (2 s)')
})

t.test('fault stub: the leader read is one read: after it fails, reads are stale again', async (t) => {
  const script: Reply[] = [{ ...(kv(10, 'old') as object), headers: { 'x-consul-lastcontact': '3000' } }, { status: 500, text: 'No cluster leader' }, kv(11, 'fresh')]
  const { client, requests } = await scriptedAgent(t, (n) => script[n] ?? 'hang')
  const rec = recorder()
  const view = new View(new KvGetDependency('app/config'), client, rec.events, silentLogger, fast())
  view.start()
  await until(() => requests.length === 4, 'the fourth request')
  await view.stop()
  t.same(requests.slice(0, 3).map((u) => u.searchParams.has('stale')), [true, false, true])
  t.same(values(rec.data), ['fresh'])
  t.equal(rec.errors.length, 1)
})

t.test('fault stub: max stale 0 reads at default consistency; cached reads never fall back', async (t) => {
  const { client, requests } = await scriptedAgent(t, (n) => (n === 0 ? kv(3, 'a') : 'hang'))
  const view = new View(new KvGetDependency('app/config'), client, recorder().events, silentLogger, fast({ maxStaleMs: 0 }))
  view.start()
  await until(() => requests.length === 2, 'the blocking request')
  await view.stop()
  t.ok(requests.every((u) => !u.searchParams.has('stale')))

  const slow = { index: 4, json: { web: [] }, headers: { 'x-consul-lastcontact': '9000', 'x-cache': 'HIT', age: '0' } }
  const cached = await scriptedAgent(t, (n) => (n === 0 ? slow : 'hang'))
  const rec = recorder()
  const intentions = new View(new IntentionsMatchDependency('web'), cached.client, rec.events, silentLogger, fast())
  intentions.start()
  await until(() => cached.requests.length === 2, 'the blocking request')
  await intentions.stop()
  t.same(rec.data, [[]], 'the agent\'s cache refreshes itself: its answer is used')
  t.ok(cached.requests[1]!.searchParams.has('cached'))
})

t.test('each answer is logged at debug level with where it came from: X-Cache, Age, backend, last contact; never the token', async (t) => {
  const lines: string[] = []
  const log = createLogger('debug', 'text', (l) => lines.push(l)).child('view connect.intentions(web)')
  const answers: Reply[] = [
    { index: 4, json: { web: [] }, headers: { 'x-cache': 'MISS', 'x-consul-query-backend': 'blocking-query', 'x-consul-lastcontact': '0' } },
    { index: 4, json: { web: [] }, headers: { 'x-cache': 'HIT', age: '17', 'x-consul-query-backend': 'blocking-query', 'x-consul-lastcontact': '0' } },
  ]
  const { client, requests } = await scriptedAgent(t, (n) => answers[n] ?? 'hang', 'secret-token-value')
  const view = new View(new IntentionsMatchDependency('web'), client, recorder().events, log, fast())
  view.start()
  await until(() => requests.length === 3, 'the third request')
  await view.stop()
  const answerLines = lines.filter((l) => / answer /.test(l))
  t.equal(answerLines.length, 2, lines.join('\n'))
  t.match(answerLines[0], /DEBUG \[view connect\.intentions\(web\)\] answer index=4 cache=MISS backend=blocking-query lastContact=0ms$/)
  t.match(answerLines[1], /answer index=4 cache=HIT age=17s backend=blocking-query lastContact=0ms$/, 'a cache hit says how old it is')
  t.notOk(lines.some((l) => l.includes('secret-token-value')), 'the token is never logged')
})
