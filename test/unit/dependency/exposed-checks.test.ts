/**
 * The checks the agent points at the sidecar, read from `/v1/agent/checks`.
 * The body below is what Consul 1.14.11's `-dev` agent answered for `api`
 * registered with an HTTP check on `http://127.0.0.1:18561/healthz?full=1`,
 * a gRPC check on `127.0.0.1:18562/my.Svc` and a sidecar with
 * `Expose.Checks`, before anything listened on the exposed ports (trimmed):
 * `Definition` is empty, the path is only in `Output`, on `ExposedPort`.
 */
import t from 'tap'
import { ExposedChecksDependency, outputUrl, parseExposedChecks, pathOn } from '../../../src/dependency/exposed-checks.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const check = (id: string, o: Record<string, unknown>) => ({
  Node: 'probe', CheckID: id, Name: '', Status: 'critical', Notes: '', Output: '', ServiceID: 'api', ServiceName: 'api',
  ServiceTags: [], Type: 'http', Interval: '1s', Timeout: '', ExposedPort: 0, Definition: {}, CreateIndex: 0, ModifyIndex: 0, ...o,
})

const agentChecks = {
  'service:api-sidecar-proxy:1': check('service:api-sidecar-proxy:1', { Name: 'Connect Sidecar Listening', ServiceID: 'api-sidecar-proxy', Type: 'tcp', Interval: '10s', Output: 'dial tcp 127.0.0.1:21000: connect: connection refused' }),
  'service:api-sidecar-proxy:2': check('service:api-sidecar-proxy:2', { Name: 'Connect Sidecar Aliasing api', ServiceID: 'api-sidecar-proxy', Type: 'alias', Interval: '' }),
  'service:api:1': check('service:api:1', { Name: 'api-http', ExposedPort: 21500, Output: 'Get "http://127.0.0.1:21500/healthz?full=1": dial tcp 127.0.0.1:21500: connect: connection refused' }),
  'service:api:2': check('service:api:2', {
    Name: 'api-grpc', Type: 'grpc', ExposedPort: 21501,
    Output: 'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:21501: connect: connection refused"',
  }),
}

t.test('the HTTP and gRPC checks of the service, with the path Envoy would serve', async (t) => {
  t.same(parseExposedChecks(agentChecks, 'api'), [
    { CheckID: 'service:api:1', Name: 'api-http', Type: 'http', ExposedPort: 21500, Path: '/healthz' },
    { CheckID: 'service:api:2', Name: 'api-grpc', Type: 'grpc', ExposedPort: 21501, Path: '/grpc.health.v1.Health/Check' },
  ])
  t.same(parseExposedChecks(agentChecks, 'web'), [], 'another service\'s checks are not this sidecar\'s')
  const notExposed = { 'service:api:1': { ...agentChecks['service:api:1'], ExposedPort: 0 } }
  t.same(parseExposedChecks(notExposed, 'api'), [], 'a check the agent does not expose (no ExposedPort) gets no listener')
  const tcp = { 'service:api:3': check('service:api:3', { Type: 'tcp', ExposedPort: 21502 }) }
  t.same(parseExposedChecks(tcp, 'api'), [], 'only HTTP and gRPC checks are exposed')
})

t.test('the path comes from the URL the check last called, only when it is on ExposedPort', async (t) => {
  const withOutput = (Output: string) => parseExposedChecks({ c: check('c', { ExposedPort: 21500, Output }) }, 'api')[0]?.Path
  t.equal(withOutput('HTTP GET http://10.0.0.5:21500/health: 200 OK Output: ok'), '/health', 'an answer (any status)')
  t.equal(withOutput('HTTP POST http://10.0.0.5:21500/v1/ready?deep=1: 503 Service Unavailable Output: '), '/v1/ready', 'another method; the query string is not part of the path')
  t.equal(withOutput('Get "http://10.0.0.5:21500/health": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'), '/health', 'a timeout')
  t.equal(withOutput('Head "http://[fd00::5]:21500/h": EOF'), '/h', 'an IPv6 proxy address')
  t.equal(withOutput('HTTP GET http://10.0.0.5:21500: 200 OK Output: '), '/', 'no path: /')
  t.equal(withOutput(''), '', 'not run yet')
  t.equal(withOutput('HTTP GET http://127.0.0.1:8080/health: 200 OK Output: '), '', 'a URL on another port (the check ran before the agent pointed it at the sidecar)')
  t.equal(withOutput('Check is in critical state'), '', 'an Output without a URL')
})

t.test('URL helpers', async (t) => {
  t.equal(outputUrl('HTTP GET http://a:1/x: 200 OK Output: HTTP GET http://b:2/y: '), 'http://a:1/x', 'only the leading URL, not one in the body')
  t.equal(outputUrl('Get "http://a:1/x\\"y": EOF'), '', 'an escaped quote: unknown rather than a wrong path')
  t.equal(pathOn('http://user:xxxxx@10.0.0.5:21500/h', 21500), '/h', 'user info (Go redacts the password)')
  t.equal(pathOn('http://10.0.0.5/h', 80), '', 'an implicit port is not ExposedPort')
  t.equal(pathOn('https://10.0.0.5:21500/h#frag', 21500), '/h')
})

t.test('a body that is not the documented shape is an error naming the field', async (t) => {
  t.throws(() => parseExposedChecks([], 'api'), { message: 'checks is not an object' })
  t.throws(() => parseExposedChecks({ c: check('c', { ExposedPort: '21500' }) }, 'api'), { message: 'c.ExposedPort is not a number' })
  t.throws(() => parseExposedChecks({ c: check('c', { ExposedPort: 21500, CheckID: 7 }) }, 'api'), { message: 'c.CheckID is not a string' })
  t.throws(() => parseExposedChecks({ c: 'x' }, 'api'), { message: 'c is not an object' })
})

t.test('polled per service, validated at the boundary, no digest of the changing Output', async (t) => {
  const dep = new ExposedChecksDependency('api')
  t.equal(dep.blocking, 'poll')
  t.equal(dep.id, 'agent.exposedChecks(api)')
  t.not(new ExposedChecksDependency('api-2').id, dep.id, 'another service: another id')
  const calls: unknown[][] = []
  const ok = await dep.fetch(recordingClient({ body: agentChecks }, calls).client, { waitMs: 1 })
  t.equal(ok.data.length, 2)
  t.equal(ok.digest, undefined, 'the View compares the parsed list, which stays equal while Output changes')
  t.equal(calls[0]?.[0], '/v1/agent/checks')
  const err = await dep.fetch(recordingClient({ body: null }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/checks: invalid response: checks is not an object')
})
