/**
 * The discovery chain end to end: real config entries in a real Consul,
 * compiled by Consul, rendered by web's sidecar and served by its HAProxy to
 * real apps behind their own sidecars. api has two instances (subsets v1 and
 * v2 by Service.Meta.version, v1 the default); apinext has two (a and b,
 * hashed by the x-user header) and fails over to apibackup. web's one
 * upstream is api; the router sends /v2/* to apinext with the prefix
 * rewritten, an x-canary header to subset v2, /slow with a 1 s timeout and
 * /flaky with retries on 503.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { httpApp, type App } from '../support/apps.ts'
import { startConsul } from '../support/consul.ts'
import { startLoad } from '../support/load.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate, type Running } from '../support/process.ts'
import { httpAnswer } from '../support/traffic.ts'

/** api-v1's app: /slow answers after 3 s, /flaky answers 503 every other time. */
async function chainApp(name: string): Promise<App> {
  let hits = 0
  let flaky = 0
  const server = createServer((req, res) => {
    hits++
    if (req.url?.startsWith('/flaky') && flaky++ % 2 === 0) {
      res.writeHead(503).end(`${name} flaky\n`)
      return
    }
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} ${req.url}\n`)
    if (req.url?.startsWith('/slow')) setTimeout(answer, 3_000).unref()
    else answer()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { port: (server.address() as import('node:net').AddressInfo).port, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) }
}

const get = (port: number, path: string, headers: Record<string, string> = {}) => httpAnswer(port, path, { headers })

t.test('discovery chain: router, subsets, splitter, failover, timeouts, retries and ring hash', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  const entry = async (body: Record<string, unknown>) => {
    const res = await consul.api('PUT', '/v1/config', body)
    if (res.status !== 200) throw new Error(`config entry ${body.Kind}/${body.Name}: ${res.status} ${res.text}`)
  }
  await entry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } })
  const instances = [
    { id: 'api-v1', name: 'api', meta: { version: 'v1' }, app: await chainApp('api-v1') },
    { id: 'api-v2', name: 'api', meta: { version: 'v2' }, app: await httpApp('api-v2') },
    { id: 'apinext-a', name: 'apinext', meta: {}, app: await httpApp('apinext-a') },
    { id: 'apinext-b', name: 'apinext', meta: {}, app: await httpApp('apinext-b') },
    { id: 'apibackup', name: 'apibackup', meta: {}, app: await httpApp('apibackup') },
  ]
  const web = await httpApp('web')
  const ports = await freePorts(instances.length + 2)
  const upstream = ports.at(-1)!
  const register = (i: (typeof instances)[number], n: number) =>
    consul.registerWithSidecar({ id: i.id, name: i.name, port: i.app.port, sidecarPort: ports[n]!, meta: i.meta, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' } })
  for (const [n, i] of instances.entries()) await register(i, n)
  await consul.registerWithSidecar({ name: 'web', port: web.port, sidecarPort: ports[instances.length]!, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' }, upstreams: [{ DestinationName: 'api', LocalBindPort: upstream }] })

  await entry({ Kind: 'service-resolver', Name: 'api', DefaultSubset: 'v1', Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2' } } })
  await entry({ Kind: 'service-resolver', Name: 'apinext', ConnectTimeout: '2s', Failover: { '*': { Service: 'apibackup' } }, LoadBalancer: { Policy: 'ring_hash', HashPolicies: [{ Field: 'header', FieldValue: 'x-user' }] } })
  await entry({
    Kind: 'service-router',
    Name: 'api',
    Routes: [
      { Match: { HTTP: { PathPrefix: '/v2/' } }, Destination: { Service: 'apinext', PrefixRewrite: '/' } },
      { Match: { HTTP: { Header: [{ Name: 'x-canary', Exact: '1' }] } }, Destination: { ServiceSubset: 'v2' } },
      { Match: { HTTP: { PathPrefix: '/slow' } }, Destination: { ServiceSubset: 'v1', RequestTimeout: '1s' } },
      { Match: { HTTP: { PathPrefix: '/flaky' } }, Destination: { ServiceSubset: 'v1', NumRetries: 3, RetryOnStatusCodes: [503] } },
    ],
  })

  const base = mkdtempSync(join(tmpdir(), 'mp-'))
  const sidecars: Running[] = []
  t.teardown(async () => {
    await Promise.all(sidecars.map((s) => s.stop()))
    await Promise.all([...instances.map((i) => i.app.close()), web.close()])
  })
  for (const id of [...instances.map((i) => i.id), 'web']) {
    sidecars.push(meshplate(['sidecar', '--proxy-id', `${id}-sidecar-proxy`, '--consul-addr', consul.addr, '--dir', join(base, id)]))
  }
  const webSidecar = sidecars.at(-1)!
  const webCfg = () => readFileSync(join(base, 'web', 'haproxy.cfg'), 'utf8')
  await eventually(() => sidecars.every((s) => /Loading success/.test(s.output())), 60_000, 'every sidecar serving').catch((err) => {
    const waiting = sidecars.filter((s) => !/Loading success/.test(s.output()))
    throw new Error(`${(err as Error).message}\n${waiting.map((s) => s.output().slice(-1500)).join('\n---\n')}`)
  })
  await eventually(async () => (await get(upstream, '/v2/ready')).body.startsWith('apinext') || undefined, 30_000, 'the /v2/ route through web').catch((err) => {
    throw new Error(`${(err as Error).message}\n${webSidecar.output().slice(-3000)}`)
  })

  t.test('router: path prefix with PrefixRewrite, a header to a subset, the rest to the default subset', async (t) => {
    const v2 = await get(upstream, '/v2/hello?x=1')
    t.match(v2.body, /^apinext-[ab] \/hello\?x=1$/m, `/v2/hello reached apinext as /hello (${v2.body.split("\n")[0]})`)
    const canary = await Promise.all(Array.from({ length: 10 }, () => get(upstream, '/c', { 'x-canary': '1' })))
    t.ok(canary.every((r) => r.body.startsWith('api-v2 /c')), 'x-canary: 1 always reaches subset v2')
    const plain = await Promise.all(Array.from({ length: 10 }, () => get(upstream, '/p')))
    t.ok(plain.every((r) => r.body.startsWith('api-v1 /p')), 'everything else reaches the DefaultSubset v1')
  })

  t.test('a route RequestTimeout answers 504 from a slow app; retries on 503 turn a flaky app into 200s', async (t) => {
    const started = Date.now()
    const slow = await get(upstream, '/slow')
    const took = Date.now() - started
    t.equal(slow.status, 504, `/slow answered 504 after ${took} ms (RequestTimeout 1s, the app takes 3 s)`)
    t.ok(took < 2_900, 'before the app would have answered')
    const hitsBefore = instances[0]!.app.hits()
    const flaky = []
    for (let n = 0; n < 20; n++) flaky.push((await get(upstream, `/flaky/${n}`)).status)
    t.same(flaky, Array(20).fill(200), '20 of 20 answered 200 (NumRetries 3, RetryOnStatusCodes [503])')
    t.ok(instances[0]!.app.hits() - hitsBefore >= 30, `the app answered ${instances[0]!.app.hits() - hitsBefore} times: about half were 503s retried`)
  })

  t.test('ring_hash on a header: one user always reaches one instance', async (t) => {
    const seen = new Map<string, Set<string>>()
    for (let u = 0; u < 20; u++) {
      for (let n = 0; n < 4; n++) {
        const r = await get(upstream, `/v2/who`, { 'x-user': `user-${u}` })
        const by = r.body.split(' ')[0]!
        seen.set(`user-${u}`, (seen.get(`user-${u}`) ?? new Set()).add(by))
      }
    }
    t.ok([...seen.values()].every((s) => s.size === 1), 'each of 20 users reached a single instance over 4 requests')
    const used = new Set([...seen.values()].flatMap((s) => [...s]))
    t.same([...used].sort(), ['apinext-a', 'apinext-b'], 'and the users spread over both instances')
  })

  t.test('failover: apinext gone under load -> apibackup, with no failed request; back -> apinext', async (t) => {
    const reloads = () => (webSidecar.output().match(/reloading HAProxy/g) ?? []).length
    const reloadsBefore = reloads()
    const load = startLoad({ port: upstream, mode: 'http-keepalive', path: '/v2/load', concurrency: 4, deadlineMs: 60_000, maxRequests: 200_000 })
    await new Promise((r) => setTimeout(r, 1_000))
    await consul.deregister('apinext-a-sidecar-proxy')
    await consul.deregister('apinext-b-sidecar-proxy')
    await eventually(async () => (await get(upstream, '/v2/which')).body.startsWith('apibackup') || undefined, 10_000, 'apibackup answering /v2/')
    const during = await get(upstream, '/v2/which')
    await new Promise((r) => setTimeout(r, 1_000))
    await register(instances[2]!, 2)
    await register(instances[3]!, 3)
    await eventually(async () => (await get(upstream, '/v2/which')).body.startsWith('apinext') || undefined, 10_000, 'apinext answering again')
    await new Promise((r) => setTimeout(r, 1_000))
    const stats = await load.stop()
    t.comment(`load: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}, answered by ${[...stats.answeredBy].join(' ')}`)
    t.match(during.body, /^apibackup \/which/, 'with no apinext instance, apibackup answered (its own identity checked)')
    t.equal(stats.failed, 0, 'no request failed through both changes')
    t.ok(stats.answeredBy.has('apibackup') && stats.answeredBy.has('apinext-a'), 'the load saw both the failover and the return')
    t.equal(reloads(), reloadsBefore, 'the failover and the return reached HAProxy without a reload')
  })

  t.test('splitter 90/10 between subsets: over 1,000 requests v2 gets 10% +-3 points', async (t) => {
    await entry({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 90, ServiceSubset: 'v1' }, { Weight: 10, ServiceSubset: 'v2' }] })
    await eventually(() => webCfg().includes('mp_split') || undefined, 20_000, 'the split in web\'s config')
    await eventually(async () => (await get(upstream, '/p')).status === 200 || undefined, 10_000, 'web serving after the reload')
    const by: Record<string, number> = {}
    for (let n = 0; n < 1_000; n++) {
      const r = await get(upstream, '/split')
      const who = r.body.split(' ')[0]!
      by[who] = (by[who] ?? 0) + 1
    }
    t.equal((by['api-v1'] ?? 0) + (by['api-v2'] ?? 0), 1_000, 'every request answered by v1 or v2')
    const share = ((by['api-v2'] ?? 0) / 1_000) * 100
    t.ok(share >= 7 && share <= 13, `v2 answered ${share.toFixed(1)}% of 1,000 (${JSON.stringify(by)})`)
  })
})
