/**
 * Consul away, traffic on (issue 19): the sidecars talk to a client agent joined to a server
 * that keeps its state, as on a Nomad node. With the server stopped for 60 s, both sidecars
 * keep serving what they hold: 0 failed requests through web's upstream listener, and new
 * mTLS connections to api's public listener still authorized. Once it is back, a change
 * written to it reaches the sidecars in step with the client agent itself (the figure is
 * printed; bench/scale measures it for 8 sidecars). A client agent restart: the same.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startLoad } from '../support/load.ts'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { eventually } from '../support/process.ts'
import { httpGet, tlsExchange } from '../support/traffic.ts'

const OUTAGE_MS = 60_000

/** New mTLS connections to api's public listener with web's leaf, one every 250 ms until stopped. */
function handshakes(mesh: Mesh, leaf: { CertPEM: string; PrivateKeyPEM: string }) {
  const stats = { ok: 0, failed: [] as string[] }
  let running = true
  const ca = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const loop = (async () => {
    const deadline = Date.now() + OUTAGE_MS + 120_000
    while (running && Date.now() < deadline) {
      const o = await tlsExchange({ port: mesh.ports.apiPublic, ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM, payload: 'GET /new HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n' })
      if (o.ok && /^HTTP\/1\.1 200/.test(o.body)) stats.ok++
      else stats.failed.push(o.ok ? o.body.split('\r\n')[0]! : o.error)
      await new Promise((r) => setTimeout(r, 250))
    }
  })()
  return { stats, stop: async () => ((running = false), await loop, stats) }
}

/** Writes an allow intention from `source` to api on the server and returns how long the client agent, then api's sidecar, took to show it. */
async function convergence(mesh: Mesh, source: string) {
  const written = Date.now()
  await mesh.server!.intention(source, 'api', 'allow')
  const agentSees = eventually(async () => {
    const r = await mesh.consul.api('GET', '/v1/connect/intentions/match?by=destination&name=api')
    return JSON.stringify(r.body ?? '').includes(`"${source}"`) ? Date.now() - written : undefined
  }, 60_000, `the client agent answering the intention from ${source}`)
  const sidecarSees = eventually(() => (readFileSync(join(mesh.dirs.api, 'intentions.map'), 'utf8').includes(source) ? Date.now() - written : undefined), 60_000, `api's sidecar rendering the intention from ${source}`)
  return { agentMs: await agentSees, sidecarMs: await sidecarSees }
}

/** web -> api through two sidecars on a client agent whose server keeps its state on disk; stopped at the test's end. */
async function meshWithServer(t: Test): Promise<Mesh> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mp-server-'))
  const mesh = await startMesh({ protocol: 'http', serverDataDir: dataDir })
  t.teardown(async () => {
    await mesh.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  return mesh
}

t.test('the Consul server away for 60 s: both sidecars serve what they hold; back, a change reaches them with the agent', async (t) => {
  const mesh = await meshWithServer(t)
  const webLeaf = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/web')).body
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 2, deadlineMs: OUTAGE_MS + 120_000 })
  t.teardown(() => load.stop())
  const newConnections = handshakes(mesh, webLeaf)
  t.teardown(() => newConnections.stop())
  await new Promise((r) => setTimeout(r, 1_000))

  await mesh.server!.kill()
  const members = (await mesh.consul.api('GET', '/v1/catalog/nodes')).status
  t.not(members, 200, `the client agent has no server to ask (catalog answered ${members})`)
  await new Promise((r) => setTimeout(r, OUTAGE_MS))
  const during = { ok: load.stats.ok, failed: load.stats.failed, kinds: { ...load.stats.kinds } }
  const handshakesDuring = { ok: newConnections.stats.ok, failed: [...newConnections.stats.failed] }
  t.comment(`${OUTAGE_MS / 1000} s without a server: ${during.ok} requests ok, ${during.failed} failed ${JSON.stringify(during.kinds)}; new mTLS connections to api ${handshakesDuring.ok} ok, ${handshakesDuring.failed.length} failed`)
  t.ok(during.ok > 100, 'traffic flowed through the outage')
  t.equal(during.failed, 0, 'zero failed requests while the server was away')
  t.ok(handshakesDuring.ok > 20, 'new mTLS connections to api were answered during the outage')
  t.same(handshakesDuring.failed, [], 'none refused: api authorized web from what it held')
  t.equal(mesh.sidecars.api.proc.exitCode, null, "api's sidecar still runs")
  t.equal(mesh.sidecars.web.proc.exitCode, null, "web's sidecar still runs")

  const returned = Date.now()
  await mesh.server!.start()
  t.comment(`the server was back and serving Connect ${Date.now() - returned} ms after its start`)
  const back = await convergence(mesh, 'after-outage')
  t.comment(`after the server's return, an intention reached the client agent in ${back.agentMs} ms and api's sidecar in ${back.sidecarMs} ms`)
  t.ok(back.sidecarMs > 0, "the change reached api's sidecar")
  await load.stop()
  await newConnections.stop()
  t.equal(load.stats.failed, 0, 'zero failed requests from start to end')
})

t.test('the client agent restarts: both sidecars serve through it and follow changes after it', async (t) => {
  const mesh = await meshWithServer(t)
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 2, deadlineMs: 120_000 })
  t.teardown(() => load.stop())
  await mesh.consul.kill()
  await new Promise((r) => setTimeout(r, 10_000))
  await mesh.consul.start()
  // The client kept its registrations in its data dir; the sidecars find their proxies again.
  const after = await convergence(mesh, 'after-restart')
  t.comment(`after the client agent's restart, an intention reached it in ${after.agentMs} ms and api's sidecar in ${after.sidecarMs} ms`)
  t.ok(after.sidecarMs > 0, "the change reached api's sidecar")
  const stats = await load.stop()
  t.comment(`through the restart: ${stats.ok} requests ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
  t.ok(stats.ok > 50, 'traffic flowed')
  t.equal(stats.failed, 0, 'zero failed requests through the agent restart')
  t.equal(mesh.sidecars.api.proc.exitCode, null, "api's sidecar still runs")
  t.equal(mesh.sidecars.web.proc.exitCode, null, "web's sidecar still runs")
})
