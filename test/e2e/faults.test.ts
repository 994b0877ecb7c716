/**
 * Faults a sidecar must survive, with real Consul, real HAProxy and traffic:
 * meshplate killed with SIGKILL (its HAProxy must not outlive it, and a new
 * meshplate in the same folder serves again), HAProxy's worker killed (its
 * master then exits, and meshplate restarts HAProxy), a stray HAProxy on the
 * public port (refused, never shared: the binds say noreuseport), the sidecar's own
 * registration removed and restored (the last good config stays, the restore
 * is noticed quickly instead of after a long backoff).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { binary } from '../support/binaries.ts'
import { startMesh } from '../support/mesh.ts'
import { processesUnder } from '../support/nomad.ts'
import { eventually, meshplate } from '../support/process.ts'
import { httpGet } from '../support/traffic.ts'

const ok = async (port: number) => {
  const r = await httpGet(port)
  return r.ok && r.status === 200
}

t.test('meshplate killed with SIGKILL: HAProxy goes with it, and a new meshplate in the same --dir serves', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api')
  const haproxyOfApi = () => processesUnder(join(mesh.dirs.api, 'haproxy.cfg'))
  t.ok(haproxyOfApi().length >= 2, "api's HAProxy master and worker are running")

  const killedAt = Date.now()
  mesh.sidecars.api.proc.kill('SIGKILL')
  await eventually(() => haproxyOfApi().length === 0, 2_000, "api's HAProxy to exit after its meshplate was killed")
  t.pass(`api's HAProxy (master and worker) exited ${Date.now() - killedAt} ms after meshplate was SIGKILLed`)

  const startedAt = Date.now()
  const again = meshplate(['sidecar', '--sidecar-for', 'api', '--consul-addr', mesh.consul.addr, '--dir', mesh.dirs.api])
  t.teardown(() => again.stop())
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api through the new meshplate')
  const servingMs = Date.now() - startedAt
  t.ok(servingMs <= 5_000, `a new meshplate in the same --dir served ${servingMs} ms after it started (the ports were free)`)
})

t.test('a stray HAProxy on the public port (as a killed meshplate once left behind): refused loudly, not shared', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api')
  mesh.sidecars.api.proc.kill('SIGKILL')
  await eventually(() => processesUnder(join(mesh.dirs.api, 'haproxy.cfg')).length === 0, 2_000, "api's HAProxy to exit")
  // A plain HAProxy binds with SO_REUSEPORT, as HAProxy does by default: without noreuseport a
  // second one binds the same port beside it and the kernel splits new connections between them.
  const strayDir = mkdtempSync(join(tmpdir(), 'mp-stray-'))
  t.teardown(() => rmSync(strayDir, { recursive: true, force: true }))
  writeFileSync(join(strayDir, 'stray.cfg'), `defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\nfrontend stray\n  bind 127.0.0.1:${mesh.ports.apiPublic}\n  tcp-request connection reject\n`)
  const stray = spawn(binary('haproxy'), ['-db', '-f', join(strayDir, 'stray.cfg')], { stdio: 'ignore' })
  t.teardown(() => stray.kill('SIGKILL'))
  await eventually(() => processesUnder(join(strayDir, 'stray.cfg')).length > 0, 2_000, 'the stray HAProxy')
  await new Promise((r) => setTimeout(r, 300))

  const again = meshplate(['sidecar', '--sidecar-for', 'api', '--consul-addr', mesh.consul.addr, '--dir', mesh.dirs.api])
  t.teardown(() => again.stop())
  const refusal = await eventually(() => again.output().match(/.*cannot bind socket.*/)?.[0], 10_000, "the sidecar's HAProxy refusing the port")
  t.match(refusal, new RegExp(`Address already in use.*127\\.0\\.0\\.1:${mesh.ports.apiPublic}`), `the error names the address: ${refusal.trim()}`)
  t.notOk(await ok(mesh.ports.upstream), 'no request is served while the stray holds the port')
  stray.kill('SIGKILL')
  const goneAt = Date.now()
  await eventually(() => ok(mesh.ports.upstream), 30_000, 'web -> api once the stray is gone')
  t.pass(`served ${Date.now() - goneAt} ms after the stray was killed (meshplate restarting its HAProxy)`)
})

t.test("HAProxy's worker killed with SIGKILL: meshplate restarts HAProxy and traffic comes back", async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api')
  const cfg = join(mesh.dirs.api, 'haproxy.cfg')
  const parentOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  const pids = processesUnder(cfg)
  const worker = pids.find((p) => pids.includes(parentOf(p)))!
  t.ok(worker, "found api's HAProxy worker")
  const killedAt = Date.now()
  process.kill(worker, 'SIGKILL')
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api after the restart')
  const backMs = Date.now() - killedAt
  t.ok(backMs <= 5_000, `traffic was back ${backMs} ms after the worker was killed`)
  t.match(mesh.sidecars.api.output(), /exit-on-failure/, "HAProxy's master gave up by itself (exit-on-failure) ...")
  t.match(mesh.sidecars.api.output(), /restarting the child in \d+ ms/, '... and meshplate restarted it')
  t.equal(mesh.sidecars.api.proc.exitCode, null, 'meshplate kept running')
  t.notOk(processesUnder(cfg).includes(worker), 'the killed worker is gone')
})

t.test("the sidecar's own registration removed and restored: the last good config stays, the restore is seen within seconds", async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api')
  const cfgFile = join(mesh.dirs.api, 'haproxy.cfg')
  const before = readFileSync(cfgFile, 'utf8')

  await mesh.consul.deregister('api-sidecar-proxy')
  // Long enough for the view's retries to back off far under the old exponential rule (250 ms doubling).
  await new Promise((r) => setTimeout(r, 10_000))
  t.equal(readFileSync(cfgFile, 'utf8'), before, 'the last good config stayed while the registration was gone (a 404 never empties it)')
  t.match(mesh.sidecars.api.output(), /404/, 'the 404 was seen and logged')

  const restoredAt = Date.now()
  await mesh.consul.registerWithSidecar({
    name: 'api',
    port: mesh.apps.api.port,
    sidecarPort: mesh.ports.apiPublic,
    proxyConfig: { protocol: 'http', bind_address: '127.0.0.1', local_connect_timeout_ms: 4321 },
  })
  await eventually(() => readFileSync(cfgFile, 'utf8').includes('timeout connect 4321ms'), 10_000, 'the restored registration to be rendered')
  const seenMs = Date.now() - restoredAt
  t.ok(seenMs <= 3_000, `the restored registration was rendered ${seenMs} ms after it came back (404 retries are capped at 1 s)`)
  await eventually(() => ok(mesh.ports.upstream), 10_000, 'web -> api again')
})
