/**
 * The Consul client is the only code that speaks HTTP, so it is where every
 * network failure must turn into a typed, one-line error naming the endpoint.
 * A real agent will not fail on demand, so these are fault tests against a
 * local stub that answers like a broken or unlucky agent: "No cluster leader",
 * "Permission denied", a hang, a half-sent body, a reset, bad JSON. Normal
 * traffic against a real agent is covered by test/integration.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import t, { type Test } from 'tap'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { ConsulClient, type ConsulClientOptions } from '../../../src/consul/client.ts'
import { LeafCertDependency } from '../../../src/dependency/leaf-cert.ts'
import { ConsulHttpError, ConsulResponseError, ConsulUnreachableError } from '../../../src/errors.ts'

interface Seen {
  method: string
  url: URL
  headers: IncomingHttpHeaders
  body: string
}

/** A stub agent on 127.0.0.1:0 (or a unix socket) that records requests and lets `handler` misbehave. */
async function faultStub(t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void, socketPath?: string, options: Partial<ConsulClientOptions> = {}) {
  const seen: Seen[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      seen.push({ method: req.method!, url: new URL(req.url!, 'http://stub'), headers: req.headers, body })
      handler(req, res)
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)))
  const client = new ConsulClient({ address: socketPath ? `unix://${socketPath}` : `127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'secret-token', ...options })
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await client.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { client, seen }
}

/** Awaits `p` and returns its rejection, failing the test if it resolves. */
async function rejection(t: Test, p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  t.fail('expected the request to fail')
  return undefined
}

t.test('fault stub: 500 "No cluster leader" becomes ConsulHttpError with Consul’s text', async (t) => {
  const { client } = await faultStub(t, (_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' })
    res.end('No cluster leader')
  })
  const err = await rejection(t, client.get('/v1/health/connect/api', { passing: '' }))
  t.ok(err instanceof ConsulHttpError)
  t.match(err, { code: 'CONSUL_HTTP', status: 500, endpoint: 'GET /v1/health/connect/api', body: 'No cluster leader' })
  t.equal((err as Error).message, 'consul GET /v1/health/connect/api: 500 No cluster leader')
})

t.test('fault stub: 403 "Permission denied" reaches .message, and the token was sent', async (t) => {
  const denial = 'Permission denied: token with AccessorID \'6f1f0b9e-0000-0000-0000-000000000001\' lacks permission \'service:read\' on "api"'
  const { client, seen } = await faultStub(t, (_req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain' })
    res.end(denial)
  })
  const err = await rejection(t, client.get('/v1/health/connect/api'))
  t.ok(err instanceof ConsulHttpError)
  t.equal((err as ConsulHttpError).status, 403)
  t.match((err as Error).message, /^consul GET \/v1\/health\/connect\/api: 403 Permission denied: token with AccessorID/)
  t.equal(seen[0]?.headers['x-consul-token'], 'secret-token', 'the token goes in X-Consul-Token')
  t.notMatch(seen[0]?.url.search ?? '', /token/, 'the token is never put in the URL')
})

t.test('fault stub: a 403 "ACL not found" re-reads the token, so the next request carries the new one', async (t) => {
  let rereads = 0
  const rereadToken = () => {
    rereads++
    return { token: 'reminted-token', source: 'nomad si_token /secrets/si_token' }
  }
  const { client, seen } = await faultStub(t, (req, res) => {
    const known = req.headers['x-consul-token'] === 'reminted-token'
    res.writeHead(known ? 200 : 403)
    res.end(known ? '{}' : 'ACL not found')
  }, undefined, { tokenSource: 'nomad si_token /secrets/si_token', rereadToken })
  const err = await rejection(t, client.get('/v1/agent/connect/ca/leaf/api'))
  t.match(err, { code: 'CONSUL_HTTP', status: 403, message: /ACL not found/ }, 'the 403 itself still reaches the caller (its backoff)')
  t.equal(rereads, 1)
  const ok = await client.get('/v1/agent/connect/ca/leaf/api')
  t.same(ok.body, {})
  t.same(seen.map((s) => s.headers['x-consul-token']), ['secret-token', 'reminted-token'])
  t.equal(client.tokenSource, 'nomad si_token /secrets/si_token')
})

t.test('fault stub: "Permission denied" does not re-read, and a failed re-read keeps the token', async (t) => {
  let rereads = 0
  let answer = 'Permission denied: token lacks permission'
  const { client, seen } = await faultStub(t, (_req, res) => {
    res.writeHead(403)
    res.end(answer)
  }, undefined, {
    rereadToken: () => {
      rereads++
      throw new Error('half-written file')
    },
  })
  await rejection(t, client.get('/v1/agent/services'))
  t.equal(rereads, 0, 'a token that exists but lacks rights is not re-read')
  answer = 'ACL not found'
  await rejection(t, client.get('/v1/agent/services'))
  await rejection(t, client.get('/v1/agent/services'))
  t.equal(rereads, 2)
  t.same(seen.map((s) => s.headers['x-consul-token']), ['secret-token', 'secret-token', 'secret-token'])
})

t.test('fault stub: a denied write sends its JSON body and token', async (t) => {
  const { client, seen } = await faultStub(t, (_req, res) => {
    res.writeHead(403)
    res.end('Permission denied: token lacks permission \'service:write\' on "db"')
  })
  const body = { Target: 'db', ClientCertURI: 'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web', ClientCertSerial: '04:a1' }
  const err = await rejection(t, client.write('POST', '/v1/agent/connect/authorize', body))
  t.match(err, { code: 'CONSUL_HTTP', status: 403, endpoint: 'POST /v1/agent/connect/authorize', message: /Permission denied/ })
  t.equal(seen[0]?.method, 'POST')
  t.equal(seen[0]?.headers['content-type'], 'application/json')
  t.equal(seen[0]?.headers['x-consul-token'], 'secret-token')
  t.same(JSON.parse(seen[0]!.body), body)
})

t.test('fault stub: blocking parameters go in the query string', async (t) => {
  const { client, seen } = await faultStub(t, (req, res) => {
    const hashed = req.url!.startsWith('/v1/agent/service/')
    res.writeHead(200, hashed ? { 'x-consul-contenthash': 'f2a9c1' } : { 'x-consul-index': '43' })
    res.end(hashed ? '{"ID":"web-sidecar-proxy"}' : '[]')
  })
  const indexed = await client.get('/v1/health/connect/api', { passing: '', dc: 'dc2' }, { index: 42, waitMs: 30_000 })
  const hashed = await client.get('/v1/agent/service/web-sidecar-proxy', {}, { hash: 'f2a9c0', waitMs: 1500.4 })
  await client.get('/v1/health/connect/api', { passing: '', dc: undefined }, { index: 0, waitMs: 30_000 })
  await client.get('/v1/agent/connect/ca/roots', {}, { waitMs: 30_000 })

  const [q1, q2, q3, q4] = seen.map((s) => s.url.searchParams)
  t.equal(q1!.get('index'), '42')
  t.equal(q1!.get('wait'), '30000ms')
  t.equal(q1!.get('dc'), 'dc2')
  t.ok(q1!.has('passing'))
  t.equal(indexed.index, 43, 'X-Consul-Index is returned')
  t.same(indexed.body, [])

  t.equal(q2!.get('hash'), 'f2a9c0')
  t.equal(q2!.get('wait'), '1500ms')
  t.notOk(q2!.has('index'))
  t.equal(hashed.contentHash, 'f2a9c1', 'X-Consul-ContentHash is returned')
  t.equal(hashed.index, undefined)

  t.notOk(q3!.has('index'), 'index 0 means a plain, non-blocking read')
  t.notOk(q3!.has('wait'), 'no wait without index or hash')
  t.notOk(q3!.has('dc'), 'an undefined parameter is left out')
  t.notOk(q4!.has('wait'))
})

t.test('fault stub: the cache, age, backend and last-contact headers come back as the answer\'s meta', async (t) => {
  const answers: Array<Record<string, string>> = [
    { 'x-cache': 'HIT', age: '3', 'x-consul-query-backend': 'streaming', 'x-consul-lastcontact': '12', 'x-consul-knownleader': 'false' },
    { 'x-cache': 'MISS', 'x-consul-query-backend': 'blocking-query', 'x-consul-lastcontact': '0' },
    { age: 'soon', 'x-consul-lastcontact': '-1' },
  ]
  const { client, seen } = await faultStub(t, (_req, res) => {
    res.writeHead(200, answers.shift()!)
    res.end('[]')
  })
  t.same((await client.get('/v1/health/connect/api', { cached: '' }, { cacheMaxAgeS: 10 })).meta, { cache: 'HIT', ageS: 3, backend: 'streaming', lastContactMs: 12 })
  t.same((await client.get('/v1/connect/intentions/match', { cached: '' }, { cacheMaxAgeS: 0.2 })).meta, { cache: 'MISS', backend: 'blocking-query', lastContactMs: 0 })
  t.same((await client.get('/v1/kv/app')).meta, {}, 'values that are not numbers are left out')
  t.equal(seen[0]!.headers['cache-control'], 'max-age=10', 'a cached read the agent does not refresh says how old an answer may be')
  t.equal(seen[1]!.headers['cache-control'], 'max-age=1', 'at least one second: max-age=0 would mean no bound')
  t.equal(seen[2]!.headers['cache-control'], undefined)
  t.equal(seen[0]!.url.search, '?cached', 'a flag parameter is sent without "="')
})

t.test('fault stub: an X-Consul-Index that is not a number is ignored', async (t) => {
  const values = ['abc', '-5', '1.5']
  const { client } = await faultStub(t, (_req, res) => {
    res.writeHead(200, { 'x-consul-index': values.shift()! })
    res.end('{}')
  })
  for (let i = 0; i < 3; i++) t.equal((await client.get('/v1/agent/connect/ca/roots')).index, undefined)
})

t.test('fault stub: a hung agent times out as ConsulUnreachableError', async (t) => {
  const { client } = await faultStub(t, () => {
    // Never answer.
  })
  const started = Date.now()
  const err = await rejection(t, client.get('/v1/kv/app/config', {}, { index: 7, waitMs: 100 }))
  t.ok(err instanceof ConsulUnreachableError)
  t.match(err, { code: 'CONSUL_UNREACHABLE', endpoint: 'GET /v1/kv/app/config', message: /^consul GET \/v1\/kv\/app\/config: .*time/i })
  t.ok(Date.now() - started < 15_000, 'the request did not hang (timeout is wait + 5 s slack)')
})

t.test('fault stub: a body that stops half way times out as ConsulUnreachableError', async (t) => {
  const { client } = await faultStub(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '9' })
    res.write('{"ActiveRootID":"8f:1b","TrustDomain":')
  })
  const started = Date.now()
  const err = await rejection(t, client.get('/v1/agent/connect/ca/roots', {}, { index: 8, waitMs: 100 }))
  t.match(err, { code: 'CONSUL_UNREACHABLE', endpoint: 'GET /v1/agent/connect/ca/roots' })
  t.ok(err instanceof ConsulUnreachableError)
  t.ok(Date.now() - started < 15_000, 'the body read did not hang')
})

t.test('fault stub: a connection reset is ConsulUnreachableError naming the endpoint', async (t) => {
  const { client } = await faultStub(t, (req) => req.socket.destroy())
  const err = await rejection(t, client.get('/v1/agent/connect/ca/leaf/web', {}, { index: 3, waitMs: 60_000 }))
  t.ok(err instanceof ConsulUnreachableError)
  t.match((err as Error).message, /^consul GET \/v1\/agent\/connect\/ca\/leaf\/web: /)
})

t.test('fault stub: malformed JSON is ConsulResponseError naming the endpoint', async (t) => {
  const { client } = await faultStub(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ActiveRootID": "8f:1b", "Roots": [')
  })
  const err = await rejection(t, client.get('/v1/agent/connect/ca/roots'))
  t.ok(err instanceof ConsulResponseError)
  t.match(err, { code: 'CONSUL_RESPONSE_INVALID', endpoint: 'GET /v1/agent/connect/ca/roots' })
  t.match((err as Error).message, /^consul GET \/v1\/agent\/connect\/ca\/roots: invalid response: body is not JSON/)
})

t.test('fault stub: valid JSON of the wrong shape is refused at the boundary', async (t) => {
  const { client } = await faultStub(t, (_req, res) => {
    res.writeHead(200, { 'x-consul-index': '12' })
    res.end(JSON.stringify({ SerialNumber: '1a:2b', CertPEM: 12345 }))
  })
  const err = await rejection(t, new LeafCertDependency('web').fetch(client, { waitMs: 1000 }))
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/connect/ca/leaf/web: invalid response: CertPEM is not a string')
})

t.test('fault stub: the caller’s abort ends a blocking request at once and is not reported as unreachable', async (t) => {
  let arrived!: () => void
  const inFlight = new Promise<void>((r) => (arrived = r))
  const { client } = await faultStub(t, () => arrived())
  const abort = new AbortController()
  const pending = client.get('/v1/connect/intentions/match', { by: 'destination', name: 'web' }, { index: 5, waitMs: 60_000, signal: abort.signal })
  await inFlight
  const started = Date.now()
  abort.abort()
  const err = await rejection(t, pending)
  t.notOk(err instanceof ConsulUnreachableError)
  t.ok(Date.now() - started < 2_000, 'abort is prompt')
})

t.test('fault stub: a unix:// address talks over the socket', async (t) => {
  // Unix socket paths are limited to 107 bytes; t.testdir() paths can be longer in a deep checkout.
  const dir = mkdtempSync(join(tmpdir(), 'mp-sock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { client, seen } = await faultStub(
    t,
    (_req, res) => {
      res.writeHead(200, { 'x-consul-index': '5' })
      res.end(JSON.stringify([{ Key: 'app/config', Value: 'aGVsbG8=' }]))
    },
    join(dir, 'c.sock'),
  )
  t.equal(client.address.socketPath, join(dir, 'c.sock'))
  const res = await client.get('/v1/kv/app/config')
  t.same(res.body, [{ Key: 'app/config', Value: 'aGVsbG8=' }])
  t.equal(res.index, 5)
  t.equal(seen[0]?.url.pathname, '/v1/kv/app/config')
})

t.test('an agent that is not listening is CONSUL_UNREACHABLE', async (t) => {
  const closed = createServer()
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
  const { port } = closed.address() as AddressInfo
  await new Promise<void>((r) => closed.close(() => r()))
  const client = new ConsulClient({ address: `127.0.0.1:${port}` })
  t.teardown(() => client.close())
  const err = await rejection(t, client.get('/v1/agent/self'))
  t.ok(err instanceof ConsulUnreachableError)
  t.match((err as Error).message, /^consul GET \/v1\/agent\/self: .*ECONNREFUSED/)
})

t.test('a bad address fails when the client is made', async (t) => {
  t.throws(() => new ConsulClient({ address: 'ftp://consul:21' }), { code: 'CONFIG_INVALID' })
})
