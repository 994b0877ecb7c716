/**
 * What newer Consul and Nomad releases answer, end to end. Only Consul
 * 1.14.11 runs here, so a real 1.14.11 agent sits behind a rewriting proxy
 * (test/support/consul-emulated.ts) that turns chosen answers into a newer
 * release's, each rewrite citing the release and source it follows
 * (test/support/consul-rewrites.ts). Every test name says "emulated": these
 * are not runs of those releases. The sidecars (real HAProxy) are given the
 * proxy as their agent, HAProxy's Lua authorize calls included, and real
 * traffic goes from web's upstream listener through both sidecars to api.
 * One agent and one proxy serve the file; each test registers its own pair
 * of services (`api-<row>`, `web-<row>`) and switches its rewrites on before
 * the write it observes (index-blocking answers change only when the index
 * moves), then off.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { App } from '../support/apps.ts'
import { versionOf } from '../support/binaries.ts'
import { startConsul } from '../support/consul.ts'
import { startEmulatedConsul, type Rewrite } from '../support/consul-emulated.ts'
import * as rw from '../support/consul-rewrites.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, exitsWith, meshplate, meshplateOnce, type Running } from '../support/process.ts'

t.comment(`${versionOf('consul')} behind the emulating proxy; ${versionOf('haproxy')}`)
const consul = await startConsul()
const emu = await startEmulatedConsul(consul.addr)
const base = mkdtempSync(join(tmpdir(), 'mp-emu-'))
t.teardown(async () => {
  await emu.stop()
  await consul.stop()
  rmSync(base, { recursive: true, force: true })
})

interface Answer {
  status: number
  body: string
}

/** An HTTP app answering `<name> <path>`; a path containing "slow" answers after 1.5 s. */
async function echoApp(name: string): Promise<App> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} ${req.url}\n`)
    if (req.url?.includes('slow')) setTimeout(answer, 1_500).unref()
    else answer()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    hits: () => hits,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  }
}

/** One request to a local listener; a failure is status 0 with the error as body. */
function send(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { ...headers, connection: 'close' }, agent: false, timeout: 5_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve({ status: 0, body: e.message }))
    req.end()
  })
}

async function writeEntry(entry: Record<string, unknown>): Promise<void> {
  const res = await consul.api('PUT', '/v1/config', entry)
  if (res.status !== 200) throw new Error(`PUT /v1/config ${entry.Kind}/${entry.Name}: ${res.status} ${res.text}`)
}

async function deleteEntry(kind: string, name: string): Promise<void> {
  const res = await consul.api('DELETE', `/v1/config/${kind}/${name}`)
  if (res.status !== 200) throw new Error(`DELETE /v1/config/${kind}/${name}: ${res.status} ${res.text}`)
}

interface Pair {
  api: { name: string; app: App; sidecar: Running; dir: string }
  web: { name: string; sidecar: Running; dir: string }
  /** web's upstream listener for each upstream, by destination name. */
  upstreams: Record<string, number>
  /** A request from web to api (the first upstream). */
  send(path: string, headers?: Record<string, string>): Promise<Answer>
  /** True when the request reached api's app and was answered by it. */
  reaches(path: string, headers?: Record<string, string>): Promise<boolean>
  stop(): Promise<void>
}

/**
 * Registers `api-<row>` and `web-<row>` with sidecars (HTTP), web with an upstream to api
 * and to each of `also` (already registered), starts both sidecars against the proxy and
 * waits until both serve.
 */
async function startPair(row: string, o: { also?: string[]; apiApp?: App } = {}): Promise<Pair> {
  const api = `api-${row}`
  const web = `web-${row}`
  const destinations = [api, ...(o.also ?? [])]
  const ports = await freePorts(2 + destinations.length)
  const apiApp = o.apiApp ?? (await echoApp(api))
  const webApp = await echoApp(web)
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  const upstreams = Object.fromEntries(destinations.map((d, i) => [d, ports[2 + i]!]))
  await consul.registerWithSidecar({ name: api, port: apiApp.port, sidecarPort: ports[0]!, proxyConfig })
  await consul.registerWithSidecar({ name: web, port: webApp.port, sidecarPort: ports[1]!, proxyConfig, upstreams: destinations.map((d) => ({ DestinationName: d, LocalBindPort: upstreams[d]! })) })
  const dir = (svc: string) => join(base, svc)
  const start = (svc: string) => meshplate(['sidecar', '--proxy-id', `${svc}-sidecar-proxy`, '--consul-addr', emu.addr, '--dir', dir(svc)])
  const sidecars = { api: start(api), web: start(web) }
  const pair: Pair = {
    api: { name: api, app: apiApp, sidecar: sidecars.api, dir: dir(api) },
    web: { name: web, sidecar: sidecars.web, dir: dir(web) },
    upstreams,
    send: (path, headers) => send(upstreams[api]!, path, headers),
    async reaches(path, headers) {
      const a = await send(upstreams[api]!, path, headers)
      return a.status === 200 && a.body.startsWith(`${api} `)
    },
    async stop() {
      await Promise.all([sidecars.api.stop(), sidecars.web.stop()])
      await Promise.all([apiApp.close(), webApp.close()])
      await consul.deregister(api).catch(() => {})
      await consul.deregister(web).catch(() => {})
    },
  }
  try {
    for (const svc of ['api', 'web'] as const) {
      await eventually(() => /HAProxy ready/.test(sidecars[svc].output()), 20_000, `${svc}-${row}'s sidecar to serve`)
    }
  } catch (err) {
    const logs = `api-${row}:\n${sidecars.api.output().slice(-2500)}\nweb-${row}:\n${sidecars.web.output().slice(-2500)}`
    await pair.stop()
    throw new Error(`${(err as Error).message}\n${logs}`)
  }
  return pair
}

/** Switches rewrites on for the rest of test `t`. */
function using(t: Test, ...rewrites: Rewrite[]): void {
  t.teardown(emu.use(...rewrites))
  for (const r of rewrites) t.comment(`emulating: ${r.name} [${r.cites}]`)
}

const mapOf = (dir: string) => {
  try {
    return readFileSync(join(dir, 'intentions.map'), 'utf8')
  } catch {
    return ''
  }
}

/** Rethrows a failed wait with api's intentions.map and the sidecar's last lines. */
const explain = (pair: Pair, which: 'api' | 'web' = 'api') => (err: unknown): never => {
  const side = which === 'api' ? pair.api : pair.web
  throw new Error(`${(err as Error).message}\n--- ${pair.api.name} intentions.map:\n${mapOf(pair.api.dir)}\n--- ${side.name} sidecar:\n${side.sidecar.output().slice(-2500)}`)
}

t.test('emulated Consul 1.18: authorize answers "Default intention policy" and agent/self is 403 (a Nomad si_token): the sidecar starts and serves', async (t) => {
  const self = rw.agentSelfForbidden()
  const reason = rw.authorizeDefaultIntentionPolicy('deny')
  using(t, self, reason)
  const pair = await startPair('a')
  t.teardown(() => pair.stop())
  t.ok(emu.hits(self.name) > 0, 'the sidecars were refused agent/self')
  t.ok(emu.hits(reason.name) > 0, 'and asked authorize, which gave the 1.18 reason')
  t.match(mapOf(pair.api.dir), /^@default deny$/m, 'intentions.map has the default the 1.18 agent gave: deny')
  const hits = pair.api.app.hits()
  t.notOk(await pair.reaches('/a'), 'no intention: denied by default_intention_policy = deny')
  t.equal(pair.api.app.hits(), hits, 'the denied request never reached api')
  await consul.intention('web-a', 'api-a', 'allow')
  await eventually(() => pair.reaches('/a'), 10_000, 'web-a -> api-a allowed by its intention')
  t.pass('an allow intention lets web-a through')
})

t.test('emulated Consul 1.16: intentions carrying JWT requirements fail closed', async (t) => {
  const pair = await startPair('b')
  t.teardown(() => pair.stop())
  await writeEntry({ Kind: 'service-defaults', Name: 'api-b', Protocol: 'http' })
  t.teardown(() => deleteEntry('service-intentions', 'api-b').catch(() => {}))
  await eventually(() => pair.reaches('/x'), 10_000, 'web-b -> api-b with no intention (default allow)')

  /** Removes the entry and waits until web-b reaches api-b again: each step starts from "allowed". */
  const reset = async () => {
    await deleteEntry('service-intentions', 'api-b')
    await eventually(() => pair.reaches('/reset'), 10_000, 'web-b allowed again after the entry was deleted').catch(explain(pair))
  }
  const intentions = (sources: object[]) => writeEntry({ Kind: 'service-intentions', Name: 'api-b', Sources: sources })

  t.test('an L4 allow with an entry-level JWT never matches: the wildcard deny decides, and a warning names it', async (t) => {
    await reset()
    const jwt = rw.entryJwt('api-b')
    using(t, jwt)
    await intentions([{ Name: 'web-b', Action: 'allow' }, { Name: '*', Action: 'deny' }])
    await eventually(async () => !(await pair.reaches('/jwt-l4')), 10_000, 'web-b denied (its allow needs a JWT it cannot have)').catch(explain(pair))
    const hits = pair.api.app.hits()
    for (let i = 0; i < 3; i++) t.notOk(await pair.reaches(`/jwt-l4/${i}`), `request ${i + 1} denied`)
    t.equal(pair.api.app.hits(), hits, 'no request reached api')
    t.ok(emu.hits(jwt.name) > 0, 'the sidecar read the JWT-carrying answer')
    const warning = await eventually(() => pair.api.sidecar.output().split('\n').find((l) => /JWT/.test(l) && l.includes('web-b')), 5_000, 'a log line naming the intention and JWT').catch(() => undefined)
    t.ok(warning, `a warning names the intention and the field: ${warning ?? pair.api.sidecar.output().slice(-1500)}`)
  })

  t.test('an L7 permission allow with JWT never matches; the next permission decides', async (t) => {
    await reset()
    const jwt = rw.permissionJwt('web-b', 'api-b', 0)
    using(t, jwt)
    await intentions([{ Name: 'web-b', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/jwt' } }, { Action: 'allow', HTTP: { PathPrefix: '/open' } }, { Action: 'deny', HTTP: { PathPrefix: '/' } }] }])
    await eventually(async () => (await pair.send('/other')).status === 403, 10_000, 'the L7 rules in force (/other denied by the last permission)').catch(explain(pair))
    t.equal((await pair.send('/open/1')).status, 200, '/open: an allow without JWT still allows')
    t.equal((await pair.send('/jwt/1')).status, 403, '/jwt: the allow that needs a JWT never matches, deny / decides')
    t.ok(emu.hits(jwt.name) > 0, 'the sidecar read the JWT-carrying answer')
  })

  t.test('a deny with JWT applies to every request it matches: an L7 permission', async (t) => {
    await reset()
    const perm = rw.permissionJwt('web-b', 'api-b', 0)
    using(t, perm)
    await intentions([{ Name: 'web-b', Permissions: [{ Action: 'deny', HTTP: { PathPrefix: '/admin' } }, { Action: 'allow', HTTP: { PathPrefix: '/' } }] }])
    await eventually(async () => (await pair.send('/admin/1')).status === 403, 10_000, 'the JWT-gated deny on /admin applies without any JWT').catch(explain(pair))
    t.equal((await pair.send('/public')).status, 200, 'other paths: the next permission allows')
    t.ok(emu.hits(perm.name) > 0, 'the sidecar read the JWT-carrying answer')
  })

  t.test('a deny with JWT applies to every request: an L4 intention (the default would allow)', async (t) => {
    await reset()
    const entry = rw.entryJwt('api-b')
    using(t, entry)
    await intentions([{ Name: 'web-b', Action: 'deny' }])
    await eventually(async () => !(await pair.reaches('/deny-l4')), 10_000, 'the JWT-gated L4 deny applies to web-b').catch(explain(pair))
    t.notOk(await pair.reaches('/deny-l4/2'), 'and keeps applying')
    t.ok(emu.hits(entry.name) > 0, 'the sidecar read the JWT-carrying answer')
  })

  t.test('an allow for a sameness group never grants access (Consul 1.16 SourceSamenessGroup)', async (t) => {
    await reset()
    const group = rw.sourceSamenessGroup('web-b', 'api-b', 'sg1')
    using(t, group)
    await intentions([{ Name: 'web-b', Action: 'allow' }, { Name: '*', Action: 'deny' }])
    await eventually(async () => !(await pair.reaches('/sameness')), 10_000, 'web-b denied: its allow row is for sameness group sg1, the wildcard deny decides').catch(explain(pair))
    t.notOk(await pair.reaches('/sameness/2'), 'and stays denied')
    t.ok(emu.hits(group.name) > 0, 'the sidecar read the sameness-group answer')
  })
})

t.test('emulated Consul 1.20.1: header matchers with IgnoreCase and Contains are enforced', async (t) => {
  const pair = await startPair('c')
  t.teardown(() => pair.stop())
  await writeEntry({ Kind: 'service-defaults', Name: 'api-c', Protocol: 'http' })
  await eventually(() => pair.reaches('/x'), 10_000, 'web-c -> api-c with no intention (default allow)')
  const ignoreCase = rw.headerIgnoreCase('web-c', 'api-c', 0, 0)
  const contains = rw.headerContains('web-c', 'api-c', 1, 0, 'adm')
  using(t, ignoreCase, contains)
  await writeEntry({
    Kind: 'service-intentions',
    Name: 'api-c',
    Sources: [{
      Name: 'web-c',
      Permissions: [
        { Action: 'deny', HTTP: { Header: [{ Name: 'x-role', Exact: 'admin' }] } },
        { Action: 'deny', HTTP: { Header: [{ Name: 'x-role', Exact: 'replaced-by-contains' }] } },
        { Action: 'allow', HTTP: { PathPrefix: '/' } },
      ],
    }],
  })
  await eventually(async () => (await pair.send('/', { 'x-role': 'badmin' })).status === 403, 10_000, 'the rules with Contains in force (x-role: badmin denied)').catch(explain(pair))
  const cases: Array<[string, number, string]> = [
    ['admin', 403, 'Exact admin'],
    ['ADMIN', 403, 'IgnoreCase: ADMIN is admin'],
    ['Admin', 403, 'IgnoreCase: Admin is admin'],
    ['badmin', 403, 'Contains "adm"'],
    ['xadmx', 403, 'Contains "adm" anywhere'],
    ['BADMIN', 200, 'Contains without IgnoreCase is case-sensitive, and Exact admin does not match BADMIN'],
    ['user', 200, 'neither matches: the allow'],
  ]
  for (const [role, want, why] of cases) t.equal((await pair.send('/r', { 'X-Role': role })).status, want, `X-Role: ${role}: ${why}`)
  t.equal((await pair.send('/r')).status, 200, 'no x-role header: the allow')
  t.ok(emu.hits(ignoreCase.name) > 0 && emu.hits(contains.name) > 0, 'the sidecar read both rewritten matchers')
})

t.test('emulated Consul 1.18: negative route timeouts and CaseInsensitive routes; a chain target in a peer', async (t) => {
  // api-d: a router; api-dp: a second upstream of web-d, later redirected to a peer.
  const dpApp = await echoApp('api-dp')
  const [dpPort] = await freePorts(1)
  await consul.registerWithSidecar({ name: 'api-dp', port: dpApp.port, sidecarPort: dpPort!, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' } })
  const dpSidecar = meshplate(['sidecar', '--proxy-id', 'api-dp-sidecar-proxy', '--consul-addr', emu.addr, '--dir', join(base, 'api-dp')])
  t.teardown(async () => {
    await dpSidecar.stop()
    await dpApp.close()
    await consul.deregister('api-dp').catch(() => {})
  })
  for (const name of ['api-d', 'api-dp']) await writeEntry({ Kind: 'service-defaults', Name: name, Protocol: 'http' })
  let generation = 0
  /**
   * (Re)writes api-d's router. Each write changes the compiled chain (a last route for
   * /generation-<n>), so the chain's blocking query returns and a rewrite switched on is seen:
   * Consul keeps blocking through a write that leaves the compiled chain as it was.
   */
  const router = () =>
    writeEntry({
      Kind: 'service-router',
      Name: 'api-d',
      Routes: [
        { Match: { HTTP: { PathPrefix: '/Case/' } }, Destination: { PrefixRewrite: '/matched/' } },
        { Match: { HTTP: { PathPrefix: '/slow' } }, Destination: { RequestTimeout: '1s' } },
        { Match: { HTTP: { PathPrefix: '/timed' } }, Destination: { RequestTimeout: '1s' } },
        { Match: { HTTP: { PathPrefix: `/generation-${++generation}` } } },
      ],
    })
  await router()
  const pair = await startPair('d', { also: ['api-dp'] })
  t.teardown(() => pair.stop())
  await eventually(() => /HAProxy ready/.test(dpSidecar.output()), 20_000, "api-dp's sidecar to serve")
  await eventually(async () => (await pair.send('/Case/x')).body.startsWith('api-d /matched/x'), 10_000, 'the router in force')
  const timed = await pair.send('/timed/slow')
  t.equal(timed.status, 504, 'control: a 1 s RequestTimeout cuts a 1.5 s answer (504)')

  t.test('RequestTimeout -1s means no timeout', async (t) => {
    const negative = rw.routeNegativeTimeouts('api-d', 1)
    using(t, negative)
    t.equal((await pair.send('/slow/before')).status, 504, 'before: /slow has its 1 s timeout')
    await router()
    await eventually(() => emu.hits(negative.name) > 0, 5_000, 'the rewritten chain fetched')
    const slow = await eventually(async () => {
      const a = await pair.send('/slow/after')
      return a.status === 200 ? a : undefined
    }, 12_000, '/slow answered after 1.5 s (RequestTimeout -1s: none)').catch(explain(pair, 'web'))
    t.match(slow.body, /^api-d \/slow\/after/, 'the slow answer arrived')
    t.equal((await pair.send('/timed/slow')).status, 504, 'the other route keeps its 1 s timeout')
    t.equal((await pair.send('/Case/x')).body.split('\n')[0], 'api-d /matched/x', 'the rest of the chain still routes')
  })

  t.test('Match.HTTP.CaseInsensitive: /case/ takes the /Case/ route', async (t) => {
    const ci = rw.routeCaseInsensitive('api-d', 0)
    using(t, ci)
    t.equal((await pair.send('/case/x')).body.split('\n')[0], 'api-d /case/x', 'before: paths match case-sensitively')
    await router()
    await eventually(async () => (await pair.send('/case/x')).body.startsWith('api-d /matched/x'), 10_000, '/case/x rewritten by the /Case/ route').catch(explain(pair, 'web'))
    t.equal((await pair.send('/CASE/y')).body.split('\n')[0], 'api-d /matched/y', '/CASE/ too')
    t.equal((await pair.send('/Case/z')).body.split('\n')[0], 'api-d /matched/z', 'and /Case/ itself')
    t.equal((await pair.send('/other')).body.split('\n')[0], 'api-d /other', 'other paths are not rewritten')
  })

  t.test('a chain target in a peer is refused: no traffic to the local instances of that name (1.14.11 compiles Redirect.Peer itself)', async (t) => {
    const dp = pair.upstreams['api-dp']!
    await eventually(async () => (await send(dp, '/dp')).body.startsWith('api-dp /dp'), 10_000, 'before: web-d reaches the local api-dp')
    await writeEntry({ Kind: 'service-resolver', Name: 'api-dp', Redirect: { Service: 'api-dp', Peer: 'p1' } })
    t.teardown(() => deleteEntry('service-resolver', 'api-dp').catch(() => {}))
    const chain = (await consul.api('GET', '/v1/discovery-chain/api-dp')).body
    t.same(Object.keys(chain.Chain.Targets), ['api-dp.default.default.external.p1'], 'the real chain has one target, in peer p1')
    await eventually(async () => !(await send(dp, '/dp')).body.startsWith('api-dp'), 10_000, 'the peer target refused').catch(explain(pair, 'web'))
    const hits = dpApp.hits()
    for (let i = 0; i < 5; i++) t.notMatch((await send(dp, `/dp/${i}`)).body, /^api-dp/, `request ${i + 1} not answered by the local api-dp`)
    t.equal(dpApp.hits(), hits, 'the local api-dp got none of them')
    t.match(pair.web.sidecar.output(), /peer/i, 'a log line says a peer target is refused')
    t.equal((await pair.send('/Case/x')).body.split('\n')[0], 'api-d /matched/x', 'the other upstream still serves')
  })
})

t.test('emulated Nomad 1.8 transparent_proxy registration (Mode transparent, upstreams without LocalBindPort): the sidecar serves its declared upstreams', async (t) => {
  const tproxy = rw.transparentRegistration('web-e-sidecar-proxy')
  using(t, tproxy)
  const pair = await startPair('e')
  t.teardown(() => pair.stop())
  t.ok(emu.hits(tproxy.name) > 0, 'the sidecar read the transparent-mode registration')
  await eventually(() => pair.reaches('/e'), 10_000, 'web-e -> api-e through the declared upstream')
  t.pass('the declared upstream serves')

  // Hash blocking through the proxy: a change to the real registration still reaches the sidecar.
  const [moved] = await freePorts(1)
  const svc = (await consul.api('GET', '/v1/agent/service/web-e-sidecar-proxy')).body
  await consul.registerWithSidecar({
    name: 'web-e',
    port: svc.Proxy.LocalServicePort,
    sidecarPort: svc.Port,
    proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' },
    upstreams: [{ DestinationName: 'api-e', LocalBindPort: moved! }],
  })
  await eventually(async () => (await send(moved!, '/moved')).body.startsWith('api-e /moved'), 15_000, 'the upstream listener moved to the new LocalBindPort (hash blocking passes through)')
  t.pass('the re-registration reached the sidecar')
})

t.test('emulated Consul release without ?tag=: service("tag.name") asks with filter', async (t) => {
  const noTag = rw.healthServiceTagRemoved()
  using(t, noTag)
  for (const [id, tags] of [['api-f-v2', ['v2']], ['api-f-v1', ['v1']], ['api-f-none', []]] as const) {
    const res = await consul.api('PUT', '/v1/agent/service/register', { ID: id, Name: 'api-f', Port: 9000, Address: '127.0.0.1', Tags: tags })
    if (res.status !== 200) throw new Error(`register ${id}: ${res.status} ${res.text}`)
    t.teardown(() => consul.deregister(id).catch(() => {}))
  }
  const dir = t.testdir({ 'svc.njk': '{% for s in service("v2.api-f") %}{{ s.ID }} [{{ s.Tags | join(",") }}]\n{% endfor %}' })
  const out = join(dir, 'svc.txt')
  const r = await meshplateOnce(['once', '--consul-addr', emu.addr, '-t', `${join(dir, 'svc.njk')}:${out}`, '--timeout', '8s'])
  exitsWith(t, r, 0, 'rendered against a release that refuses ?tag=')
  t.equal(emu.hits(noTag.name), 0, 'no request carried ?tag=')
  t.equal(r.code === 0 ? readFileSync(out, 'utf8') : '', 'api-f-v2 [v2]\n', 'only the instance tagged v2')
})
