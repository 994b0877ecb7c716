/**
 * L7 intentions end to end, as a Consul user writes them: a real
 * `service-intentions` config entry with path, method and header
 * permissions, enforced per request by api's sidecar (real HAProxy, real
 * Consul), with real HTTP traffic through web's sidecar. A deny is a 403
 * "RBAC: access denied" that web's sidecar never retries (gRPC: status 7,
 * PERMISSION_DENIED); a request no permission matches gets the agent's
 * default; paths are normalised first, so `/public/../admin` is `/admin`;
 * changes land on kept-alive connections without a reload; and a regex
 * HAProxy cannot take denies its source whole, with a warning naming the
 * intention (read in the direction that grants less, never a failed map).
 */
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { connect as h2connect } from 'node:http2'
import { join } from 'node:path'
import t from 'tap'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { eventually } from '../support/process.ts'
import { tcpRoundTrip, tlsExchange } from '../support/traffic.ts'

interface Answer {
  status: number
  body: string
}

/** One HTTP request through web's upstream listener; the path is sent exactly as given. */
function send(mesh: Mesh, path: string, o: { method?: string; headers?: Record<string, string>; agent?: Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: mesh.ports.upstream, path, method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? false, timeout: 5_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${path}`)))
    req.on('error', reject)
    req.end()
  })
}

async function writeEntry(mesh: Mesh, entry: object): Promise<void> {
  const res = await mesh.consul.api('PUT', '/v1/config', entry)
  if (res.status !== 200) throw new Error(`PUT /v1/config: ${res.status} ${res.text}`)
}

/** Consul accepts L7 permissions only for a destination whose central protocol is HTTP-like. */
const httpDefaults = (mesh: Mesh) => writeEntry(mesh, { Kind: 'service-defaults', Name: 'api', Protocol: 'http' })

const mapOf = (mesh: Mesh) => readFileSync(join(mesh.dirs.api, 'intentions.map'), 'utf8')
const reloads = (out: string) => (out.match(/New worker \(\d+\) forked/g) ?? []).length

const RULES = {
  Kind: 'service-intentions',
  Name: 'api',
  Sources: [{
    Name: 'web',
    Permissions: [
      { Action: 'deny', HTTP: { PathPrefix: '/admin' } },
      { Action: 'allow', HTTP: { PathPrefix: '/public/', Methods: ['GET', 'HEAD'] } },
      { Action: 'allow', HTTP: { PathRegex: '/api/v[0-9]+/items' } },
      { Action: 'allow', HTTP: { PathPrefix: '/ops', Header: [{ Name: 'X-Role', Exact: 'ops' }, { Name: 'X-Debug', Present: true, Invert: true }] } },
      { Action: 'deny', HTTP: { PathPrefix: '/' } },
    ],
  }],
}

t.test('http: path, method and header permissions enforced per request; a deny is one 403, never retried', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await send(mesh, '/warmup').catch(() => undefined))?.status === 200, 10_000, 'first request')
  await httpDefaults(mesh)
  const workersBefore = reloads(mesh.sidecars.api.output())

  await writeEntry(mesh, RULES)
  await eventually(() => /^web l7 5$/m.test(mapOf(mesh)), 10_000, 'the L7 rules in api\'s intentions.map')
  await eventually(async () => (await send(mesh, '/admin')).status === 403, 10_000, 'the rules in HAProxy')

  const cases: Array<[string, string, Record<string, string>, number, string]> = [
    ['GET', '/public/page', {}, 200, 'prefix + method allows'],
    ['HEAD', '/public/page', {}, 200, 'HEAD is listed too'],
    ['POST', '/public/page', {}, 403, 'a method not listed falls to the next permission (deny /)'],
    ['GET', '/api/v2/items', {}, 200, 'the regex matches the whole path'],
    ['GET', '/api/v2/items/7', {}, 403, 'the regex is anchored at the end'],
    ['GET', '/x/api/v2/items', {}, 403, 'and at the start'],
    ['GET', '/ops/panel', { 'x-role': 'ops' }, 200, 'header exact + inverted present'],
    ['GET', '/ops/panel', { 'x-role': 'ops', 'x-debug': '1' }, 403, 'an inverted present header refuses'],
    ['GET', '/ops/panel', { 'x-role': 'opsx' }, 403, 'exact means exact'],
    ['GET', '/admin/users', {}, 403, 'the first permission that matches decides'],
  ]
  for (const [method, path, headers, want, why] of cases) {
    const a = await send(mesh, path, { method, headers })
    t.equal(a.status, want, `${method} ${path} ${JSON.stringify(headers)}: ${why}`)
    if (want === 403 && method !== 'HEAD') t.equal(a.body, 'RBAC: access denied', `${method} ${path}: Envoy's body`)
    if (want === 200 && method === 'GET') t.match(a.body, new RegExp(`^api ${path.replace(/[/.]/g, '\\$&')}\\n`), `${path} reached the app`)
  }

  // Normalised before matching: none of these reaches /admin through the /public/ rule.
  for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin', '/public/./../admin']) {
    t.equal((await send(mesh, path)).status, 403, `${path} is /admin, denied`)
  }
  for (const path of ['/public/../private', '/public/%2e%2e/private', '//private']) {
    const a = await send(mesh, path)
    t.equal(a.status, 403, `${path} never reaches /private (only /public/ is allowed)`)
  }
  const dotted = await send(mesh, '/public/./a/../page')
  t.equal(dotted.status, 200)
  t.match(dotted.body, /^api \/public\/page\n/, 'the app receives the normalised path')
  t.equal((await send(mesh, '/public/%zz')).status, 400, 'a path that cannot be normalised is refused with 400')

  // One deny, one request at api's sidecar: web's sidecar does not retry a 403.
  const marker = `/admin/once-${Date.now()}`
  t.equal((await send(mesh, marker)).status, 403)
  await eventually(() => mesh.sidecars.api.output().includes(marker), 5_000, 'the deny in api\'s log')
  await new Promise((r) => setTimeout(r, 300))
  const lines = mesh.sidecars.api.output().split('\n').filter((l) => l.includes(marker))
  t.equal(lines.length, 1, 'exactly one request reached api\'s sidecar (no retry)')
  t.match(lines[0], /403 .*src=spiffe:\/\/[^ ]+\/svc\/web decision=deny rule=web#1 reason=permission-deny/, 'logged with source, rule and reason')
  t.equal(reloads(mesh.sidecars.api.output()), workersBefore, 'no reload for any of it')
})

t.test('http: no permission matches -> the agent\'s default; changes reach kept-alive connections', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await send(mesh, '/warmup').catch(() => undefined))?.status === 200, 10_000, 'first request')
  await httpDefaults(mesh)
  // A mesh entry (Consul 1.14's has no RequestNormalization, and no Name): the defaults still apply.
  await writeEntry(mesh, { Kind: 'mesh', TransparentProxy: { MeshDestinationsOnly: false } })
  await writeEntry(mesh, { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Permissions: [{ Action: 'deny', HTTP: { PathExact: '/secret' } }] }] })
  await eventually(() => /^web l7 1$/m.test(mapOf(mesh)), 10_000, 'rules rendered')
  t.match(mapOf(mesh), /^@default allow$/m, 'the default is the agent\'s: ACLs off -> allow')
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  await eventually(async () => (await send(mesh, '/secret', { agent })).status === 403, 10_000, 'rules in force')
  const open = await send(mesh, '/open', { agent })
  t.equal(open.status, 200, 'no permission matches: default allow')
  await eventually(() => /GET \/open" src=\S+ decision=allow rule=web#default reason=default-allow/.test(mesh.sidecars.api.output()), 5_000, 'logged as the default')
  const workers = reloads(mesh.sidecars.api.output())

  await writeEntry(mesh, { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Permissions: [{ Action: 'deny', HTTP: { PathExact: '/open' } }] }] })
  const started = Date.now()
  await eventually(async () => (await send(mesh, '/open', { agent })).status === 403, 10_000, 'the new rule on the kept-alive connection')
  t.comment(`an L7 change took effect on a kept-alive connection ${Date.now() - started} ms after the write`)
  t.equal((await send(mesh, '/secret', { agent })).status, 200, 'the old rule is gone')
  t.equal((await send(mesh, '/secret/../open', { agent })).status, 403, 'paths still normalised with a mesh entry that does not set it')
  t.notMatch(mesh.sidecars.api.output(), /config\.entry\(mesh\/mesh\).*(error|invalid|not)/i, 'the mesh entry was read without error')
  t.equal(reloads(mesh.sidecars.api.output()), workers, 'no reload')

  // A regex HAProxy cannot take: the source is denied whole (grants less), with a warning naming the intention.
  await writeEntry(mesh, { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '(?<=a)b' } }] }] })
  await eventually(() => /WARN.*intention web -> api .*Permissions\[0\]: regex "\(\?<=a\)b" at offset 0: lookbehind.*; every request from web is denied/.test(mesh.sidecars.api.output()), 10_000, 'the warning naming the intention')
  t.pass('the warning names the intention, the permission and what is wrong')
  await eventually(() => /^web deny$/m.test(mapOf(mesh)), 10_000, 'web denied whole in the map')
  await eventually(async () => (await send(mesh, '/secret', { agent })).status === 403, 10_000, 'web denied on every path, on the kept-alive connection')
  t.equal((await send(mesh, '/open', { agent })).status, 403, 'and on the path the last rules denied')
  t.equal(reloads(mesh.sidecars.api.output()), workers, 'still no reload')
})

t.test('precedence as Consul orders it: exact source over wildcard, both ways, L7 included', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await send(mesh, '/warmup').catch(() => undefined))?.status === 200, 10_000, 'first request')
  await httpDefaults(mesh)
  const roots = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const other = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/reports')).body
  /** A request from "reports", another mesh service, straight to api's public listener. */
  const fromOther = async (path: string) => {
    const o = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: other.CertPEM, key: other.PrivateKeyPEM, payload: `GET ${path} HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n`, timeoutMs: 5_000 })
    return o.ok ? Number(/^HTTP\/1\.1 (\d+)/.exec(o.body)?.[1]) : 0
  }
  const entry = (sources: object[]) => writeEntry(mesh, { Kind: 'service-intentions', Name: 'api', Sources: sources })

  await entry([{ Name: 'web', Action: 'deny' }, { Name: '*', Action: 'allow' }])
  await eventually(async () => (await send(mesh, '/x')).status === 403, 10_000, 'web denied')
  t.equal(await fromOther('/x'), 200, 'a specific deny over a wildcard allow: others still allowed')

  await entry([{ Name: 'web', Action: 'allow' }, { Name: '*', Action: 'deny' }])
  await eventually(async () => (await send(mesh, '/x')).status === 200, 10_000, 'web allowed')
  t.equal(await fromOther('/x'), 403, 'the reverse: others denied')

  await entry([{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/a' } }, { Action: 'deny', HTTP: { PathPrefix: '/b' } }] }, { Name: '*', Action: 'deny' }])
  await eventually(async () => (await send(mesh, '/b')).status === 403, 10_000, 'web /b denied by its L7 permission')
  t.equal((await send(mesh, '/a')).status, 200, 'web /a allowed by its L7 permission')
  t.equal((await send(mesh, '/c')).status, 200, 'web /c matches no permission: the agent default (allow), not the lower-precedence `*` deny')
  t.equal(await fromOther('/a'), 403, 'others get the wildcard deny')
})

t.test('grpc: a deny is grpc-status 7 (PERMISSION_DENIED), not a broken stream', async (t) => {
  const mesh = await startMesh({ protocol: 'grpc' })
  t.teardown(() => mesh.stop())
  await mesh.consul.intention('web', 'api', 'deny')
  await eventually(() => /^web deny$/m.test(mapOf(mesh)), 10_000, 'deny rendered')
  const session = h2connect(`http://127.0.0.1:${mesh.ports.upstream}`)
  t.teardown(() => session.close())
  const headers = await eventually(() => new Promise<Record<string, unknown> | undefined>((resolve) => {
    const s = session.request({ ':method': 'POST', ':path': '/pkg.Service/Method', 'content-type': 'application/grpc', te: 'trailers' })
    s.on('response', (h) => resolve(h as Record<string, unknown>))
    s.on('error', () => resolve(undefined))
    s.end(Buffer.from([0, 0, 0, 0, 0]))
  }).then((h) => (h && h['grpc-status'] === '7' ? h : undefined)), 10_000, 'a PERMISSION_DENIED answer')
  t.equal(headers[':status'], 200, 'HTTP 200, as gRPC requires')
  t.equal(headers['grpc-message'], 'RBAC: access denied')
  t.match(String(headers['content-type']), /^application\/grpc/, `content-type of ${JSON.stringify(headers)}`)
})

t.test('tcp: an intention with Permissions counts as deny and closes the connection', async (t) => {
  const mesh = await startMesh({ protocol: 'tcp' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await tcpRoundTrip(mesh.ports.upstream, 'hi')).ok, 10_000, 'first round trip')
  // Central config says http (so Consul takes the entry), api's own registration says tcp and wins.
  await httpDefaults(mesh)
  await writeEntry(mesh, { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }] })
  await eventually(() => /^web deny$/m.test(mapOf(mesh)), 10_000, 'rendered as deny for tcp')
  await eventually(async () => !(await tcpRoundTrip(mesh.ports.upstream, 'hi')).ok, 10_000, 'the connection refused')
  t.pass('a tcp destination closes the connection')
})
