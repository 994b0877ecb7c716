/**
 * A routing field HAProxy cannot honour exactly must cost at most that field,
 * never the sidecar (issue 17, "one unsupported routing field takes the whole
 * sidecar down"). Real Consul 1.14 and real HAProxy: web's upstream api has a
 * service-router whose /flaky route retries on [500, 512]. HAProxy's
 * `retry-on` knows 500 but not 512. Before, the render failed and web's
 * sidecar never served at all; now the route is served, retries on 500 and
 * passes a 512 through, and web's sidecar logs one warning naming the entry,
 * the route and the field.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { App } from '../support/apps.ts'
import { startConsul } from '../support/consul.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate, type Running } from '../support/process.ts'
import { httpAnswer } from '../support/traffic.ts'

/** api's app: /flaky/<code>/... answers <code> the first time each path is asked, 200 after. */
async function flakyApp(): Promise<App> {
  let hits = 0
  const seen = new Set<string>()
  const server = createServer((req, res) => {
    hits++
    const code = /^\/flaky\/(\d{3})\//.exec(req.url ?? '')?.[1]
    const first = !seen.has(req.url ?? '')
    seen.add(req.url ?? '')
    if (code && first) res.writeHead(Number(code)).end(`api ${code}\n`)
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(`api ${req.url}\n`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { port: (server.address() as import('node:net').AddressInfo).port, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) }
}

const get = (port: number, path: string) => httpAnswer(port, path)

t.test('a service-router route with RetryOnStatusCodes [500, 512] is served, retrying on 500, with a warning', async (t) => {
  const consul = await startConsul()
  const api = await flakyApp()
  const base = mkdtempSync(join(tmpdir(), 'mp-'))
  const sidecars: Running[] = []
  t.teardown(async () => {
    await Promise.all(sidecars.map((s) => s.stop()))
    await api.close()
    await consul.stop()
    rmSync(base, { recursive: true, force: true })
  })
  const entry = async (body: Record<string, unknown>) => {
    const res = await consul.api('PUT', '/v1/config', body)
    if (res.status !== 200) throw new Error(`config entry ${body.Kind}/${body.Name}: ${res.status} ${res.text}`)
  }
  await entry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } })
  await entry({
    Kind: 'service-router',
    Name: 'api',
    Routes: [{ Match: { HTTP: { PathPrefix: '/flaky' } }, Destination: { NumRetries: 2, RetryOnStatusCodes: [500, 512] } }],
  })
  const [apiPublic, webPublic, upstream] = await freePorts(3)
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  await consul.registerWithSidecar({ name: 'api', port: api.port, sidecarPort: apiPublic!, proxyConfig })
  // web's own app is never called: only its upstream listener is.
  await consul.registerWithSidecar({ name: 'web', port: 1, sidecarPort: webPublic!, proxyConfig, upstreams: [{ DestinationName: 'api', LocalBindPort: upstream! }] })
  for (const svc of ['api', 'web']) sidecars.push(meshplate(['sidecar', '--sidecar-for', svc, '--consul-addr', consul.addr, '--dir', join(base, svc)]))
  const web = sidecars[1]!
  await eventually(() => sidecars.every((s) => /HAProxy ready/.test(s.output())), 30_000, 'both sidecars serving').catch((err) => {
    throw new Error(`${(err as Error).message}\nweb:\n${web.output().slice(-3000)}`)
  })
  await eventually(async () => (await get(upstream!, '/ready')).status === 200 || undefined, 20_000, 'web -> api answering')

  t.test('the warning names the entry, the route and the field, once', async (t) => {
    const lines = web.output().split('\n').filter((l) => /RetryOnStatusCodes/.test(l))
    t.equal(lines.length, 1, `one warning line (${lines.join(' | ')})`)
    t.match(lines[0], /service-router api route 0: Destination\.RetryOnStatusCodes: HAProxy cannot retry on 512 .*it retries on 500/)
    t.match(readFileSync(join(base, 'web', 'haproxy.cfg'), 'utf8'), /retry-on conn-failure empty-response 500\n\s+retries 2\n/, 'the route\'s backend retries on 500, twice')
  })

  t.test('a 500 is retried (every request answers 200); a 512 is passed through', async (t) => {
    let before = api.hits()
    const five = []
    for (let n = 0; n < 10; n++) five.push((await get(upstream!, `/flaky/500/${n}`)).status)
    t.same(five, Array(10).fill(200), '10 of 10 answered 200 through the route')
    t.equal(api.hits() - before, 20, 'the app answered 20 times: each first 500 was retried once')
    before = api.hits()
    const twelve = []
    for (let n = 0; n < 10; n++) twelve.push((await get(upstream!, `/flaky/512/${n}`)).status)
    t.same(twelve, Array(10).fill(512), '10 of 10 got the app\'s 512')
    t.equal(api.hits() - before, 10, 'the app answered 10 times: no 512 was retried')
  })
})
