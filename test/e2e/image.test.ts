/**
 * meshplate's container image (scripts/image/Dockerfile), end to end. The image is built
 * from this checkout with podman (scripts/image/build; cached layers make an unchanged
 * checkout a few seconds' work), then its container runs as api's sidecar in the host's
 * network namespace, beside a web sidecar run from dist/ on the host, on a real Consul
 * agent: it carries web -> api traffic over mTLS, enforces a deny intention (and an allow
 * after it), runs as uid 10001 under tini, is healthy only once HAProxy serves, and on
 * SIGTERM (`podman stop`, as Nomad's docker driver stops a task) stops HAProxy and exits 0
 * well within the 15 s kill timeout of nomad/meshplate-mesh-docker.nomad.hcl, leaving no
 * process and freeing its port. It runs once per `npm test`: the image carries its own
 * HAProxy (Debian 13's 3.0.11, built with Lua 5.4), so MESHPLATE_TEST_HAPROXY does not apply to it. Without
 * podman the file is skipped, and says why.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { httpApp } from '../support/apps.ts'
import { startConsul, type ConsulAgent } from '../support/consul.ts'
import { buildImage, podman, podmanPath, runContainer, type Container } from '../support/container.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate, type Running } from '../support/process.ts'
import { httpGet, tcpRoundTrip } from '../support/traffic.ts'

const KILL_TIMEOUT_S = 15
const CONTAINER_DIR = '/var/lib/meshplate/.meshplate/api/'

/** Host processes whose command line names the container's sidecar folder. */
const leftovers = () =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(CONTAINER_DIR)
    } catch {
      return false
    }
  })

if (!podmanPath()) {
  const reason = 'podman is not installed, so the container image is NOT tested (`bash scripts/provision` installs podman, buildah, debootstrap and runc from Debian, and says when it cannot)'
  t.comment(reason)
  t.plan(0, reason)
} else {
  // A cold build (no cached layers) takes minutes; a cached one seconds.
  t.setTimeout(25 * 60_000)
  t.test('the image, built from this checkout, runs as api\'s sidecar', async (t) => {
    const build = await buildImage()
    if (build.code !== 0) t.comment(build.output.slice(-4000))
    t.equal(build.code, 0, `scripts/image/build succeeds (${(build.ms / 1000).toFixed(1)} s)`)
    if (build.code !== 0) return
    await checkImage(t, build.image)
    await sidecarInMesh(t, build.image)
  })
}

/** What the image is, from its config and from inside it. */
async function checkImage(t: Test, image: string) {
  const cfg = JSON.parse(podman(['image', 'inspect', '--format', '{{json .Config}}', image]).stdout) as { User: string; Entrypoint: string[]; Cmd: string[] }
  // Only a docker-format image keeps it: podman shows it beside the OCI config.
  const healthcheck = JSON.parse(podman(['image', 'inspect', '--format', '{{json .HealthCheck}}', image]).stdout || 'null') as { Test: string[]; Interval: number } | null
  t.equal(cfg.User, '10001:10001', 'runs as uid 10001, not root')
  t.same(cfg.Entrypoint, ['/usr/bin/tini', '--', 'meshplate'], 'tini is PID 1 and runs meshplate')
  t.same(cfg.Cmd, ['sidecar'], 'the default command is `meshplate sidecar`')
  t.same(healthcheck?.Test, ['CMD', 'node', '/opt/meshplate/scripts/image/healthcheck.mjs'], 'the image has its HEALTHCHECK (docker format)')
  const inside = podman(['run', '--rm', '--network', 'host', '--pull', 'never', '--entrypoint', 'sh', image, '-c',
    'id -u; node --version; haproxy -vv | grep "^Built with Lua"; setpriv --version'])
  t.equal(inside.code, 0, `tools answer inside the image${inside.code === 0 ? '' : `: ${inside.stderr}`}`)
  const [uid, node, lua, setpriv] = inside.stdout.trim().split('\n')
  t.equal(uid, '10001', 'uid 10001 inside')
  t.ok(Number(/^v(\d+)\./.exec(node ?? '')?.[1]) >= 22, `Node >= 22 (${node})`)
  t.match(lua, /Built with Lua version : Lua 5\.4\./, `HAProxy with Lua 5.4 (${lua})`)
  t.match(setpriv, /setpriv from util-linux/, 'setpriv is there, so HAProxy dies with meshplate')
}

/** Consul, two apps, web's sidecar on the host and api's in the image's container. */
async function sidecarInMesh(t: Test, image: string) {
  const consul = await startConsul()
  const apps = { api: await httpApp('api'), web: await httpApp('web') }
  const [apiPublic, webPublic, upstream] = (await freePorts(3)) as [number, number, number]
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  await consul.registerWithSidecar({ name: 'api', port: apps.api.port, sidecarPort: apiPublic, proxyConfig })
  await consul.registerWithSidecar({ name: 'web', port: apps.web.port, sidecarPort: webPublic, proxyConfig, upstreams: [{ DestinationName: 'api', LocalBindPort: upstream }] })
  const base = mkdtempSync(join(tmpdir(), 'mp-image-'))
  const web = meshplate(['sidecar', '--sidecar-for', 'web', '--consul-addr', consul.addr, '--dir', join(base, 'web')])
  const api = runContainer(image, `meshplate-e2e-${process.pid}-api`, ['sidecar', '--sidecar-for', 'api', '--consul-addr', consul.addr])
  const waiting = runContainer(image, `meshplate-e2e-${process.pid}-nobody`, ['sidecar', '--proxy-id', 'nobody-sidecar-proxy', '--consul-addr', consul.addr])
  t.teardown(async () => {
    api.remove()
    waiting.remove()
    await web.stop()
    await Promise.all([apps.api.close(), apps.web.close()])
    await consul.stop()
    rmSync(base, { recursive: true, force: true })
  })
  try {
    await eventually(() => /Loading success/.test(api.output()), 60_000, "the container's HAProxy to start")
    await eventually(() => /Loading success/.test(web.output()), 20_000, "web's HAProxy to start")
  } catch (err) {
    t.comment(`api (container):\n${api.output().slice(-3000)}\nweb:\n${web.output().slice(-2000)}`)
    throw err
  }
  await health(t, api, waiting)
  processes(t, api)
  await traffic(t, consul, api, upstream)
  await stops(t, api, apiPublic)
}

/** Healthy once HAProxy serves; not while meshplate still waits for its proxy's registration. */
async function health(t: Test, api: Container, waiting: Container) {
  await eventually(() => /404 unknown service ID: nobody-sidecar-proxy; retry/.test(waiting.output()), 20_000, 'meshplate in the second container to retry its unregistered proxy')
  const unhealthy = waiting.healthcheck()
  t.not(unhealthy.code, 0, `a sidecar whose proxy is not registered is unhealthy: ${unhealthy.line}`)
  t.match(unhealthy.line, /no HAProxy running/, 'because no HAProxy serves there')
  const stopped = await waiting.stop(KILL_TIMEOUT_S)
  t.equal(stopped.code, 0, `and it stops on SIGTERM while still waiting (exit ${stopped.code}, ${stopped.ms} ms)`)
  const healthy = api.healthcheck()
  t.equal(healthy.code, 0, `api's sidecar is healthy: ${healthy.line}`)
  t.match(healthy.line, /^healthy: HAProxy 3\.0\.\S+ worker \d+ answers/, "its check asked HAProxy's current worker")
}

/** Every process in the container runs as the image's user; tini is PID 1. */
function processes(t: Test, api: Container) {
  const lines = api.processes()
  t.ok(lines.length >= 4, `tini, node and HAProxy's master and worker run:\n${lines.join('\n')}`)
  t.ok(lines.every((l) => l.startsWith('meshplate ')), 'all as the meshplate user (uid 10001)')
  t.ok(lines.some((l) => / \/usr\/bin\/tini -- meshplate sidecar/.test(l)), 'tini runs meshplate')
  t.equal(lines.filter((l) => /haproxy -W -db -S \/var\/lib\/meshplate/.test(l)).length, 2, "HAProxy's master and one worker")
}

/** Requests through web's upstream listener reach api through the container; deny and allow take effect. */
async function traffic(t: Test, consul: ConsulAgent, api: Container, upstream: number) {
  const reachesApi = async (path: string) => {
    const o = await httpGet(upstream, path, 2_000)
    return o.ok && o.status === 200 && o.body.startsWith(`api ${path}\n`)
  }
  await eventually(() => reachesApi('/first'), 15_000, 'a first request web -> api')
  let ok = 0
  for (let i = 0; i < 20; i++) if (await reachesApi(`/r${i}`)) ok++
  t.equal(ok, 20, '20 of 20 requests web -> api answered by the api app through the container')
  await eventually(() => /src=spiffe:\/\/\S+\/svc\/web decision=allow/.test(api.output()), 5_000, "the container's allow log line")
  t.pass("the container's HAProxy logged web's SPIFFE id and the allow")

  await consul.intention('web', 'api', 'deny')
  const denyStarted = Date.now()
  await eventually(async () => !(await reachesApi('/probe')), 10_000, 'the deny to take effect')
  t.comment(`deny took effect ${Date.now() - denyStarted} ms after the intention was written`)
  let refused = 0
  for (let i = 0; i < 5; i++) if (!(await reachesApi(`/denied${i}`))) refused++
  t.equal(refused, 5, 'with a deny intention, 5 of 5 requests are refused')
  t.match(api.output(), /svc\/web decision=deny .*reason=intention-deny/, 'refused by the container\'s HAProxy as an intention deny')

  await consul.intention('web', 'api', 'allow')
  await eventually(() => reachesApi('/again'), 10_000, 'the allow to take effect')
  t.pass('an allow intention restores traffic')
}

/** SIGTERM through `podman stop`: exit 0 well within the kill timeout, port freed, nothing left. */
async function stops(t: Test, api: Container, apiPublic: number) {
  const { code, ms } = await api.stop(KILL_TIMEOUT_S)
  t.equal(code, 0, `exit 0 on SIGTERM (${ms} ms; 137 would mean it was SIGKILLed)`)
  t.ok(ms < KILL_TIMEOUT_S * 1000, `stopped in ${ms} ms, within the ${KILL_TIMEOUT_S} s kill timeout`)
  t.match(api.output(), /SIGTERM: stopping/, 'meshplate got the SIGTERM')
  t.match(api.output(), /All workers exited/, 'and stopped HAProxy')
  const after = await tcpRoundTrip(apiPublic, 'x', 2_000)
  t.ok(!after.ok && /ECONNREFUSED/.test(after.error), `the public port is free (${after.ok ? 'answered' : after.error})`)
  t.same(leftovers(), [], 'no process of the container is left on the host')
  t.equal(podman(['ps', '--all', '--filter', `name=^${api.name}$`, '--format', '{{.Names}}']).stdout.trim(), '', 'the container is gone (--rm)')
}
