/**
 * Who answers each watch, asked of a real agent. A blocking query at Consul's default
 * consistency is forwarded to the leader, so each sidecar's watch would wake there on every
 * change; meshplate reads through the agent's cache or streaming view (`?cached`) where Consul
 * has one and from any server (`?stale`) where it does not. For each changed watch this runs
 * the real View and checks, from the headers the agent sent (logged at debug level), that the
 * cache or the streaming view answered, and that the blocking query still wakes on a change
 * well inside its wait. With ACLs, the cache keeps one entry per token.
 */
import t, { type Test } from 'tap'
import { ConsulClient } from '../../src/consul/client.ts'
import { ConfigEntryDependency } from '../../src/dependency/config-entry.ts'
import type { Dependency } from '../../src/dependency/dependency.ts'
import { DiscoveryChainDependency, type CompiledChain } from '../../src/dependency/discovery-chain.ts'
import { HealthConnectDependency } from '../../src/dependency/health-connect.ts'
import type { HealthEntry } from '../../src/dependency/health-entry.ts'
import { HealthServiceDependency } from '../../src/dependency/health-service.ts'
import { IntentionsMatchDependency, type Intention } from '../../src/dependency/intentions-match.ts'
import { KvGetDependency, type KvValue } from '../../src/dependency/kv-get.ts'
import { PreparedQueryDependency } from '../../src/dependency/prepared-query.ts'
import { createLogger } from '../../src/log.ts'
import { exponentialBackoff } from '../../src/watch/backoff.ts'
import { View } from '../../src/watch/view.ts'
import { startConsul, type ConsulAgent } from '../support/consul.ts'

/** Long enough that an answer within a few seconds of a write is a woken query, not a timeout. */
const WAIT_MS = 30_000
/** How long a change may take to reach the view. */
const WAKE_BOUND_MS = 5_000

interface Answer {
  index?: number
  cache?: string
  age?: string
  backend?: string
  lastContact?: string
}

/** A real View on `dep`, recording its data (with arrival times) and the answers it logged at debug level. */
function watch<T>(t: Test, client: ConsulClient, dep: Dependency<T>, pollIntervalMs = 10_000) {
  const answers: Answer[] = []
  const data: Array<{ at: number; value: T }> = []
  const log = createLogger('debug', 'json', (line) => {
    const entry = JSON.parse(line) as Answer & { msg: string }
    if (entry.msg === 'answer') answers.push(entry)
  })
  const view = new View(dep, client, { onData: (_id, value) => data.push({ at: Date.now(), value: value as T }), onError: () => {} }, log.child(`view ${dep.id}`), {
    waitMs: WAIT_MS,
    minIntervalMs: 100,
    pollIntervalMs,
    backoff: exponentialBackoff(100, 1_000),
  })
  view.start()
  t.teardown(() => view.stop())
  /** Resolves with the first data delivered after `since` that satisfies `ok`, and how long it took. */
  const next = async (since: number, ok: (value: T) => boolean, what: string) => {
    const deadline = Date.now() + WAKE_BOUND_MS + 5_000
    while (Date.now() < deadline) {
      const hit = data.find((d) => d.at >= since && ok(d.value))
      if (hit) return { value: hit.value, ms: hit.at - since }
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error(`no data for ${what} within ${WAKE_BOUND_MS + 5_000} ms; answers: ${JSON.stringify(answers)}`)
  }
  return { answers, data, next }
}

/** Starts a view, waits for its first data, then checks that `change` wakes its blocking query. */
async function wakes<T>(
  t: Test,
  client: ConsulClient,
  dep: Dependency<T>,
  first: (v: T) => boolean,
  change: () => Promise<void>,
  changed: (v: T) => boolean,
): Promise<Answer[]> {
  const w = watch(t, client, dep)
  await w.next(0, first, `${dep.id}: first data`)
  // Let the view's blocking query reach the agent before the change.
  await new Promise((r) => setTimeout(r, 500))
  const before = w.answers.length
  const at = Date.now()
  await change()
  const { ms } = await w.next(at, changed, `${dep.id}: the change`)
  t.ok(ms < WAKE_BOUND_MS, `${dep.id}: the blocking query woke ${ms} ms after the write (wait ${WAIT_MS} ms)`)
  t.ok(w.answers.length > before, `${dep.id}: answered by the query already waiting`)
  t.comment(`${dep.id}: ${w.answers.map((a) => JSON.stringify(a)).join(' ')}`)
  return w.answers
}

async function agent(t: Test): Promise<{ consul: ConsulAgent; client: ConsulClient }> {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  const client = new ConsulClient({ address: consul.addr })
  t.teardown(() => client.close())
  await consul.registerWithSidecar({ id: 'api-1', name: 'api', port: 9001, sidecarPort: 21001 })
  return { consul, client }
}

const put = async (consul: ConsulAgent, path: string, body: unknown) => {
  const res = await consul.api('PUT', path, body)
  if (res.status !== 200) throw new Error(`PUT ${path}: ${res.status} ${res.text}`)
}

t.test('intentions/match: the agent\'s cache answers, and an intention write wakes the watch', async (t) => {
  const { consul, client } = await agent(t)
  await consul.intention('web', 'api', 'allow')
  const answers = await wakes(
    t, client, new IntentionsMatchDependency('api'),
    (v: Intention[]) => v.length === 1,
    () => consul.intention('admin', 'api', 'deny'),
    (v) => v.some((i) => i.SourceName === 'admin'),
  )
  t.equal(answers[0]!.cache, 'MISS', 'the first read fills the cache')
  t.ok(answers.every((a) => a.cache === 'HIT' || a.cache === 'MISS'), 'every answer came from the agent\'s cache (X-Cache; a read Consul answers itself has none)')
  // A blocking read that waited for the agent's refresh says MISS; another sidecar (same token) reading now shares the entry.
  const other = new ConsulClient({ address: consul.addr })
  t.teardown(() => other.close())
  const shared = await new IntentionsMatchDependency('api').fetch(other, { waitMs: 1 })
  t.match(shared.meta, { cache: 'HIT', ageS: 0 }, 'a second reader is answered from the same entry, kept fresh by the agent (Age 0 while it is in touch with the servers)')
  t.equal(shared.data.length, 2, 'with the intention just written')
})

t.test('discovery-chain: the agent\'s cache answers GET and POST (protocol override), and a resolver write wakes both', async (t) => {
  const { consul, client } = await agent(t)
  for (const protocol of ['', 'http']) {
    const timeout = protocol ? '7s' : '9s'
    const answers = await wakes(
      t, client, new DiscoveryChainDependency('api', '', protocol),
      (c: CompiledChain) => c.Protocol === (protocol || 'tcp'),
      () => put(consul, '/v1/config', { Kind: 'service-resolver', Name: 'api', ConnectTimeout: timeout }),
      (c) => Object.values(c.Nodes).some((n) => n.Type === 'resolver' && n.Resolver.ConnectTimeoutMs === (protocol ? 7000 : 9000)),
    )
    t.equal(answers[0]!.cache, 'MISS', `${protocol || 'GET'}: the first read fills the cache${protocol ? ' (an entry apart from the GET\'s: the key holds the protocol)' : ''}`)
    t.ok(answers.every((a) => a.cache === 'HIT' || a.cache === 'MISS'), `${protocol || 'GET'}: every answer came from the agent's cache`)
  }
})

t.test('health/connect: the streaming view answers every call, the first included, and an instance joining wakes it', async (t) => {
  const { consul, client } = await agent(t)
  const answers = await wakes(
    t, client, new HealthConnectDependency('api'),
    (v: HealthEntry[]) => v.length === 1,
    () => consul.registerWithSidecar({ id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002 }),
    (v) => v.length === 2,
  )
  t.ok(answers.every((a) => a.backend === 'streaming'), `X-Consul-Query-Backend: streaming on every answer (${answers.map((a) => a.backend).join(', ')})`)
  t.ok(answers.every((a) => a.cache !== undefined), 'and X-Cache on every answer')
})

t.test('config entries: any server answers (?stale), and a config entry write wakes the watch', async (t) => {
  const { consul, client } = await agent(t)
  const answers = await wakes(
    t, client, new ConfigEntryDependency('service-defaults', 'api'),
    (v) => v === null,
    () => put(consul, '/v1/config', { Kind: 'service-defaults', Name: 'api', Protocol: 'http' }),
    (v) => v?.Protocol === 'http',
  )
  t.ok(answers.every((a) => a.cache === undefined), 'no agent cache for config entries')
  t.equal(answers.at(-1)!.lastContact, '0ms', 'the server that answered says how far behind the leader it is (X-Consul-LastContact; a dev agent is the leader)')
  const mesh = await wakes(
    t, client, new ConfigEntryDependency('mesh', 'mesh'),
    (v) => v === null,
    () => put(consul, '/v1/config', { Kind: 'mesh', TransparentProxy: { MeshDestinationsOnly: true } }),
    (v) => v?.Kind === 'mesh',
  )
  t.ok(mesh.every((a) => a.cache === undefined), 'the mesh entry too')
})

t.test('service() and key(): stale reads as consul-template makes them, still woken by a change', async (t) => {
  const { consul, client } = await agent(t)
  const service = await wakes(
    t, client, new HealthServiceDependency('api'),
    (v: HealthEntry[]) => v.length === 1,
    () => consul.registerWithSidecar({ id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002 }),
    (v) => v.length === 2,
  )
  t.ok(service.slice(1).every((a) => a.backend === 'streaming'), 'blocking health reads ride the agent\'s streaming view')
  await wakes(
    t, client, new KvGetDependency('app/config'),
    (v: KvValue) => !v.Exists,
    () => put(consul, '/v1/kv/app/config', 'max_conn = 2000'),
    (v) => v.Value === 'max_conn = 2000',
  )
})

t.test('prepared queries: the agent\'s cache answers, at most one poll interval old', async (t) => {
  const { consul, client } = await agent(t)
  const made = await consul.api('POST', '/v1/query', { Name: 'api-query', Service: { Service: 'api', Connect: true } })
  t.equal(made.status, 200, `the prepared query is made ${made.status === 200 ? '' : made.text}`)
  const w = watch(t, client, new PreparedQueryDependency('api-query'), 1_000)
  await w.next(0, (v) => v.length === 1, 'the first execution')
  await new Promise((r) => setTimeout(r, 2_500))
  const at = Date.now()
  await consul.registerWithSidecar({ id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002 })
  const { ms } = await w.next(at, (v) => v.length === 2, 'the second instance')
  t.ok(ms < 4_000, `the new instance was seen ${ms} ms after it joined (poll 1 s, max-age 1 s)`)
  t.equal(w.answers[0]!.cache, 'MISS', 'the first execution fills the cache')
  t.ok(w.answers.every((a) => a.cache === 'HIT' || a.cache === 'MISS'), 'every execution came through the agent\'s cache')
  t.ok(w.answers.some((a) => a.cache === 'HIT'), 'some polls were answered from it')
  t.ok(w.answers.every((a) => a.age === undefined || Number.parseInt(a.age) <= 1), `no hit older than max-age (ages: ${w.answers.map((a) => a.age ?? '-').join(' ')})`)
  t.comment(`query.execute(api-query): ${w.answers.map((a) => JSON.stringify(a)).join(' ')}`)
})

t.test('with ACLs the agent\'s cache keeps one entry per token: two sidecars\' tokens do not share it', async (t) => {
  const root = 'root-secret-token'
  const consul = await startConsul({ hcl: ['acl { enabled = true\n default_policy = "deny"\n tokens { initial_management = "' + root + '" } }'], token: root })
  t.teardown(() => consul.stop())
  const token = async () => {
    const res = await consul.api('PUT', '/v1/acl/token', { Description: 'sidecar', ServiceIdentities: [{ ServiceName: 'api' }] })
    if (res.status !== 200) throw new Error(`token: ${res.status} ${res.text}`)
    return res.body.SecretID as string
  }
  const [a, b] = [await token(), await token()]
  await consul.registerWithSidecar({ id: 'api-1', name: 'api', port: 9001, sidecarPort: 21001 })
  const cacheOf = async (secret: string, dep: Dependency) => {
    const client = new ConsulClient({ address: consul.addr, token: secret })
    try {
      return (await dep.fetch(client, { waitMs: 1 })).meta?.cache
    } finally {
      await client.close()
    }
  }
  for (const dep of [new IntentionsMatchDependency('api'), new DiscoveryChainDependency('api'), new HealthConnectDependency('api')]) {
    t.equal(await cacheOf(a, dep), 'MISS', `${dep.id}: allocation A's token, the first read fills an entry`)
    t.equal(await cacheOf(a, dep), 'HIT', `${dep.id}: A again, its entry`)
    t.equal(await cacheOf(b, dep), 'MISS', `${dep.id}: allocation B's token (same service identity), an entry of its own`)
    t.equal(await cacheOf(b, dep), 'HIT', `${dep.id}: B again`)
  }
})
