/**
 * The shipped raw_exec job, as shipped (no -var), on a real Nomad v1.6.1 dev
 * agent with bridge networking, behind the network guard: traffic from inside
 * web's namespace through both sidecars, the edge port from the host, an
 * intention deny and allow, a bounded load compared with the same two
 * sidecars outside Nomad, api's per-service override on the wire, and a job
 * stop that leaves no process behind.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../support/binaries.ts'
import { eventually } from '../support/process.ts'
import { startNomadLab, processesUnder } from '../support/nomad.ts'
import { allocations, curlIn, netnsOf, runJob, runningAllocs, wrkIn } from '../support/nomad-jobs.ts'
import { startOutsidePair } from '../support/nomad-outside.ts'

const JOB = join(repoRoot, 'nomad/meshplate-mesh.nomad.hcl')

t.test('the shipped raw_exec job runs on a real Nomad', async (t) => {
  const started = Date.now()
  const lab = await startNomadLab()
  t.teardown(() => lab.stop())
  runJob(lab, JOB)
  const allocs = await runningAllocs(lab, 'meshplate-mesh', ['api', 'web'])
  const web = netnsOf(allocs.web!)

  const guard = await lab.net.verify(web)
  t.pass(`guard: an off-machine connection from web's namespace was refused in ${guard.refusedInMs} ms and counted`)
  const rejectedAfterProbe = lab.net.rejected()

  const upstream = 'http://127.0.0.1:8080/'
  const first = await eventually(() => {
    const r = curlIn(web, upstream)
    return r.status === 200 ? r : undefined
  }, 60_000, 'web -> api through both sidecars')
  t.match(first.headers, /^X-Mesh-Override: api\r?$/im, "api's per-service override is on the wire (set by api's sidecar)")
  const edge = curlIn(undefined, `http://${lab.clientIp}:9002/`)
  t.equal(edge.status, 200, `the edge port answers from the host (${edge.error ?? 'ok'})`)
  t.notMatch(edge.headers, /X-Mesh-Override/i, 'the edge hop is the app itself')
  const webCfg = readFileSync(join(lab.dataDir, 'alloc', allocs.web!.ID, 'meshplate/local/mesh/haproxy.cfg'), 'utf8')
  const apiCfg = readFileSync(join(lab.dataDir, 'alloc', allocs.api!.ID, 'meshplate/local/mesh/haproxy.cfg'), 'utf8')
  t.match(apiCfg, /http-response set-header X-Mesh-Override api/, "api's sidecar renders its override")
  t.notMatch(webCfg, /X-Mesh-Override/, "web's sidecar renders the stock config")

  // Deny and allow, timed from the write to the first request that sees it.
  let t0 = Date.now()
  await lab.consul.intention('web', 'api', 'deny')
  await eventually(() => curlIn(web, upstream).status !== 200, 5_000, 'deny to take effect')
  const denyMs = Date.now() - t0
  t0 = Date.now()
  await lab.consul.intention('web', 'api', 'allow')
  await eventually(() => curlIn(web, upstream).status === 200, 5_000, 'allow to take effect')
  const allowMs = Date.now() - t0
  t.ok(denyMs <= 1_000 && allowMs <= 1_000, `deny took effect in ${denyMs} ms, allow in ${allowMs} ms (≤ 1 s)`)

  // The same load inside Nomad and through the same two sidecars outside it, in this run.
  const inside = wrkIn(web, upstream, 8, 10)
  const outside = await startOutsidePair(lab)
  const direct = wrkIn(undefined, `http://127.0.0.1:${outside.upstreamPort}/`, 8, 10)
  await outside.stop()
  t.comment(`inside Nomad:  ${inside.summary}; p50 ${inside.p50ms} ms, p99 ${inside.p99ms} ms, non-2xx ${inside.non2xx}`)
  t.comment(`outside Nomad: ${direct.summary}; p50 ${direct.p50ms} ms, p99 ${direct.p99ms} ms, non-2xx ${direct.non2xx}`)
  t.ok(inside.requests > 0 && direct.requests > 0, 'both loads ran')
  t.equal(inside.failed + inside.non2xx, 0, 'no failed request inside Nomad')
  t.equal(inside.timeouts, 0, 'no timeout inside Nomad')
  t.equal(direct.failed + direct.non2xx + direct.timeouts, 0, 'none outside either')
  t.ok(inside.p99ms <= 2 * Math.max(direct.p99ms, 1), `p99 inside (${inside.p99ms} ms) within 2x of outside (${direct.p99ms} ms)`)

  // Stop: Nomad deregisters, waits shutdown_delay, sends SIGTERM; nothing survives it.
  const stop = lab.cli(['job', 'stop', 'meshplate-mesh'])
  t.equal(stop.code, 0, 'nomad job stop')
  await eventually(async () => (await allocations(lab, 'meshplate-mesh')).every((a) => a.ClientStatus === 'complete'), 60_000, 'allocations to complete')
  for (const a of await allocations(lab, 'meshplate-mesh')) {
    const exit = a.TaskStates?.meshplate?.Events.find((e) => e.Type === 'Terminated')
    t.equal(exit?.ExitCode, 0, `${a.TaskGroup}'s sidecar exited 0 on SIGTERM`)
  }
  await eventually(() => processesUnder(lab.dataDir).length === 0, 10_000, 'no process of the job left')
  const services = Object.values((await lab.consul.api('GET', '/v1/agent/services')).body as Record<string, { Service: string }>)
  t.same(services.map((s) => s.Service).filter((name) => !/^nomad/.test(name)), [], "every service of the job deregistered (Nomad's own stay)")
  t.equal(lab.net.rejected(), rejectedAfterProbe, 'no allocation tried to reach an address off this machine')
  t.comment(`nomad raw_exec test: ${Math.round((Date.now() - started) / 1000)} s`)
})
