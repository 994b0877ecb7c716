/**
 * The proxy settings Consul users set in proxy-defaults, service-defaults or
 * the registration, enforced by real HAProxy on real traffic through two
 * meshplate sidecars and a real Consul 1.14.11: the local request timeout
 * (a silent app answered 504, after Envoy's 15 s when unset), inbound and
 * upstream limits (closed, queued, or 503 at once, as README documents), a
 * passive health check that ejects an instance answering 5xx and brings it
 * back, expose paths that answer plaintext while the public listener still
 * requires mTLS, and access logs in Envoy's JSON with its field names.
 * Consul 1.14.11 refuses `AccessLogs` in proxy-defaults ("invalid config key
 * AccessLogs"), so that test adds them to a snapshot recorded from the live
 * agent and runs api's sidecar from it (`sidecar --data`), still with real
 * Consul, HAProxy and traffic.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ENVOY_DEFAULT_JSON_FORMAT } from '../../src/connect/access-logs.ts'
import { h2cApp, type App } from '../support/apps.ts'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate, meshplateOnce, exitsWith, type Running } from '../support/process.ts'
import { tcpRoundTrip, tlsExchange } from '../support/traffic.ts'

interface Answer {
  status: number
  body: string
  ms: number
}

/** An HTTP app whose answers a test controls: `/delay/<ms>` waits that long; `status` is every answer's status. */
interface ScriptedApp extends App {
  status: number
}

function scriptedApp(label: string): (name: string) => Promise<ScriptedApp> {
  return async () => {
    let hits = 0
    const app = { status: 200 } as ScriptedApp
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      hits++
      const delay = /^\/delay\/(\d+)/.exec(req.url ?? '')
      const answer = () => {
        res.writeHead(app.status, { 'content-type': 'text/plain' })
        res.end(`${label} ${req.url}\n`)
      }
      if (delay) setTimeout(answer, Number(delay[1]))
      else answer()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    app.port = (server.address() as import('node:net').AddressInfo).port
    app.hits = () => hits
    app.close = () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
    return app
  }
}

/** One GET on a fresh connection; resolves with the status, body and how long it took. */
function get(port: number, path: string, timeoutMs = 30_000): Promise<Answer> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }))
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${path}`)))
    req.on('error', reject)
    req.end()
  })
}

/** The JSON lines a sidecar has logged, parsed (every one must parse). */
const jsonLines = (r: Running) => r.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
const cfgOf = (dir: string) => readFileSync(join(dir, 'haproxy.cfg'), 'utf8')
const ready = (mesh: Mesh) => eventually(async () => (await get(mesh.ports.upstream, '/warmup', 2_000).catch(() => undefined))?.status === 200, 15_000, 'web -> api')

/**
 * A raw TCP connection that only sits there (a TLS handshake that never starts); `closed` settles
 * when the peer closes or resets it, which may happen before the connect completes here.
 */
function idleConnection(port: number): Promise<{ sock: Socket; closed: Promise<string> }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    const closed = new Promise<string>((r) => {
      sock.on('close', () => r('closed'))
      sock.on('error', (e) => r(e.message))
    })
    sock.once('connect', () => resolve({ sock, closed }))
    sock.once('error', () => resolve({ sock, closed }))
  })
}

/** `n` idle connections that all stay open (retried while connections just closed are still counted). */
async function holdOpen(port: number, n: number): Promise<Array<{ sock: Socket; closed: Promise<string> }>> {
  return eventually(async () => {
    const tries = await Promise.allSettled(Array.from({ length: n }, () => idleConnection(port)))
    const held = tries.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    if (held.length === n && !(await settledWithin(Promise.race(held.map((h) => h.closed)), 300))) return held
    for (const h of held) h.sock.destroy()
    await new Promise((r) => setTimeout(r, 200))
    return undefined
  }, 5_000, `${n} connections held open on ${port}`)
}

/** How many times meshplate has reloaded this sidecar's HAProxy (it logs each finished reload). */
const reloads = (r: Running) => (r.output().match(/HAProxy reloaded worker=/g) ?? []).length
/** Resolves once the sidecar has finished reload number `count`. */
const reloaded = (r: Running, count: number) => eventually(() => reloads(r) >= count, 15_000, `reload #${count}`)

const settledWithin = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

t.test('http: local_request_timeout_ms answers a silent app 504 after it; quicker answers pass', async (t) => {
  const mesh = await startMesh({ protocol: 'http', apiApp: scriptedApp('api'), apiConfig: { local_request_timeout_ms: 500 } })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  t.match(cfgOf(mesh.dirs.api), /backend local_app\n(?:.*\n)*?    timeout server 500ms\n/, 'rendered into local_app')
  const slow = await get(mesh.ports.upstream, '/delay/3000')
  t.equal(slow.status, 504, 'the silent app is answered 504 by api\'s sidecar')
  t.ok(slow.ms >= 450 && slow.ms < 2_000, `after about 500 ms (${slow.ms} ms)`)
  const quick = await get(mesh.ports.upstream, '/delay/200')
  t.equal(quick.status, 200, 'an answer within the timeout passes')
  t.match(quick.body, /^api \/delay\/200\n/)
})

t.test('http: without local_request_timeout_ms, Envoy\'s 15 s (not 1 h)', async (t) => {
  const mesh = await startMesh({ protocol: 'http', apiApp: scriptedApp('api') })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  const slow = await get(mesh.ports.upstream, '/delay/20000')
  t.equal(slow.status, 504)
  t.ok(slow.ms >= 14_500 && slow.ms < 17_000, `after about 15 s (${slow.ms} ms)`)
})

t.test('tcp: max_inbound_connections from service-defaults closes connections beyond it; upstream limits.max_connections too', async (t) => {
  const mesh = await startMesh({ protocol: 'tcp', upstreamConfig: { limits: { max_connections: 1 } } })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'hi')).ok, 15_000, 'first round trip')

  // Central config, as a Consul user sets it: the agent merges it into api's Proxy.Config.
  const before = reloads(mesh.sidecars.api)
  const entry = await mesh.consul.api('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'api', Protocol: 'tcp', MaxInboundConnections: 2 })
  t.equal(entry.status, 200, 'service-defaults written')
  await eventually(() => /tcp-request connection reject if \{ fe_conn gt 2 \}/.test(cfgOf(mesh.dirs.api)), 15_000, 'the limit in api\'s config')
  t.match(cfgOf(mesh.dirs.api), /server app \S+ maxconn 2\n/, 'and on the local app (Envoy\'s local_app circuit breaker)')
  await reloaded(mesh.sidecars.api, before + 1)
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'after-reload')).ok, 10_000, 'traffic after the reload')

  // Two connections that never start their handshake hold api's two slots.
  const held = await holdOpen(mesh.ports.apiPublic, 2)
  const third = await idleConnection(mesh.ports.apiPublic)
  t.ok(await settledWithin(third.closed, 1_000), 'a third connection is closed at once (Envoy\'s connection limit filter closes it too)')
  const refused = await tcpRoundTrip(mesh.ports.upstream, 'while-full', 3_000)
  t.notOk(refused.ok, `web -> api fails while api holds 2 connections (${refused.ok ? refused.body : refused.error})`)
  for (const h of held) h.sock.destroy()
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'freed')).ok, 5_000, 'traffic once the slots are free')
  t.pass('web -> api works again once the two connections are gone')

  // web's upstream to api: limits.max_connections = 1, for the whole upstream.
  t.match(cfgOf(mesh.dirs.web), /frontend upstream_service_api\n(?:.*\n)*?    tcp-request connection reject if \{ fe_conn gt 1 \}\n/, 'rendered on web\'s upstream listener')
  const [first] = await holdOpen(mesh.ports.upstream, 1)
  const second = await idleConnection(mesh.ports.upstream)
  t.ok(await settledWithin(second.closed, 1_000), 'the second concurrent connection to the upstream is closed at once')
  t.notOk(await settledWithin(first!.closed, 500), 'the first stays open')
  first!.sock.destroy()
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'again')).ok, 5_000, 'a new connection once the first is gone')
})

t.test('http: upstream limits: max_connections queues, max_pending_requests and max_concurrent_requests answer 503 at once', async (t) => {
  const mesh = await startMesh({ protocol: 'http', apiApp: scriptedApp('api'), upstreamConfig: { limits: { max_connections: 1, max_pending_requests: 1 } } })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  t.match(cfgOf(mesh.dirs.web), / maxconn 1 /, 'max_connections: maxconn on each server')

  const started = Date.now()
  const answers = await Promise.all([0, 50, 100, 150].map((d) => new Promise((r) => setTimeout(r, d)).then(() => get(mesh.ports.upstream, '/delay/600'))))
  const statuses = answers.map((a) => a.status)
  t.same(statuses, [200, 200, 503, 503], `1 in flight, 1 queued, 2 refused (${answers.map((a) => `${a.status}@${a.ms}ms`).join(' ')})`)
  t.ok(answers[1]!.ms >= 1_000, `the queued one waited for the first (${answers[1]!.ms} ms)`)
  t.ok(answers[2]!.ms < 300 && answers[3]!.ms < 300, 'the refused ones were answered at once')
  t.match(answers[2]!.body, /upstream overflow: max_pending_requests/)
  t.comment(`four requests in ${Date.now() - started} ms`)

  // max_concurrent_requests as the agent merges it from service-defaults (CamelCase inside `limits`).
  const before = reloads(mesh.sidecars.web)
  const entry = await mesh.consul.api('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http', UpstreamConfig: { Defaults: { Limits: { MaxConcurrentRequests: 2 } } } })
  t.equal(entry.status, 200)
  await mesh.consul.registerWithSidecar({ name: 'web', port: mesh.apps.web.port, sidecarPort: mesh.ports.webPublic, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' }, upstreams: [{ DestinationName: 'api', LocalBindPort: mesh.ports.upstream }] })
  const proxy = await mesh.consul.api('GET', '/v1/agent/service/web-sidecar-proxy')
  t.same(proxy.body.Proxy.Upstreams[0].Config.limits, { MaxConcurrentRequests: 2 }, 'the agent merges service-defaults limits with CamelCase keys')
  await eventually(() => /be_conn\(upstream_service_api\),sub\(txn\.mp_queued\) ge 2/.test(cfgOf(mesh.dirs.web)), 15_000, 'the new limit rendered')
  await reloaded(mesh.sidecars.web, before + 1)
  const three = await Promise.all([0, 50, 100].map((d) => new Promise((r) => setTimeout(r, d)).then(() => get(mesh.ports.upstream, '/delay/600'))))
  t.same(three.map((a) => a.status).sort(), [200, 200, 503], `2 in flight, the third refused (${three.map((a) => `${a.status}@${a.ms}ms`).join(' ')})`)
  t.match(three.find((a) => a.status === 503)?.body ?? '', /max_concurrent_requests/)
})

/**
 * A second instance of api with its own sidecar. As with Consul's default sidecar checks, it
 * gets traffic only once its sidecar listens: its TTL check turns passing after that.
 */
async function secondApi(mesh: Mesh, app: ScriptedApp): Promise<Running> {
  const [port] = await freePorts(1)
  const body = {
    ID: 'api-2', Name: 'api', Port: app.port, Address: '127.0.0.1',
    Connect: { SidecarService: { Port: port, Proxy: { Config: { protocol: 'http', bind_address: '127.0.0.1' }, LocalServiceAddress: '127.0.0.1' }, Checks: [{ CheckID: 'api-2-sidecar-ttl', Name: 'ttl', TTL: '1h', Status: 'critical' }] } },
  }
  const res = await mesh.consul.api('PUT', '/v1/agent/service/register', body)
  if (res.status !== 200) throw new Error(`register api-2: ${res.status} ${res.text}`)
  const dir = join(mesh.dirs.api, '..', 'api-2')
  const sidecar = meshplate(['sidecar', '--sidecar-for', 'api-2', '--consul-addr', mesh.consul.addr, '--dir', dir])
  await eventually(() => /Loading success/.test(sidecar.output()), 20_000, 'api-2 sidecar')
  const pass = await mesh.consul.api('PUT', '/v1/agent/check/pass/api-2-sidecar-ttl')
  if (pass.status !== 200) throw new Error(`pass api-2's check: ${pass.status} ${pass.text}`)
  return sidecar
}

/** The last state HAProxy logged for each server of web's upstream to api (`s1` -> `UP`). */
function serverStates(web: Running): Map<string, string> {
  const states = new Map<string, string>()
  for (const m of web.output().matchAll(/Server upstream_service_api\/(s\d+) is (UP|DOWN)/g)) states.set(m[1]!, m[2]!)
  return states
}

t.test('http: a passive health check ejects an instance answering 5xx and brings it back; all ejected, the backups answer', async (t) => {
  const phc = { interval: '1s', max_failures: 3, base_ejection_time: '2s' }
  const mesh = await startMesh({ protocol: 'http', apiApp: scriptedApp('api'), upstreamConfig: { passive_health_check: phc } })
  t.teardown(() => mesh.stop())
  const bad = await scriptedApp('api-2')('api')
  t.teardown(() => bad.close())
  const sidecar2 = await secondApi(mesh, bad)
  t.teardown(() => sidecar2.stop())
  // web's HAProxy may have started before api's listened: a server whose first TCP check fails is
  // out until `rise` checks pass (README). Wait until both instances are in, as primaries.
  await eventually(() => cfgOf(mesh.dirs.web).match(/server s\d+ 127\.0\.0\.1:\d+ /g)?.length === 2, 15_000, 'both instances in web\'s config')
  await eventually(() => [...serverStates(mesh.sidecars.web).values()].every((v) => v === 'UP'), 10_000, 'both servers up')
  t.match(cfgOf(mesh.dirs.web), /check no-check-ssl inter 1000ms fastinter 1000ms downinter 1000ms rise 3 observe layer7 error-limit 3 on-error mark-down/, 'ejection after 3 failures, back after 2-3 s')

  bad.status = 500
  const before = bad.hits()
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) statuses.push((await get(mesh.ports.upstream, `/n${i}`)).status)
  const badHits = bad.hits() - before
  // HAProxy marks the server down from its check task, just after the 3rd error: a request sent
  // in between can still reach it (about 1 run in 7 here, before and after the L7 release).
  t.ok(badHits === 3 || badHits === 4, `the failing instance got 3 requests (4 when one was sent before HAProxy applied the ejection) before it was ejected: ${badHits} (${statuses.join(' ')})`)
  if (badHits !== 3) t.comment(cfgOf(mesh.dirs.web).split('backend upstream_service_api')[1] + '\n' + mesh.sidecars.web.output().slice(-4000))
  t.same(statuses.slice(-5), [200, 200, 200, 200, 200], 'then every request went to the healthy one')
  const web = mesh.sidecars.web
  await eventually(() => /Server upstream_service_api\/s\d+ is DOWN, reason: Health analyze, info: "Detected 3 consecutive errors/.test(web.output()), 5_000, 'HAProxy logs the ejection')
  const ejectedAt = Date.now()
  const since = web.output().length

  // Back after base_ejection_time: its TCP check has passed `rise` times.
  bad.status = 200
  await eventually(() => /Server upstream_service_api\/s\d+ is UP, reason: Layer4 check passed/.test(web.output().slice(since)), 8_000, 'the instance back')
  const back = Date.now() - ejectedAt
  t.ok(back >= 1_800 && back < 4_500, `back ${back} ms after the ejection (base_ejection_time 2 s, interval 1 s)`)
  await eventually(async () => (await get(mesh.ports.upstream, '/again')).body.startsWith('api-2'), 5_000, 'traffic to it again')
  t.pass('the recovered instance gets traffic again')

  // Every instance failing: all ejected, and the backup lines still carry the apps' own answers, as Envoy's panic mode would.
  bad.status = 500
  const good = mesh.apps.api as ScriptedApp
  good.status = 503
  const allBad = web.output().length
  for (let i = 0; i < 12; i++) await get(mesh.ports.upstream, `/all-bad-${i}`)
  await eventually(() => /is DOWN, reason: Health analyze.* 0 active and 2 backup servers left/.test(web.output().slice(allBad)), 5_000, 'both ejected')
  const panic = await get(mesh.ports.upstream, '/panic')
  t.ok([500, 503].includes(panic.status), `status ${panic.status}`)
  t.match(panic.body, /^api(-2)? \/panic\n/, 'the answer comes from an app (a backup line), not an empty HAProxy 503')
  good.status = 200
  bad.status = 200
})

t.test('expose paths: plaintext on their listener, nothing else there; the public listener still requires mTLS', async (t) => {
  const [metricsPort, listenerPort, grpcListenerPort] = await freePorts(3)
  const metrics = createServer((req, res) => res.end(`metrics ${req.url}\n`))
  await new Promise<void>((r) => metrics.listen(metricsPort, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => metrics.close(() => r())))
  const h2 = await h2cApp('health')
  t.teardown(() => h2.close())
  const mesh = await startMesh({
    protocol: 'http',
    apiExpose: () => ({
      Checks: true,
      Paths: [
        { Path: '/metrics', LocalPathPort: metricsPort, ListenerPort: listenerPort },
        { Path: '/grpc.health.v1.Health/Check', LocalPathPort: h2.port, ListenerPort: grpcListenerPort, Protocol: 'http2' },
      ],
    }),
    apiChecks: (appPort) => [{ Name: 'api-http', HTTP: `http://127.0.0.1:${appPort}/health`, Interval: '1s' }],
  })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  const m = await get(listenerPort!, '/metrics?x=1')
  t.equal(m.status, 200, 'the exposed path answers in plaintext')
  t.equal(m.body, 'metrics /metrics?x=1\n', 'from its LocalPathPort, query string kept')
  t.equal((await get(listenerPort!, '/metrics/other')).status, 404, 'a longer path is not exposed')
  t.equal((await get(listenerPort!, '/')).status, 404, 'nor the root')
  const grpc = await get(grpcListenerPort!, '/grpc.health.v1.Health/Check')
  t.equal(grpc.body, 'health /grpc.health.v1.Health/Check HTTP/2.0\n', 'an http2 path reaches its app over h2c')
  const plain = await get(mesh.ports.apiPublic, '/metrics', 3_000).then((a) => `status ${a.status}`, (e: Error) => e.message)
  t.notMatch(plain, /^status/, `plain HTTP on the public listener gets no answer (${plain})`)
  const noCert = await tlsExchange({ port: mesh.ports.apiPublic, payload: 'GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n' })
  t.notOk(noCert.ok && /200 OK/.test(noCert.body), 'TLS without a client certificate gets nothing either')

  // Expose.Checks: Consul 1.14.11 gives the check a listener port (ExposedPort, from 21500) and
  // points the check at the proxy, but puts no path in the proxy's registration (meshplate
  // serves it all the same: test/e2e/expose-checks.test.ts).
  const checks = await mesh.consul.api('GET', '/v1/agent/checks')
  const check = Object.values(checks.body as Record<string, { Name: string; ExposedPort: number }>).find((c) => c.Name === 'api-http')
  t.ok(check && check.ExposedPort >= 21500, `the agent assigned the check listener port ${check?.ExposedPort}`)
  const reg = await mesh.consul.api('GET', '/v1/agent/service/api-sidecar-proxy')
  t.same(reg.body.Proxy.Expose.Paths.map((p: { Path: string }) => p.Path), ['/metrics', '/grpc.health.v1.Health/Check'], 'the registration holds only the explicit paths, nothing for the check')
})

/**
 * Restarts one of the mesh's sidecars from a snapshot of its live data with `AccessLogs` added, as
 * a newer agent would merge them from proxy-defaults; Consul, HAProxy and the traffic stay real.
 */
async function withAccessLogs(t: Test, mesh: Mesh, svc: 'api' | 'web', accessLogs: object, more?: (proxy: { Config: Record<string, unknown>; Upstreams: Array<{ Config: Record<string, unknown> }> }) => void): Promise<{ sidecar: Running; cfg: string }> {
  const base = join(mesh.dirs[svc], '..')
  const snap = join(base, `${svc}.snapshot.json`)
  exitsWith(t, await meshplateOnce(['sidecar', '--sidecar-for', svc, '--consul-addr', mesh.consul.addr, '--once', '--record', snap, '--dir', join(base, `${svc}-rec`)]), 0, `${svc}'s data recorded`)
  const data = JSON.parse(readFileSync(snap, 'utf8'))
  const proxy = data.data[`agent.service(${svc}-sidecar-proxy)`].Proxy
  proxy.AccessLogs = { Enabled: true, DisableListenerLogs: false, Type: '', Path: '', JSONFormat: '', TextFormat: '', ...accessLogs }
  more?.(proxy)
  writeFileSync(snap, JSON.stringify(data))
  await mesh.sidecars[svc].stop()
  const dir = join(base, `${svc}-logged`)
  const sidecar = meshplate(['sidecar', '--proxy-id', `${svc}-sidecar-proxy`, '--data', snap, '--consul-addr', mesh.consul.addr, '--dir', dir])
  t.teardown(() => sidecar.stop())
  await eventually(() => /Loading success/.test(sidecar.output()), 20_000, `${svc}'s sidecar from the snapshot`)
  return { sidecar, cfg: cfgOf(dir) }
}

/** A GET through web's upstream listener with the given headers; resolves when the answer is read. */
function getWith(mesh: Mesh, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: mesh.ports.upstream, path, agent: false, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('access logs: Envoy\'s JSON field names on the public and upstream listeners (AccessLogs from a snapshot: Consul 1.14.11 has none)', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  const entry = await mesh.consul.api('PUT', '/v1/config', { Kind: 'proxy-defaults', Name: 'global', AccessLogs: { Enabled: true } })
  t.match(entry.text, /invalid config key "AccessLogs"/, `Consul 1.14.11 refuses AccessLogs (${entry.status})`)

  const api = await withAccessLogs(t, mesh, 'api', { Type: 'stdout' })
  t.match(api.cfg, /frontend public_listener\n(?:.*\n)*?    no log\n    log stdout format raw local0 info\n    log-format "\{\\"start_time\\"/, 'the public listener logs JSON to stdout')
  const web = await withAccessLogs(t, mesh, 'web', { Type: 'stderr' })
  t.match(web.cfg, /frontend upstream_service_api\n(?:.*\n)*?    log stderr format raw local0 info\n/, 'web\'s upstream listener logs to stderr')
  t.notMatch(web.cfg.split('frontend upstream_service_api')[1]!.split('backend')[0], /dontlog-normal/, 'every request, not only failures')

  await eventually(async () => (await get(mesh.ports.upstream, '/logged?q=1', 3_000).catch(() => undefined))?.status === 200, 10_000, 'a request through both snapshot sidecars')
  const inbound = await eventually(() => jsonLines(api.sidecar).find((l) => l.path === '/logged?q=1'), 5_000, 'api\'s access log line')
  t.comment(`api: ${JSON.stringify(inbound)}`)
  t.match(inbound, {
    method: 'GET',
    path: '/logged?q=1',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '--',
    upstream_cluster: 'local_app',
    upstream_host: `127.0.0.1:${mesh.apps.api.port}`,
    downstream_local_address: `127.0.0.1:${mesh.ports.apiPublic}`,
    route_name: null,
    decision: 'allow',
    src: /^spiffe:\/\/[^/]+\/ns\/default\/dc\/dc1\/svc\/web$/,
  }, 'Envoy\'s field names, with meshplate\'s decision fields')
  t.match(inbound.start_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'start_time in ISO 8601, as Envoy writes it')
  t.ok(Math.abs(Date.parse(inbound.start_time as string) - Date.now()) < 10_000, 'and now')
  for (const k of ['bytes_received', 'bytes_sent', 'duration', 'upstream_service_time']) t.type(inbound[k], 'number', `${k} is a number`)
  t.same(Object.keys(inbound).slice(0, 24), Object.keys(JSON.parse(ENVOY_DEFAULT_JSON_FORMAT)), 'every field of Envoy\'s default, in order')
  const outbound = await eventually(() => jsonLines(web.sidecar).find((l) => l.path === '/logged?q=1'), 5_000, 'web\'s access log line')
  t.comment(`web: ${JSON.stringify(outbound)}`)
  t.match(outbound, { upstream_cluster: 'upstream_service_api', upstream_host: `127.0.0.1:${mesh.ports.apiPublic}`, downstream_local_address: `127.0.0.1:${mesh.ports.upstream}`, response_code: 200 }, 'web\'s upstream listener: the api instance it picked')
  t.notOk('decision' in outbound, 'no authorization fields outbound')

  // A failed handshake is a listener log line in the same format.
  await tlsExchange({ port: mesh.ports.apiPublic, payload: 'x' })
  const failed = await eventually(() => jsonLines(api.sidecar).find((l) => l.connection_termination_details === 'SSL handshake failure'), 5_000, 'the failed handshake logged')
  t.match(failed, { method: null, downstream_remote_address: /^127\.0\.0\.1:\d+$/ }, 'logged in the same format, with what HAProxy knows of it')

  // Headers that need JSON escaping keep the line valid JSON (jsonLines parses every line).
  t.equal(await getWith(mesh, '/ua', { 'user-agent': 'say "hi" \\ there', 'x-request-id': 'r-1' }), 200)
  const ua = await eventually(() => jsonLines(api.sidecar).find((l) => l.path === '/ua'), 5_000, 'the line with the quoted user agent')
  t.match(ua, { user_agent: 'say "hi" \\ there', request_id: 'r-1' }, 'escaped by HAProxy, parsed back unchanged')
})

t.test('access logs: a TextFormat with Envoy operators, and the authorization fields after it', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await ready(mesh)
  const api = await withAccessLogs(t, mesh, 'api', { TextFormat: '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "%REQ(USER-AGENT)%" "%UPSTREAM_HOST%"\n' })
  t.equal(await getWith(mesh, '/text?a=b', { 'user-agent': 'ua/1' }), 200)
  const line = await eventually(() => api.sidecar.output().split('\n').find((l) => l.includes('/text?a=b')), 5_000, 'the text line')
  t.comment(line)
  t.match(line, new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET /text\\?a=b HTTP/1\\.1" 200 -- \\d+ \\d+ \\d+ "ua/1" "127\\.0\\.0\\.1:${mesh.apps.api.port}" src=spiffe://\\S+/svc/web decision=allow rule=\\S+ reason=\\S+$`))
})

t.test('tcp: every setting at once passes haproxy -c; access logs of connections', async (t) => {
  const mesh = await startMesh({ protocol: 'tcp' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'hi')).ok, 15_000, 'first round trip')
  const api = await withAccessLogs(t, mesh, 'api', { Type: 'stdout' }, (p) => {
    Object.assign(p.Config, { LocalConnectTimeoutMs: 1000, local_request_timeout_ms: 2000, max_inbound_connections: 50 })
  })
  const web = await withAccessLogs(t, mesh, 'web', { Type: 'stdout' }, (p) => {
    Object.assign(p.Upstreams[0].Config, { connect_timeout_ms: 900, limits: { MaxConnections: 20 }, PassiveHealthCheck: { Interval: 1_000_000_000, MaxFailures: 2 } })
  })
  t.match(web.cfg, /server s1 \S+ .* check no-check-ssl inter 1000ms .* observe layer4 error-limit 2 on-error mark-down/, 'tcp ejection observes connections')
  t.match(web.cfg, /server b1 \S+ .* backup/, 'with backup lines')
  const r = await eventually(async () => {
    const a = await tcpRoundTrip(mesh.ports.upstream, 'logged')
    return a.ok ? a : undefined
  }, 10_000, 'a round trip through both snapshot sidecars')
  t.equal(r.body, 'api:logged')
  const inbound = await eventually(() => jsonLines(api.sidecar).find((l) => l.upstream_cluster === 'local_app' && (l.bytes_received as number) > 0), 5_000, 'api\'s connection line')
  t.comment(`api: ${JSON.stringify(inbound)}`)
  t.match(inbound, { response_code: 0, method: null, protocol: null, upstream_host: `127.0.0.1:${mesh.apps.api.port}`, decision: 'allow', src: /\/svc\/web$/ }, 'a connection: Envoy\'s fields, tcp values')
  t.type(inbound.duration, 'number')
  const outbound = await eventually(() => jsonLines(web.sidecar).find((l) => l.upstream_cluster === 'upstream_service_api'), 5_000, 'web\'s connection line')
  t.match(outbound, { upstream_host: `127.0.0.1:${mesh.ports.apiPublic}`, response_code: 0 })
})
