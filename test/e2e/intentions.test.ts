/**
 * Authorization against Consul intentions, end to end: a deny intention
 * takes effect for new connections and allow restores traffic (both timed);
 * with the agent stopped every default-namespace source is still decided by
 * the table (its intention, else the default), as Envoy's RBAC decides; and
 * with ACLs disabled but `acl.default_policy = "deny"` the default is deny,
 * as Consul 1.14 programs Envoy, although its authorize endpoint allows.
 * (Failing closed when the agent must be asked, for sources outside the
 * default namespace, is covered by test/lua/authorize_spec.lua.)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { runtimeCommand } from '../../src/haproxy/runtime-api.ts'
import { eventually } from '../support/process.ts'
import { httpGet, tlsExchange } from '../support/traffic.ts'

const reachesApi = async (mesh: Mesh) => {
  const o = await httpGet(mesh.ports.upstream, '/probe', 2_000)
  return o.ok && o.status === 200 && o.body.startsWith('api /probe')
}

/** Polls every 20 ms until `want` holds; returns the elapsed ms. */
async function timeUntil(mesh: Mesh, want: boolean): Promise<number> {
  const started = Date.now()
  await eventually(async () => (await reachesApi(mesh)) === want, 10_000, want ? 'traffic restored' : 'traffic denied')
  return Date.now() - started
}

t.test('deny and allow intentions take effect on new connections', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(() => reachesApi(mesh), 10_000, 'first request')

  await mesh.consul.intention('web', 'api', 'deny')
  const denyMs = await timeUntil(mesh, false)
  t.comment(`deny took effect ${denyMs} ms after the intention was written`)
  t.ok(denyMs < 5_000, `deny effective in ${denyMs} ms (goal < 1000 ms)`)
  t.match(readFileSync(join(mesh.dirs.api, 'intentions.map'), 'utf8'), /^web deny$/m, 'the rendered table says deny')
  for (let i = 0; i < 5; i++) t.notOk(await reachesApi(mesh), `request ${i + 1} after the deny is refused`)
  t.match(mesh.sidecars.api.output(), /svc\/web decision=deny rule=web reason=intention-deny/, 'logged as an intention deny')

  await mesh.consul.intention('web', 'api', 'allow')
  const allowMs = await timeUntil(mesh, true)
  t.comment(`allow took effect ${allowMs} ms after the intention was written`)
  t.ok(allowMs < 5_000, `allow effective in ${allowMs} ms (goal < 1000 ms)`)
  t.notMatch(mesh.sidecars.api.output(), /New worker \(\d+\) forked[\s\S]*New worker/, 'intention changes caused no HAProxy reload')
})

t.test('with the agent stopped: every default-namespace source is still decided by the table (intention or default), as Envoy decides', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await mesh.consul.intention('web', 'api', 'allow')
  const mapFile = join(mesh.dirs.api, 'intentions.map')
  await eventually(async () => / web allow$/m.test(await runtimeCommand(join(mesh.dirs.api, 'haproxy.sock'), `show map ${mapFile}`)), 10_000, "web allow in HAProxy's live table")
  // Another service's genuine leaf: no intention names it, so the table's @default decides.
  const roots = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const request = 'GET /direct HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'
  const billing = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/billing')).body
  await mesh.consul.kill()
  t.ok(await reachesApi(mesh), 'web, allowed by the table, still connects with the agent down')
  const other = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: billing.CertPEM, key: billing.PrivateKeyPEM, payload: request, timeoutMs: 5_000 })
  t.ok(other.ok && other.body.includes('api /direct'), 'a source no intention names gets the default (allow: ACLs off), with no agent call')
  await eventually(() => /svc\/billing decision=allow rule=@default reason=default-allow/.test(mesh.sidecars.api.output()), 5_000, 'the default-allow log line')
  t.pass('logged as the default, not an agent answer')
})

t.test('ACLs disabled with acl.default_policy = "deny": a source no intention names is denied, as Consul programs Envoy', async (t) => {
  const mesh = await startMesh({ protocol: 'http', consul: { hcl: ['acl { enabled = false\n default_policy = "deny" }'] } })
  t.teardown(() => mesh.stop())
  await eventually(async () => /^@default deny$/m.test(readFileSync(join(mesh.dirs.api, 'intentions.map'), 'utf8')), 10_000, '@default deny in the map')
  const roots = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const request = 'GET /direct HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'
  const billing = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/billing')).body
  const agent = (await mesh.consul.api('POST', '/v1/agent/connect/authorize', { Target: 'api', ClientCertURI: billing.ServiceURI, ClientCertSerial: '' })).body
  t.same(agent, { Authorized: true, Reason: 'Default behavior configured by ACLs' }, 'the authorize endpoint would allow: the disagreement this test covers')
  const denied = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: billing.CertPEM, key: billing.PrivateKeyPEM, payload: request, timeoutMs: 5_000 })
  t.notOk(denied.ok && denied.body.includes('api /direct'), 'billing, named by no intention, is denied')
  await eventually(() => /svc\/billing decision=deny rule=@default reason=default-deny/.test(mesh.sidecars.api.output()), 5_000, 'the default-deny log line')
  t.notOk(await reachesApi(mesh), 'web, with no intention either, is denied')
  await mesh.consul.intention('web', 'api', 'allow')
  await eventually(() => reachesApi(mesh), 10_000, 'web allowed once an intention says so')
  t.pass('an allow intention opens web -> api')
})
