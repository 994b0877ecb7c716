/**
 * Routine changes reach a running HAProxy without a reload, under keep-alive
 * load: upstream instances joining and leaving (server slots through the
 * master CLI), and exactly one reload when the instances outgrow the slots;
 * health changes the same way (a critical instance out, all back when every
 * one is critical).
 * Also the fallback: with the runtime sockets gone, a change still lands by a
 * reload. The worker's PID, read from the master CLI, is the proof that no
 * reload happened.
 */
import { rmSync } from 'node:fs'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { showProc } from '../../src/haproxy/runtime-api.ts'
import { httpApp } from '../support/apps.ts'
import { startLoad } from '../support/load.ts'
import { startMesh, type Mesh } from '../support/mesh.ts'
import { freePort } from '../support/ports.ts'
import { eventually, meshplate } from '../support/process.ts'
import { httpGet } from '../support/traffic.ts'

const worker = async (dir: string) => (await showProc(join(dir, 'master.sock'))).worker
const reloads = (output: string) => (output.match(/reloading HAProxy/g) ?? []).length
const serverPushes = (output: string) => (output.match(/pushed to HAProxy.*haproxy\.cfg/g) ?? []).length

/** A further api instance with its own app and sidecar; `join`/`leave` (de)register its sidecar. */
async function apiInstance(mesh: Mesh, n: number) {
  const app = await httpApp(`api${n}`)
  const port = await freePort()
  const id = `api-${n}`
  const register = () => mesh.consul.registerWithSidecar({ id, name: 'api', port: app.port, sidecarPort: port, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' } })
  await register()
  const sidecar = meshplate(['sidecar', '--sidecar-for', id, '--consul-addr', mesh.consul.addr, '--dir', join(mesh.dirs.api, '..', id)])
  await eventually(() => /HAProxy ready/.test(sidecar.output()), 20_000, `${id}'s sidecar`)
  const inWebConfig = () => readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8').includes(`127.0.0.1:${port} `)
  return {
    port,
    async join() {
      await register()
      await eventually(inWebConfig, 10_000, `${id} in web's config`)
    },
    async leave() {
      await mesh.consul.deregister(`${id}-sidecar-proxy`)
      await eventually(() => !inWebConfig(), 10_000, `${id} out of web's config`)
    },
    async stop() {
      await sidecar.stop()
      await app.close()
    },
  }
}

t.test('50 join/leave cycles under keep-alive load: no reload, zero failed requests', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const api2 = await apiInstance(mesh, 2)
  t.teardown(() => api2.stop())
  await eventually(async () => readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8').includes(`:${api2.port} `), 10_000, 'api-2 in web config')
  const pidBefore = await worker(mesh.dirs.web)
  const reloadsBefore = reloads(mesh.sidecars.web.output())
  const pushesBefore = serverPushes(mesh.sidecars.web.output())
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 4, deadlineMs: 120_000 })
  t.teardown(() => load.stop())
  for (let cycle = 0; cycle < 50; cycle++) {
    await api2.leave()
    await api2.join()
  }
  await eventually(() => load.stats.answeredBy.has('api2'), 5_000, 'api-2 answering after its last join')
  await new Promise((r) => setTimeout(r, 500))
  const stats = await load.stop()
  const pidAfter = await worker(mesh.dirs.web)
  const output = mesh.sidecars.web.output()
  t.comment(`requests: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}; server pushes: ${serverPushes(output) - pushesBefore}`)
  t.ok(stats.ok > 1000, `traffic flowed (${stats.ok} requests)`)
  t.equal(stats.failed, 0, 'zero failed requests')
  t.ok(stats.answeredBy.has('api') && stats.answeredBy.has('api2'), 'both instances answered')
  t.equal(pidAfter, pidBefore, `web's HAProxy worker kept its PID (${pidBefore}): no reload`)
  t.equal(reloads(output) - reloadsBefore, 0, 'meshplate logged no reload')
  t.ok(serverPushes(output) - pushesBefore >= 100, 'every join and leave was pushed through the runtime API')
})

t.test('one more instance than the server slots: exactly one reload, zero failed', async (t) => {
  const mesh = await startMesh({ protocol: 'http', upstreamConfig: { server_slots: 1 } })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const pidBefore = await worker(mesh.dirs.web)
  const reloadsBefore = reloads(mesh.sidecars.web.output())
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 4, deadlineMs: 120_000 })
  t.teardown(() => load.stop())
  const api2 = await apiInstance(mesh, 2)
  t.teardown(() => api2.stop())
  await eventually(async () => readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8').includes(`:${api2.port} `), 10_000, 'api-2 in web config')
  const pidGrown = await eventually(async () => {
    const pid = await worker(mesh.dirs.web)
    return pid !== pidBefore ? pid : undefined
  }, 10_000, 'a new worker after the slots grew')
  for (let cycle = 0; cycle < 5; cycle++) {
    await api2.leave()
    await api2.join()
  }
  await eventually(() => load.stats.answeredBy.has('api2'), 5_000, 'api-2 answering')
  const stats = await load.stop()
  const config = readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8')
  t.comment(`requests: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
  t.equal((config.match(/^\s+server s\d+ /gm) ?? []).length, 2, 'the slots doubled from 1 to 2')
  t.equal(reloads(mesh.sidecars.web.output()) - reloadsBefore, 1, 'exactly one reload, when the slots were outgrown')
  t.equal(await worker(mesh.dirs.web), pidGrown, 'and none for the later joins and leaves')
  t.equal(stats.failed, 0, 'zero failed requests')
})

t.test('with the runtime sockets gone, a change still lands by a checked reload', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const pidBefore = await worker(mesh.dirs.web)
  rmSync(join(mesh.dirs.web, 'master.sock'))
  rmSync(join(mesh.dirs.web, 'haproxy.sock'))
  const api2 = await apiInstance(mesh, 2)
  t.teardown(() => api2.stop())
  await eventually(async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const o = await httpGet(mesh.ports.upstream)
      if (o.ok) seen.add(o.body.split(' ')[0]!)
    }
    return seen.has('api2')
  }, 15_000, 'traffic reaching api-2')
  t.match(mesh.sidecars.web.output(), /reloading HAProxy.*master CLI unreachable/, 'the push could not reach HAProxy, so it reloaded')
  t.not(await worker(mesh.dirs.web), pidBefore, 'a new worker serves the change (the master re-creates its socket on reload)')
})

t.test('health: a critical instance gets no traffic; with every instance critical, all get it; no reload', async (t) => {
  const mesh = await startMesh({ protocol: 'http' })
  t.teardown(() => mesh.stop())
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const api2 = await apiInstance(mesh, 2)
  t.teardown(() => api2.stop())
  const cfg = () => readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8')
  await eventually(() => cfg().includes(`:${api2.port} `), 10_000, 'api-2 in web config')
  const checks = (await mesh.consul.api('GET', '/v1/agent/checks')).body as Record<string, { ServiceID: string; Type: string }>
  const ttlOf = (serviceId: string) => Object.entries(checks).find(([, c]) => c.ServiceID === serviceId && c.Type === 'ttl')![0]
  const setCheck = (serviceId: string, state: 'pass' | 'fail') => mesh.consul.api('PUT', `/v1/agent/check/${state}/${encodeURIComponent(ttlOf(serviceId))}`)
  /** Who answers 30 requests in a row (each a new connection through web's sidecar). */
  const answerers = async () => {
    const who = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const r = await httpGet(mesh.ports.upstream)
      who.add(r.ok ? r.body.split(/\s/)[0]! : `failed: ${r.error ?? r.status}`)
    }
    return [...who].sort()
  }
  const pidBefore = await worker(mesh.dirs.web)
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 4, deadlineMs: 60_000 })
  t.teardown(() => load.stop())

  await setCheck('api-2-sidecar-proxy', 'fail')
  await eventually(() => !cfg().includes(`:${api2.port} `), 10_000, 'critical api-2 out of web config')
  t.same(await answerers(), ['api'], 'api-2 critical: only api answers')
  await setCheck('api-sidecar-proxy', 'fail')
  await eventually(() => cfg().includes(`:${api2.port} `), 10_000, 'every instance critical: all back in web config')
  t.same(await answerers(), ['api', 'api2'], 'both critical: both answer (panic routing), nothing fails')
  await setCheck('api-sidecar-proxy', 'pass')
  await eventually(() => !cfg().includes(`:${api2.port} `), 10_000, 'api passing again: api-2 out')
  await setCheck('api-2-sidecar-proxy', 'pass')
  await eventually(() => cfg().includes(`:${api2.port} `), 10_000, 'api-2 passing again')
  const stats = await load.stop()
  t.comment(`requests: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
  t.equal(stats.failed, 0, 'zero failed requests through every health change')
  t.equal(await worker(mesh.dirs.web), pidBefore, "web's HAProxy worker kept its PID: health changes are pushed")
})
