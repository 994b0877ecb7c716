/**
 * The emulating proxy (test/support/consul-emulated.ts) against a real Consul
 * 1.14.11 agent: blocking queries pass through it unchanged (held as long as
 * the agent holds them, released when the index moves, the index and the
 * agent's headers passed on), a rewritten body keeps one body per index, hash
 * blocking still works on a rewritten registration, and the rewrites give the
 * shapes they claim (the peer target as 1.14.11 itself compiles one).
 */
import t from 'tap'
import { startConsul } from '../support/consul.ts'
import { startEmulatedConsul } from '../support/consul-emulated.ts'
import * as rw from '../support/consul-rewrites.ts'

const consul = await startConsul()
const emu = await startEmulatedConsul(consul.addr)
t.teardown(async () => {
  await emu.stop()
  await consul.stop()
})

interface Got {
  status: number
  ms: number
  headers: Headers
  text: string
  json: any
}

async function via(path: string, init: RequestInit = {}, addr = emu.addr): Promise<Got> {
  const started = Date.now()
  const res = await fetch(`http://${addr}${path}`, init)
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, ms: Date.now() - started, headers: res.headers, text, json }
}

const put = async (path: string, body: unknown) => {
  const res = await consul.api('PUT', path, body)
  if (res.status !== 200) throw new Error(`PUT ${path}: ${res.status} ${res.text}`)
}

t.test('a blocking query passes through: held while the index stands, released when it moves, headers passed on', async (t) => {
  await put('/v1/kv/emu/k', 'one')
  const first = await via('/v1/kv/emu/k')
  const direct = await via('/v1/kv/emu/k', {}, consul.addr)
  t.equal(first.status, 200)
  const index = Number(first.headers.get('x-consul-index'))
  t.ok(index > 0, `X-Consul-Index passed on (${index})`)
  t.equal(first.headers.get('x-consul-index'), direct.headers.get('x-consul-index'), 'the same index as the agent gives')
  t.equal(first.headers.get('x-consul-knownleader'), 'true', 'X-Consul-KnownLeader passed on')
  t.equal(first.text, direct.text, 'the body untouched')

  const idle = await via(`/v1/kv/emu/k?index=${index}&wait=1s`)
  t.ok(idle.ms >= 900, `with nothing changing, held for the agent's wait (${idle.ms} ms)`)
  t.equal(Number(idle.headers.get('x-consul-index')), index, 'and answered with the same index')

  const pending = via(`/v1/kv/emu/k?index=${index}&wait=20s`)
  await new Promise((r) => setTimeout(r, 500))
  await put('/v1/kv/emu/k', 'two')
  const moved = await pending
  t.ok(moved.ms >= 400 && moved.ms < 5_000, `released when the index moved (${moved.ms} ms), not at once and not at the wait`)
  t.ok(Number(moved.headers.get('x-consul-index')) > index, 'with the new index')
  t.equal(Buffer.from(moved.json[0].Value, 'base64').toString(), 'two', 'and the new value')
})

t.test('an index-blocking rewrite: the write after it is seen rewritten, even by a poll already waiting; one index, one body', async (t) => {
  await consul.registerWithSidecar({ name: 'ixapi', port: 9100, sidecarPort: 21100 })
  await put('/v1/config', { Kind: 'service-defaults', Name: 'ixapi', Protocol: 'http' })
  const rewrite = rw.headerIgnoreCase('ixweb', 'ixapi', 0, 0)
  const path = '/v1/connect/intentions/match?by=destination&name=ixapi'
  const empty = await via(path)
  const index = Number(empty.headers.get('x-consul-index'))
  const pending = via(`${path}&index=${index}&wait=20s`)
  await new Promise((r) => setTimeout(r, 300))
  // Switched on while the long poll waits, as a test does while a sidecar watches.
  t.teardown(emu.use(rewrite))
  await put('/v1/config', { Kind: 'service-intentions', Name: 'ixapi', Sources: [{ Name: 'ixweb', Permissions: [{ Action: 'deny', HTTP: { Header: [{ Name: 'x-role', Exact: 'admin' }] } }] }] })
  const moved = await pending
  t.ok(Number(moved.headers.get('x-consul-index')) > index, 'released by the write')
  t.same(moved.json.ixapi[0].Permissions[0].HTTP.Header[0], { Name: 'x-role', Exact: 'admin', IgnoreCase: true }, 'the 1.20.1 matcher')
  const again = await via(path)
  t.equal(again.headers.get('x-consul-index'), moved.headers.get('x-consul-index'), 'same index')
  t.equal(again.text, moved.text, 'same rewritten body')
  t.equal(emu.hits(rewrite.name), 2, 'counted once per rewritten answer')
  const real = await via(path, {}, consul.addr)
  t.notOk(real.json.ixapi[0].Permissions[0].HTTP.Header[0].IgnoreCase, 'the agent itself answers 1.14')
})

t.test('hash blocking on a rewritten registration', async (t) => {
  await consul.registerWithSidecar({ name: 'hweb', port: 9200, sidecarPort: 21200, upstreams: [{ DestinationName: 'ixapi', LocalBindPort: 9291 }] })
  const path = '/v1/agent/service/hweb-sidecar-proxy'
  const off = emu.use(rw.transparentRegistration('hweb-sidecar-proxy'))
  const first = await via(path)
  const hash = first.headers.get('x-consul-contenthash')!
  const agentHash = (await via(path, {}, consul.addr)).headers.get('x-consul-contenthash')
  t.equal(first.json.Proxy.Mode, 'transparent')
  t.same(first.json.Proxy.Upstreams.map((u: { DestinationName: string; LocalBindPort?: number }) => [u.DestinationName, u.LocalBindPort ?? null]), [['ixapi', 9291], ['db', null], ['cache', null]], 'the declared upstream plus two without LocalBindPort')
  t.match(hash, new RegExp(`^${agentHash}~[0-9a-f]+$`), "the agent's content hash, marked with the rewrites that shaped the body")

  const idle = await via(`${path}?hash=${encodeURIComponent(hash)}&wait=1s`)
  t.ok(idle.ms >= 900, `held while nothing changes (${idle.ms} ms)`)
  t.equal(idle.headers.get('x-consul-contenthash'), hash, 'same hash')
  t.equal(idle.text, first.text, 'same body')

  const pending = via(`${path}?hash=${encodeURIComponent(hash)}&wait=20s`)
  await new Promise((r) => setTimeout(r, 300))
  await consul.registerWithSidecar({ name: 'hweb', port: 9200, sidecarPort: 21200, upstreams: [{ DestinationName: 'ixapi', LocalBindPort: 9292 }] })
  let moved = await pending
  t.ok(moved.ms < 5_000, `released by the re-registration (${moved.ms} ms)`)
  t.not(moved.headers.get('x-consul-contenthash'), hash, 'a new hash')
  // The agent may wake a watcher between the steps of a re-registration: follow the hashes.
  for (let i = 0; i < 5 && moved.json.Proxy.Upstreams[0].LocalBindPort !== 9292; i++) {
    moved = await via(`${path}?hash=${encodeURIComponent(moved.headers.get('x-consul-contenthash')!)}&wait=2s`)
  }
  t.equal(moved.json.Proxy.Upstreams[0].LocalBindPort, 9292, 'the new registration')
  t.equal(moved.json.Proxy.Upstreams.length, 3, 'still rewritten')

  off()
  const stale = await via(`${path}?hash=${encodeURIComponent(moved.headers.get('x-consul-contenthash')!)}&wait=20s`)
  t.ok(stale.ms < 2_000, `with the rewrite off, a hash it marked is answered at once (${stale.ms} ms)`)
  t.equal(stale.json.Proxy.Upstreams.length, 1, 'with the agent\'s own body')
  t.equal(stale.headers.get('x-consul-contenthash'), (await via(path, {}, consul.addr)).headers.get('x-consul-contenthash'), "and the agent's own hash")
})

t.test('answers in the agent\'s place: agent/self 403, ?tag= 400 (filter passes), authorize reason', async (t) => {
  t.teardown(emu.use(rw.agentSelfForbidden(), rw.healthServiceTagRemoved(), rw.authorizeDefaultIntentionPolicy('deny')))
  const self = await via('/v1/agent/self')
  t.equal(self.status, 403)
  t.match(self.text, /^Permission denied: .*lacks permission 'agent:read'/)
  t.equal((await via('/v1/agent/self', {}, consul.addr)).status, 200, 'the agent itself answers')

  await put('/v1/agent/service/register', { ID: 'tagged', Name: 'tagged', Port: 1, Tags: ['v2'] })
  t.equal((await via('/v1/health/service/tagged?tag=v2')).status, 400, '?tag= refused')
  const filtered = await via(`/v1/health/service/tagged?filter=${encodeURIComponent('"v2" in Service.Tags')}`)
  t.equal(filtered.status, 200, 'filter passes')
  t.equal(filtered.json.length, 1)

  const probe = { Target: 'tagged', ClientCertURI: 'spiffe://x.invalid/ns/default/dc/dc1/svc/nobody', ClientCertSerial: '' }
  const answer = await via('/v1/agent/connect/authorize', { method: 'POST', body: JSON.stringify(probe), headers: { 'content-type': 'application/json' } })
  t.same(answer.json, { Authorized: false, Reason: 'Default intention policy' }, 'decided by default_intention_policy = deny')
  const real = await via('/v1/agent/connect/authorize', { method: 'POST', body: JSON.stringify(probe) }, consul.addr)
  t.same(real.json, { Authorized: true, Reason: 'Default behavior configured by ACLs' }, '1.14.11 itself')
})

t.test('targetInPeer gives the target 1.14.11 compiles for a Redirect.Peer', async (t) => {
  await put('/v1/config', { Kind: 'service-resolver', Name: 'peered', Redirect: { Service: 'peered', Peer: 'p1' } })
  const real = (await via('/v1/discovery-chain/peered', {}, consul.addr)).json.Chain
  t.teardown(emu.use(rw.targetInPeer('local', 'local', 'p1')))
  const emulated = (await via('/v1/discovery-chain/local')).json.Chain
  const shape = (targets: Record<string, Record<string, unknown>>, svc: string) =>
    Object.fromEntries(Object.entries(targets).map(([id, v]) => [id.replace(svc, 'S'), { ...v, ID: String(v.ID).replace(svc, 'S'), Service: 'S' }]))
  t.same(shape(emulated.Targets, 'local'), shape(real.Targets, 'peered'), 'the same target, peer and all')
  const resolver = Object.values<{ Resolver?: { Target: string } }>(emulated.Nodes).find((n) => n.Resolver)!
  t.equal(resolver.Resolver!.Target, 'local.default.default.external.p1', 'the resolver names the renamed target')
})
