/**
 * The app port of an exposed check, for services in the agent's config
 * files. The `Services` entry below is what Consul 1.14.11's `-dev` agent
 * printed in `DebugConfig` for a config file with one `check { http = ... }`
 * and `expose { checks = true }` (trimmed: the zero-valued `Check` is kept,
 * since the agent prints one for every service). Check ids follow the
 * agent's naming; a shape the reader does not know is "nothing known".
 */
import t from 'tap'
import { CheckTargetsDependency, parseCheckTargets } from '../../../src/dependency/check-targets.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const zeroCheck = {
  AliasNode: '', AliasService: '', Body: '', CheckID: '', DeregisterCriticalServiceAfter: '0s', DockerContainerID: '', GRPC: '', GRPCUseTLS: false,
  H2PING: '', HTTP: '', Header: {}, Interval: '0s', Method: '', Name: '', OSService: '', ProxyGRPC: '', ProxyHTTP: '', ScriptArgs: [], TCP: '', TTL: '0s', Timeout: '0s', UDP: '',
}
const httpCheck = { ...zeroCheck, HTTP: 'http://127.0.0.1:18561/healthz?full=1', Interval: '1s', Name: 'api-http' }
const service = (o: Record<string, unknown>) => ({ Address: '127.0.0.1', Check: zeroCheck, Checks: [httpCheck], ID: '', Name: 'api', Port: 18560, Connect: { SidecarService: { Port: 21000, Checks: [] } }, ...o })
const self = (services: unknown) => ({ Config: { Datacenter: 'dc1' }, DebugConfig: { Services: services, ExposeMinPort: 21500 }, Member: { Addr: '127.0.0.1' } })

t.test('the targets of checks as the config file wrote them, under the id the agent gives them', async (t) => {
  t.same(parseCheckTargets(self([service({})])), [{ CheckID: 'service:api', ServiceID: 'api', HTTP: 'http://127.0.0.1:18561/healthz?full=1', GRPC: '' }], 'one check: service:<id>')
  const grpc = { ...zeroCheck, GRPC: '127.0.0.1:9090/my.Svc' }
  const tcp = { ...zeroCheck, TCP: '127.0.0.1:18560' }
  t.same(parseCheckTargets(self([service({ ID: 'api-1', Checks: [tcp, httpCheck, grpc] })])).map((c) => [c.CheckID, c.ServiceID, c.HTTP || c.GRPC]), [
    ['service:api-1:2', 'api-1', 'http://127.0.0.1:18561/healthz?full=1'],
    ['service:api-1:3', 'api-1', '127.0.0.1:9090/my.Svc'],
  ], 'several: service:<id>:<n> counting every check, the ID before the name')
  t.same(parseCheckTargets(self([service({ Check: { ...zeroCheck, TTL: '30s' }, Checks: [httpCheck] })])).map((c) => c.CheckID), ['service:api:2'], '`Check` counts first when it is set')
  t.same(parseCheckTargets(self([service({ Checks: [{ ...httpCheck, CheckID: 'mine' }] })])).map((c) => c.CheckID), ['mine'], 'an id the definition gives')
})

t.test('a DebugConfig this reader does not know means nothing known, not an error', async (t) => {
  t.same(parseCheckTargets({ Config: {}, DebugConfig: {} }), [])
  t.same(parseCheckTargets({ Config: {} }), [])
  t.same(parseCheckTargets(self('x')), [])
  t.same(parseCheckTargets(self([null, 7, service({ Name: 7 }), service({ Checks: 'x', Check: null })])), [])
  t.throws(() => parseCheckTargets(null), { message: 'self is not an object' })
})

t.test('polled, validated at the boundary', async (t) => {
  const dep = new CheckTargetsDependency()
  t.equal(dep.blocking, 'poll')
  t.equal(dep.id, 'agent.checkTargets')
  const calls: unknown[][] = []
  const ok = await dep.fetch(recordingClient({ body: self([service({})]) }, calls).client, { waitMs: 1 })
  t.equal(ok.data.length, 1)
  t.equal(calls[0]?.[0], '/v1/agent/self')
  const err = await dep.fetch(recordingClient({ body: [] }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/self: invalid response: self is not an object')
})
