/**
 * Changes while traffic flows: a CA root rotation (new private key through
 * PUT /v1/connect/ca/configuration) with zero failed requests, a reload for
 * the new CA bundle and one for the renewed leaf, which is then served with
 * `verify required` intact; and upstream instances appearing and
 * disappearing under load.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { canPush } from '../../src/haproxy/policy.ts'
import { showProc } from '../../src/haproxy/runtime-api.ts'
import { httpApp } from '../support/apps.ts'
import { freePort } from '../support/ports.ts'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { eventually, meshplate } from '../support/process.ts'
import { httpGet, tlsExchange } from '../support/traffic.ts'

/**
 * Sends requests back to back until stopped; counts successes and failures and keeps the
 * slowest. A request fails on an error, a non-200 or 10 s of silence. A CI run once had one
 * request here time out at 3 s while another e2e file shared the 2 cores (not reproduced in
 * 6 runs alone); 10 s still catches a hang, and the slowest time is printed so a stall shows.
 */
function load(mesh: Mesh) {
  const stats = { ok: 0, failed: 0, errors: [] as string[], bodies: new Set<string>(), slowestMs: 0 }
  let running = true
  const loop = (async () => {
    const deadline = Date.now() + 120_000
    while (running && Date.now() < deadline) {
      const started = Date.now()
      const o = await httpGet(mesh.ports.upstream, '/load', 10_000)
      stats.slowestMs = Math.max(stats.slowestMs, Date.now() - started)
      if (o.ok && o.status === 200) {
        stats.ok++
        stats.bodies.add(o.body.split(' ')[0]!)
      } else {
        stats.failed++
        if (stats.errors.length < 5) stats.errors.push(o.ok ? `status ${o.status}` : o.error)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  return { stats, stop: async () => ((running = false), await loop) }
}

const workersForked = (out: string) => (out.match(/New worker \(\d+\) forked/g) ?? []).length

t.test('a CA root rotation under load: zero failed requests, seamless reloads, the renewed leaf served', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const forkedBefore = { api: workersForked(mesh.sidecars.api.output()), web: workersForked(mesh.sidecars.web.output()) }
  const before = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/api')).body
  const webBefore = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/web')).body
  const traffic = load(mesh)
  t.teardown(() => traffic.stop())
  await new Promise((r) => setTimeout(r, 500))

  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' })
  const rotated = await mesh.consul.api('PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: { PrivateKey: key } })
  t.equal(rotated.status, 200, 'root rotation accepted')
  const roots = await eventually(async () => {
    const r = (await mesh.consul.api('GET', '/v1/agent/connect/ca/roots')).body
    return r.Roots.length === 2 ? r : undefined
  }, 10_000, 'two roots')
  t.ok(roots.Roots.length === 2, 'old and new root both trusted during the rotation')
  // The agent renews leaves 0-30 s after a rotation; wait for both, then for api's sidecar to serve its new one.
  const renewed = async (svc: string, old: string) =>
    eventually(async () => {
      const l = (await mesh.consul.api('GET', `/v1/agent/connect/ca/leaf/${svc}`)).body
      return l.SerialNumber !== old ? l : undefined
    }, 60_000, `${svc}'s renewed leaf`)
  const newLeaf = await renewed('api', before.SerialNumber)
  const webLeaf = await renewed('web', webBefore.SerialNumber)
  const oldFingerprint = new X509Certificate(before.CertPEM).fingerprint256
  // The agent may renew more than once after a rotation, so the leaf to expect is the one the
  // sidecar rendered last (its leaf.pem), as long as it is not the pre-rotation leaf.
  const renderedLeaf = () => new X509Certificate(readFileSync(join(mesh.dirs.api, 'leaf.pem'))).fingerprint256
  const attempts: string[] = []
  const served = await eventually(async () => {
    const o = await tlsExchange({
      port: mesh.ports.apiPublic,
      ca: readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8'),
      cert: webLeaf.CertPEM,
      key: webLeaf.PrivateKeyPEM,
      payload: 'GET /x HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n',
    })
    attempts.push(o.ok ? 'answered' : o.error)
    const rendered = renderedLeaf()
    return o.peerFingerprint === rendered && rendered !== oldFingerprint && o.ok ? o : undefined
  }, 15_000, 'api sidecar serving the renewed leaf').catch((err: Error) => {
    throw new Error(`${err.message} (last attempts: ${attempts.slice(-3).join('; ')})`)
  })
  t.comment(`attempts: ${attempts.join(', ')}`)
  if (!(served.ok && served.body.includes('api /x'))) t.comment(mesh.sidecars.api.output().split('\n').filter((l) => !l.includes('GET /load')).slice(-12).join('\n'))
  t.ok(served.ok && served.body.includes('api /x'), `api's sidecar serves the new leaf (serial ${newLeaf.SerialNumber}) and answers a peer holding web's new leaf (${served.ok ? served.body.slice(0, 40) : served.error})`)
  const noCert = await tlsExchange({ port: mesh.ports.apiPublic, ca: readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8'), payload: 'GET / HTTP/1.1\r\n\r\n' })
  t.match(noCert.ok ? 'answered' : noCert.error, /certificate required/, 'after the rotation, TLS itself still demands a client certificate (verify required kept)')
  await new Promise((r) => setTimeout(r, 1000))
  await traffic.stop()
  t.comment(`requests during rotation: ${traffic.stats.ok} ok, ${traffic.stats.failed} failed, slowest ${traffic.stats.slowestMs} ms ${traffic.stats.errors.join('; ')}`)
  t.ok(traffic.stats.ok > 50, `traffic flowed (${traffic.stats.ok} requests)`)
  t.equal(traffic.stats.failed, 0, 'zero failed requests')
  // The new CA bundle reloads (haproxy#3165); the renewed leaf, issued 0-30 s later, is pushed
  // where policy.ts trusts leaf commits (3.0.11) and reloads where it does not (2.6.12).
  const reloads = { api: workersForked(mesh.sidecars.api.output()) - forkedBefore.api, web: workersForked(mesh.sidecars.web.output()) - forkedBefore.web }
  const version = (await showProc(join(mesh.dirs.api, 'master.sock'))).version
  const leafPushed = (svc: 'api' | 'web') => /pushed to HAProxy file=\S*leaf\.pem kind=ssl-cert/.test(mesh.sidecars[svc].output())
  t.comment(`HAProxy ${version}: reloads during the rotation: api ${reloads.api}, web ${reloads.web}; leaf pushed: api ${leafPushed('api')}, web ${leafPushed('web')}`)
  t.notMatch(mesh.sidecars.api.output() + mesh.sidecars.web.output(), /pushed to HAProxy file=\S*roots\.pem/, 'no CA bundle went through the runtime API')
  if (canPush('ssl-cert', version)) {
    t.same(reloads, { api: 1, web: 1 }, 'one seamless reload per sidecar, for the CA bundle')
    t.ok(leafPushed('api') || leafPushed('web'), 'a renewed leaf was pushed into a worker started by the CA reload')
  } else {
    t.ok(reloads.api >= 1 && reloads.api <= 2 && reloads.web >= 1 && reloads.web <= 2, 'one seamless reload per changed file (roots, then the leaf), or one for both')
    t.notOk(leafPushed('api') || leafPushed('web'), 'no leaf went through the runtime API')
  }
})

t.test('upstream instances appear and disappear while traffic flows', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const traffic = load(mesh)
  t.teardown(() => traffic.stop())
  // A second api instance with its own app and sidecar.
  const app2 = await httpApp('api2')
  const public2 = await freePort()
  await mesh.consul.registerWithSidecar({ id: 'api-2', name: 'api', port: app2.port, sidecarPort: public2, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' } })
  const dir2 = join(mesh.dirs.api, '..', 'api2')
  const sidecar2 = meshplate(['sidecar', '--sidecar-for', 'api-2', '--consul-addr', mesh.consul.addr, '--dir', dir2])
  t.teardown(async () => {
    await sidecar2.stop()
    await app2.close()
  })
  await eventually(() => traffic.stats.bodies.has('api2'), 20_000, 'traffic reaching the new instance')
  t.pass('the new instance receives traffic')
  await mesh.consul.deregister('api-2-sidecar-proxy')
  await eventually(() => !readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8').includes(`:${public2} `), 10_000, 'instance removed from the config')
  const afterRemoval = traffic.stats.ok
  await new Promise((r) => setTimeout(r, 1500))
  await traffic.stop()
  t.ok(traffic.stats.ok > afterRemoval, 'traffic kept flowing after the removal')
  t.comment(`requests during churn: ${traffic.stats.ok} ok, ${traffic.stats.failed} failed, slowest ${traffic.stats.slowestMs} ms ${traffic.stats.errors.join('; ')}`)
  t.equal(traffic.stats.failed, 0, 'zero failed requests while instances came and went')
})
