/**
 * The start check decides between "wait, the token may still work" and "fail
 * now with one line": only a 403 counts against the token, it is retried
 * until the deadline (a re-minted token may arrive), and the line names the
 * source and every place looked in, never the value.
 */
import t from 'tap'
import type { ConsulConfig } from '../../../src/config/resolve.ts'
import type { ConsulClient, ConsulResponse } from '../../../src/consul/client.ts'
import { ConsulHttpError, ConsulUnreachableError } from '../../../src/errors.ts'
import { silentLogger } from '../../../src/log.ts'
import { MeshplateError } from '../../../src/errors.ts'
import { checkProxyToken, startTokenCheck, tokenFailure } from '../../../src/sidecar/token-check.ts'

const places = '--consul-token-file, --consul-token, config consul.tokenFile/consul.token, /s/si_token, /s/envoy_bootstrap.json, env CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN, CONSUL_TOKEN'
const consul = (token?: string, tokenSource = token ? 'env CONSUL_HTTP_TOKEN' : 'none') =>
  ({ address: '127.0.0.1:8500', token, tokenSource, tokenFile: undefined, tokenPlaces: places }) as ConsulConfig

/** A client whose answers come from `answer(path)`: a body, or an error to throw. */
function stubClient(answer: (path: string) => unknown, tokenSource?: string) {
  const paths: string[] = []
  const client = {
    tokenSource,
    async get(path: string): Promise<ConsulResponse> {
      paths.push(path)
      const a = answer(path)
      if (a instanceof Error) throw a
      return { body: a, digest: '', ...(path.endsWith('/roots') ? { aclDefaultPolicy: a as string } : {}) }
    },
  } as unknown as ConsulClient
  return { client, paths }
}

const check = (c: ConsulConfig, graceMs = 1_500) => ({ consul: c, log: silentLogger, signal: new AbortController().signal, deadline: Date.now() + graceMs, anonymousDenied: false })
const proxy = { ID: 'api-sidecar-proxy', Proxy: { DestinationServiceName: 'api' } }
const denied = (path: string) => new ConsulHttpError(`GET ${path}`, 403, `Permission denied: token with AccessorID 'a1' lacks permission 'service:write' on "api"`)

t.test('ACLs off with acl.default_policy = "deny": the header says deny, but /v1/acl/token/self answers 401, so nothing is the token’s fault', async (t) => {
  const { client, paths } = stubClient((path) => (path.endsWith('/token/self') ? new ConsulHttpError(`GET ${path}`, 401, 'ACL support disabled') : 'deny'))
  const c = await startTokenCheck(client, consul(), silentLogger, new AbortController().signal, 30_000)
  t.equal(c.anonymousDenied, false)
  t.same(paths, ['/v1/agent/connect/ca/roots', '/v1/acl/token/self'])
  t.equal(tokenFailure(client, c, new MeshplateError('PROXY_NOT_FOUND', 'no connect proxy for service "api"')), undefined)
})

t.test('no token and an agent that denies by default: a proxy it hides is the token’s fault, in one line naming every place', async (t) => {
  const { client } = stubClient(() => 'deny')
  const c = await startTokenCheck(client, consul(), silentLogger, new AbortController().signal, 30_000)
  t.equal(c.anonymousDenied, true)
  const hidden = new MeshplateError('PROXY_NOT_FOUND', 'no connect proxy for service "api" in Nomad allocation a1: it has registered no connect proxy yet')
  t.equal(tokenFailure(client, c, hidden)?.message, `no usable Consul token: the agent has ACLs on with default policy deny, no token was found, and the anonymous token sees no proxy (${hidden.message}); looked in ${places}`)
  t.equal(tokenFailure(client, c, new ConsulUnreachableError('GET /v1/agent/services', 'ECONNREFUSED')), undefined, 'an unreachable agent is not the token’s fault')
})

t.test('a hidden proxy is not the token’s fault when ACLs are off (allow), the agent is down, or a token exists', async (t) => {
  const hidden = new MeshplateError('PROXY_NOT_FOUND', 'none registered yet')
  for (const [answer, c, why] of [['allow', consul(), 'allow'], [new ConsulUnreachableError('GET /v1/agent/connect/ca/roots', 'ECONNREFUSED'), consul(), 'agent down'], ['deny', consul('t'), 'a token']] as const) {
    const { client, paths } = stubClient(() => answer)
    const started = await startTokenCheck(client, c, silentLogger, new AbortController().signal, 30_000)
    t.equal(tokenFailure(client, started, hidden), undefined, why)
    if (c.token) t.same(paths, [], 'with a token, nothing is asked')
  }
})

t.test('a token refused for the leaf is retried until the deadline, then fails naming source and endpoint', async (t) => {
  const { client, paths } = stubClient((p) => (p.includes('/leaf/') ? denied(p) : proxy), 'env CONSUL_HTTP_TOKEN')
  const started = Date.now()
  const err = await checkProxyToken(client, 'api-sidecar-proxy', check(consul('task-identity-value'), 1_500)).then(() => undefined, (e: Error) => e)
  const took = Date.now() - started
  t.match(err, { code: 'TOKEN_UNUSABLE' })
  t.equal(err?.message, `no usable Consul token: the token from env CONSUL_HTTP_TOKEN was refused: consul GET /v1/agent/connect/ca/leaf/api: 403 Permission denied: token with AccessorID 'a1' lacks permission 'service:write' on "api"; looked in ${places}`)
  t.notMatch(err?.message, /task-identity-value/, 'never the value')
  t.ok(took >= 1_400 && took < 3_000, `gave up at the deadline (${took} ms)`)
  t.ok(paths.filter((p) => p.includes('/leaf/')).length >= 2, 'retried in the meantime')
})

t.test('a refusal that clears before the deadline (a re-minted token) passes', async (t) => {
  let leafCalls = 0
  const { client } = stubClient((p) => (p.includes('/leaf/') ? (++leafCalls === 1 ? denied(p) : { CertPEM: 'x' }) : proxy), 'nomad si_token /s/si_token')
  await checkProxyToken(client, 'api-sidecar-proxy', check(consul('t'), 5_000))
  t.equal(leafCalls, 2)
})

t.test('anything but a 403 is left to the views', async (t) => {
  const notRegistered = stubClient((p) => new ConsulHttpError(`GET ${p}`, 404, 'unknown proxy service ID'))
  await checkProxyToken(notRegistered.client, 'api-sidecar-proxy', check(consul('t')))
  t.same(notRegistered.paths, ['/v1/agent/service/api-sidecar-proxy'])
  const down = stubClient((p) => (p.includes('/leaf/') ? new ConsulUnreachableError(`GET ${p}`, 'ECONNRESET') : proxy))
  await checkProxyToken(down.client, 'api-sidecar-proxy', check(consul('t')))
  t.equal(down.paths.length, 2)
})

t.test('no token and an anonymous token refused: the line says none was found', async (t) => {
  const { client } = stubClient((p) => denied(p))
  await t.rejects(checkProxyToken(client, 'api-sidecar-proxy', check(consul(), 0)), { message: /^no usable Consul token: no token was found, and the anonymous token was refused: consul GET \/v1\/agent\/service\/api-sidecar-proxy: 403 / })
})
