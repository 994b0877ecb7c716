/**
 * Faults outside the sidecar's own processes, with real Consul, real HAProxy
 * and keep-alive traffic: the Consul agent killed and restarted (a persistent
 * single-server agent, so its CA, intentions and registrations survive as on
 * a real one), and the render folder full, then read-only (a tmpfs the test
 * mounts). Traffic must not stop, the running config must stay, and meshplate
 * must catch up by itself once the agent or the disk is back.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { showProc } from '../../src/haproxy/runtime-api.ts'
import { startLoad } from '../support/load.ts'
import { startMesh } from '../support/mesh.ts'
import { eventually } from '../support/process.ts'
import { httpGet } from '../support/traffic.ts'

const worker = async (dir: string) => (await showProc(join(dir, 'master.sock'))).worker
const mapOf = (dir: string) => readFileSync(join(dir, 'intentions.map'), 'utf8')

t.test('the agent killed for 8 s and restarted under load: traffic never stops, every view re-syncs within 2 s', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mp-consul-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const mesh = await startMesh({ protocol: 'http', consul: { dataDir } })
  t.teardown(() => mesh.stop())
  await mesh.consul.intention('web', 'api', 'allow')
  await eventually(() => mapOf(mesh.dirs.api).includes('web'), 10_000, "the allow in api's table")
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const pids = { api: await worker(mesh.dirs.api), web: await worker(mesh.dirs.web) }

  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 4, deadlineMs: 90_000 })
  t.teardown(() => load.stop())

  // A TTL check keeps across a restart only a state its owner has reported, as a live app does.
  const checks = (await mesh.consul.api('GET', '/v1/agent/checks')).body as Record<string, { Type: string }>
  for (const [id, c] of Object.entries(checks)) if (c.Type === 'ttl') await mesh.consul.api('PUT', `/v1/agent/check/pass/${encodeURIComponent(id)}`)
  await mesh.consul.kill()
  await new Promise((r) => setTimeout(r, 8_000))
  const whileDown = { ...load.stats, kinds: { ...load.stats.kinds } }
  await mesh.consul.start()
  const back = Date.now()
  const restored = (await mesh.consul.api('GET', '/v1/agent/checks')).body as Record<string, { Status: string; Output: string }>
  t.comment(`checks after the restart: ${Object.entries(restored).map(([id, c]) => `${id}=${c.Status} (${c.Output.slice(0, 60)})`).join(', ')}`)
  // Changes made as soon as the agent answers, each seen through a different view: api's
  // intentions, and web's own registration (a new instance would wait for Consul's first
  // check of it, which is not a re-sync).
  await mesh.consul.intention('other', 'api', 'deny')
  await mesh.consul.registerWithSidecar({
    name: 'web',
    port: mesh.apps.web.port,
    sidecarPort: mesh.ports.webPublic,
    proxyConfig: { protocol: 'http', bind_address: '127.0.0.1', local_connect_timeout_ms: 4321 },
    upstreams: [{ DestinationName: 'api', LocalBindPort: mesh.ports.upstream }],
  })
  await eventually(() => mapOf(mesh.dirs.api).includes('other'), 10_000, "api's intentions view")
  const apiMs = Date.now() - back
  await eventually(() => readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8').includes('timeout connect 4321ms'), 10_000, "web's view of its registration")
  const webMs = Date.now() - back
  // The restarted agent reports the TCP check it adds to every sidecar as critical until that
  // check next runs: every api instance is critical then, and upstreams() routes to them all.
  const allPassing = async () => Object.values((await mesh.consul.api('GET', '/v1/agent/checks')).body as Record<string, { Status: string }>).every((c) => c.Status === 'passing')
  await eventually(allPassing, 20_000, 'every check passing again')
  const criticalMs = Date.now() - back
  await new Promise((r) => setTimeout(r, 500))
  const stats = await load.stop()
  t.comment(`after the agent's return: api's intentions in ${apiMs} ms, web's registration in ${webMs} ms`)
  t.comment(`requests until the agent answered: ${whileDown.ok} ok, ${whileDown.failed} failed; in all: ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
  t.ok(whileDown.ok > 500, 'requests flowed while the agent was down')
  t.equal(whileDown.failed, 0, 'zero failed requests while the agent was down: HAProxy kept its state')
  t.equal(stats.failed, 0, `zero failed in all, also for the ${criticalMs} ms the returned agent called every sidecar critical (all-critical upstreams route to every instance)`)
  t.ok(apiMs <= 2_000 && webMs <= 2_000, 'both views re-synced within 2 s of the agent answering')
  // The restarted agent signs new leaves (its cache is in memory): on 2.6.12 that is one seamless reload.
  const now = { api: await worker(mesh.dirs.api), web: await worker(mesh.dirs.web) }
  t.comment(`HAProxy workers before/after: api ${pids.api}/${now.api}, web ${pids.web}/${now.web}`)
})

t.test('the render folder full, then read-only: a clear error, the running config kept, recovery on its own', async (t) => {
  let mounted = ''
  const mesh = await startMesh({
    protocol: 'http',
    prepare: (dirs) => {
      mkdirSync(dirs.api, { recursive: true })
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'mp-render', dirs.api])
      mounted = dirs.api
    },
  })
  t.teardown(async () => {
    await mesh.sidecars.api.stop()
    if (mounted) execFileSync('umount', ['-l', mounted])
    await mesh.stop()
  })
  await eventually(async () => (await httpGet(mesh.ports.upstream)).ok, 10_000, 'first request')
  const dir = mesh.dirs.api
  const config = readFileSync(join(dir, 'haproxy.cfg'), 'utf8')
  const load = startLoad({ port: mesh.ports.upstream, mode: 'http-keepalive', concurrency: 2, deadlineMs: 90_000 })
  t.teardown(() => load.stop())

  const filler = join(dir, 'filler')
  try {
    writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024))
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the folder is full')
  }
  await mesh.consul.intention('other', 'api', 'deny')
  await eventually(() => /intentions\.map: ENOSPC/.test(mesh.sidecars.api.output()), 10_000, 'the write error')
  t.match(mesh.sidecars.api.output(), /ERROR.*intentions\.map: ENOSPC: no space left on device/, 'one line naming the file and the cause')
  t.match(mesh.sidecars.api.output(), /the last good files stay; writing again in \d+ ms/, 'and that it will try again')
  t.notOk(mapOf(dir).includes('other'), 'the last good map stays')
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind')
  unlinkSync(filler)
  const freed = Date.now()
  await eventually(() => mapOf(dir).includes('other'), 10_000, 'the map written once there is room')
  t.comment(`written ${Date.now() - freed} ms after the space came back`)

  execFileSync('mount', ['-o', 'remount,ro', dir])
  await mesh.consul.deleteIntention('other', 'api')
  await eventually(() => /intentions\.map: EROFS/.test(mesh.sidecars.api.output()), 10_000, 'the read-only error')
  t.ok(mapOf(dir).includes('other'), 'read-only: the last good map stays')
  execFileSync('mount', ['-o', 'remount,rw', dir])
  await eventually(() => !mapOf(dir).includes('other'), 10_000, 'the map written once the folder is writable')
  const stats = await load.stop()
  t.equal(readFileSync(join(dir, 'haproxy.cfg'), 'utf8'), config, 'haproxy.cfg never changed')
  t.comment(`requests ${stats.ok} ok, ${stats.failed} failed ${JSON.stringify(stats.kinds)}`)
  t.equal(stats.failed, 0, 'zero failed requests')
})
