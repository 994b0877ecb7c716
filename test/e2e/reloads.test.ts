/**
 * Where a reload still happens (a new listener, a CA bundle, slots outgrown),
 * it must lose nothing: 100 reloads, alternating between the two sidecars,
 * under load, with zero failed requests, for HTTP over keep-alive connections
 * and for TCP over a new connection per request. Reloads are forced through
 * the master CLI's `reload`, as an operator would, each one awaited until the
 * master reports the new worker.
 */
import { join } from 'node:path'
import t from 'tap'
import { runtimeCommand, showProc } from '../../src/haproxy/runtime-api.ts'
import { startLoad } from '../support/load.ts'
import { startMesh } from '../support/mesh.ts'
import { eventually } from '../support/process.ts'
import { httpGet, tcpRoundTrip } from '../support/traffic.ts'

/** Reloads the sidecar's HAProxy and waits for its new worker. */
async function forceReload(dir: string): Promise<void> {
  const master = join(dir, 'master.sock')
  // The sidecar may be mid-reload itself (the master re-executes): ask until the master CLI answers.
  const before = await eventually(() => showProc(master), 5_000, 'the master CLI')
  await runtimeCommand(master, 'reload')
  await eventually(async () => {
    const now = await showProc(master).catch(() => before)
    return now.reloads > before.reloads && now.worker !== before.worker
  }, 10_000, 'the new worker')
}

for (const protocol of ['http', 'tcp'] as const) {
  t.test(`100 reloads under ${protocol === 'http' ? 'keep-alive HTTP' : 'TCP'} load: zero failed requests`, async (t) => {
    const mesh = await startMesh({ protocol })
    t.teardown(() => mesh.stop())
    const probe = () => (protocol === 'http' ? httpGet(mesh.ports.upstream) : tcpRoundTrip(mesh.ports.upstream, 'ping\n'))
    await eventually(async () => (await probe()).ok, 10_000, 'first request')
    const load = startLoad({ port: mesh.ports.upstream, mode: protocol === 'http' ? 'http-keepalive' : 'tcp', concurrency: 4, deadlineMs: 150_000 })
    t.teardown(() => load.stop())
    const started = Date.now()
    for (let i = 0; i < 100; i++) await forceReload(i % 2 ? mesh.dirs.api : mesh.dirs.web)
    const seconds = (Date.now() - started) / 1000
    await new Promise((r) => setTimeout(r, 500))
    const stats = await load.stop()
    t.comment(`${protocol}: 100 reloads in ${seconds.toFixed(1)} s; requests ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
    t.ok(stats.ok > 1000, `traffic flowed (${stats.ok} requests)`)
    t.equal(stats.failed, 0, 'zero failed requests')
  })
}
