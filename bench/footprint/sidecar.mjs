// The whole-sidecar side of bench/footprint: one real Consul agent, `web`
// with an upstream to `api`, and web's sidecar as users run it (meshplate
// with NODE_FLAGS, its HAProxy master and worker), measured idle, through a
// bounded churn of api instances and intention flips, and with 1,000 api
// instances; beside it the same sidecar with V8's defaults, and Consul's
// built-in proxy for the same service. Memory is RSS and PSS (shared pages
// split between their users) of every process, from /proc.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startConsul } from '../dataplane/lib/consul.mjs'
import { haproxyTree, rssMb, start, stop } from '../dataplane/lib/procs.mjs'
import { freePorts, NODE_FLAGS, sleep, until } from '../lib/shared.mjs'

/** How long after the last change a sample waits: meshplate collects garbage 2 s after its last batch, at most once per 5 s. */
export const SETTLE_MS = 8_000

/** Pss and VmHWM (peak RSS) in MB of a live process, or NaN. */
export function pssMb(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024
  } catch {
    return NaN
  }
}
export function peakMb(pid) {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
  } catch {
    return NaN
  }
}

/** RSS/PSS of a meshplate sidecar's three processes, and their sums. */
export function sidecarMemory(proc) {
  const t = haproxyTree(proc.pid)
  const pids = { meshplate: proc.pid, master: t?.master, worker: t?.workers[0] }
  const out = {}
  for (const [k, pid] of Object.entries(pids)) out[k] = pid ? { rss: rssMb(pid), pss: pssMb(pid), peak: peakMb(pid) } : { rss: NaN, pss: NaN, peak: NaN }
  out.whole = { rss: out.meshplate.rss + out.master.rss + out.worker.rss, pss: out.meshplate.pss + out.master.pss + out.worker.pss }
  return out
}

/** Starts Consul with web -> api (one api instance) and an allow intention. */
export async function startMesh(bins, work) {
  const consul = await startConsul(bins.consul, work)
  const [apiPort, apiSidecar, webPort, webSidecar, upstream, web2Sidecar, upstream2] = await freePorts(7)
  await consul.intention('web', 'api', 'allow')
  await consul.register({ name: 'api', port: apiPort, sidecarPort: apiSidecar, protocol: 'http' })
  await consul.register({ name: 'web', port: webPort, sidecarPort: webSidecar, protocol: 'http', upstreams: [{ DestinationName: 'api', LocalBindPort: upstream }] })
  // The same service shape for Consul's built-in proxy (its own registration: one proxy per service instance).
  await consul.register({ name: 'web2', port: webPort, sidecarPort: web2Sidecar, protocol: 'http', upstreams: [{ DestinationName: 'api', LocalBindPort: upstream2 }] })
  return consul
}

/** Runs web's sidecar with `flags`; resolves once HAProxy serves. */
export async function startSidecar(root, bins, work, consul, name, flags = NODE_FLAGS) {
  const dir = join(work, name)
  mkdirSync(dir, { recursive: true })
  const proc = start(process.execPath, [...flags, join(root, 'dist/cli.js'), 'sidecar', '--sidecar-for', 'web', '--consul-addr', consul.addr, '--dir', dir, '--haproxy', bins.haproxy, '--log-level', 'warn'], { logFile: join(work, `${name}.log`) })
  await until(() => {
    if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${proc.log().slice(-1500)}`)
    return haproxyTree(proc.pid)
  }, 30_000, `${name}'s HAProxy`)
  return proc
}

/** Consul's built-in proxy for web2; resolves once it runs. */
export async function startConsulProxy(bins, work, consul) {
  const proc = start(bins.consul, ['connect', 'proxy', '-sidecar-for', 'web2', '-http-addr', consul.addr, '-log-level', 'warn'], { logFile: join(work, 'consul-proxy.log') })
  await sleep(3_000)
  if (proc.exitCode !== null) throw new Error(`consul connect proxy exited ${proc.exitCode}: ${proc.log().slice(-1500)}`)
  return proc
}

/**
 * Churn for `durationMs`: every 2 s a second api instance joins or leaves,
 * every 30 s the web -> api intention flips deny/allow.
 * Samples `sample()` once a minute; returns the samples and the change count.
 */
export async function churn(consul, durationMs, sample) {
  const samples = []
  const end = Date.now() + durationMs
  let changes = 0
  let nextSample = Date.now() + 60_000
  const [extraPort] = await freePorts(1)
  for (let i = 0; Date.now() < end && i < 100_000; i++) {
    if (i % 2 === 0) {
      await consul.json('PUT', '/v1/agent/service/register', { ID: 'api-2-proxy', Name: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: extraPort, Address: '127.0.0.1', Proxy: { DestinationServiceName: 'api', LocalServicePort: 1 }, Checks: [{ Name: 'ttl', TTL: '1h', Status: 'passing' }] })
    } else {
      await consul.json('PUT', '/v1/agent/service/deregister/api-2-proxy')
    }
    changes++
    if (i % 15 === 14) {
      await consul.intention('web', 'api', Math.floor(i / 15) % 2 === 0 ? 'deny' : 'allow')
      changes++
    }
    if (Date.now() >= nextSample) {
      samples.push(sample())
      nextSample += 60_000
    }
    await sleep(2_000)
  }
  await consul.intention('web', 'api', 'allow')
  // As a sidecar spends most of its life: quiet after the last change (meshplate's idle GC runs then).
  await sleep(SETTLE_MS)
  samples.push(sample())
  return { samples, changes }
}

/**
 * 1,000 api instances (each a connect-proxy on its own catalog node), then 20
 * changes (one instance moved to a new port, 300 ms apart). Returns once the
 * sidecar has rendered them; the caller samples memory before and after.
 */
export async function registerMany(consul, n) {
  const one = (i) => consul.json('PUT', '/v1/catalog/register', {
    Node: `big-${i}`, Address: '127.0.0.1',
    Service: { ID: `api-big-${i}`, Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 30_000 + i, Address: '127.0.0.1', Proxy: { DestinationServiceName: 'api', LocalServicePort: 1 } },
    Check: { CheckID: `big-${i}`, Name: 'ok', Status: 'passing', ServiceID: `api-big-${i}` },
  })
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => one(i + k)))
}

export async function moveOne(consul, i, port) {
  await consul.json('PUT', '/v1/catalog/register', {
    Node: `big-${i}`, Address: '127.0.0.1',
    Service: { ID: `api-big-${i}`, Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: port, Address: '127.0.0.1', Proxy: { DestinationServiceName: 'api', LocalServicePort: 1 } },
    Check: { CheckID: `big-${i}`, Name: 'ok', Status: 'passing', ServiceID: `api-big-${i}` },
  })
}

export { stop }
