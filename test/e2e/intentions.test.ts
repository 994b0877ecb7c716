/**
 * Authorization against Consul intentions, end to end: a deny intention
 * takes effect for new connections and allow restores traffic (both timed),
 * and with the agent stopped a source the table allows still connects while
 * an undecided source is denied within about a second (fail closed).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { runtimeCommand } from '../../src/exec/haproxy/runtime-api.ts'
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

t.test('with the agent stopped: table-allowed sources connect, undecided ones are denied within ~1 s', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await mesh.consul.intention('web', 'api', 'allow')
  const mapFile = join(mesh.dirs.api, 'intentions.map')
  await eventually(async () => / web allow$/m.test(await runtimeCommand(join(mesh.dirs.api, 'haproxy.sock'), `show map ${mapFile}`)), 10_000, "web allow in HAProxy's live table")
  // Another service's genuine leaf: the table does not mention it, so api's sidecar must ask the agent.
  const other = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/reports')).body
  const roots = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const request = 'GET /direct HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'
  const undecided = () => tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: other.CertPEM, key: other.PrivateKeyPEM, payload: request, timeoutMs: 5_000 })
  const alive = await undecided()
  t.ok(alive.ok && alive.body.includes('api /direct'), 'with the agent up, the agent allows the undecided source (default allow, ACLs off)')

  // A fresh source name, so no cached answer applies; its leaf is fetched while the agent is up.
  const billing = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/billing')).body
  await mesh.consul.kill()
  t.ok(await reachesApi(mesh), 'web, allowed by the table, still connects with the agent down')
  const started = Date.now()
  const denied = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: billing.CertPEM, key: billing.PrivateKeyPEM, payload: request, timeoutMs: 5_000 })
  const ms = Date.now() - started
  t.notOk(denied.ok && denied.body.includes('api /direct'), 'the undecided source is denied')
  t.ok(ms < 2_500, `denied in ${ms} ms (goal about 1 s)`)
  t.comment(`undecided source denied ${ms} ms after connecting, agent down`)
  await eventually(() => /svc\/billing decision=deny rule=\S+ reason=agent-(timeout|error)/.test(mesh.sidecars.api.output()), 5_000, 'the deny log line')
  t.pass('logged as an agent failure, not an allow')
})
