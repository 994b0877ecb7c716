// One measurement: a bounded wrk run through one path, with the CPU time of the
// processes that carry the path's data (each hop's HAProxy workers, or Consul's
// built-in proxy), of its meshplate processes and of the Consul agent read from
// /proc before and after, and the TLS handshakes the inbound hop accepted
// meanwhile (`show info` CumSslConns, where the hop has a stats socket). Also
// the memory of every process of a path.
import { readFileSync } from 'node:fs'
import { showInfo } from './haproxy.mjs'
import { wrk } from './load.mjs'
import { cpuSeconds, haproxyTree, machineCpu, ownCpu, rssMb } from './procs.mjs'

/** HAProxy master and workers under a hop's process; throws if it is not running. */
function tree(hop) {
  const t = haproxyTree(hop.proc.pid)
  if (!t) throw new Error(`${hop.svc}: HAProxy is not running (${hop.proc.log().slice(-800)})`)
  return t
}

/** Pids whose CPU is a hop's data-path CPU: the hop's own `dataPids()`, else its HAProxy workers. */
export const dataPids = (hop) => (hop.dataPids ? hop.dataPids() : tree(hop).workers)

/** Every process of a hop's sidecar: its own `sidecarPids()`, else meshplate's node (if any) + HAProxy master + workers. */
const sidecarPids = (hop) => {
  if (hop.sidecarPids) return hop.sidecarPids()
  const t = haproxyTree(hop.proc.pid)
  return [...(hop.meshplatePid ? [hop.meshplatePid] : []), ...(t ? [t.master, ...t.workers] : [])]
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0)
const handshakes = async (hop) => {
  if (!hop.sock) return NaN // no stats socket (Consul's built-in proxy): no count, rather than a guess
  try {
    return Number((await showInfo(hop.sock)).CumSslConns)
  } catch {
    return NaN
  }
}

/**
 * Runs wrk through `path` and returns its figures plus cpuS (data-path processes
 * of every hop), meshplateCpuS, agentCpuS (the Consul agent), handshakes
 * (inbound hop) and foreign: the share of the machine's CPU used meanwhile by
 * anything but this benchmark's processes. `app` is the app's process and
 * `agent` the Consul agent's (their CPU is ours, not foreign).
 */
export async function measure(bins, work, path, { connections, seconds, close }, app, agent) {
  const inbound = path.hops[path.hops.length - 1]
  const workers = path.hops.flatMap(dataPids)
  const appWorkers = app && app !== path.hops[0].proc ? haproxyTree(app.pid)?.workers ?? [] : []
  const nodes = path.hops.map((h) => h.meshplatePid).filter(Boolean)
  const agents = agent ? [agent.pid] : []
  const hs0 = await handshakes(inbound)
  const ours = () => sum([...workers, ...appWorkers, ...nodes, ...agents].map(cpuSeconds)) + ownCpu()
  const m0 = machineCpu()
  const o0 = ours()
  const cpu0 = sum(workers.map(cpuSeconds))
  const mp0 = sum(nodes.map(cpuSeconds))
  const ag0 = sum(agents.map(cpuSeconds))
  const r = await wrk(bins.wrk, work, { url: path.url, connections, seconds, close })
  const cpu1 = sum(workers.map(cpuSeconds))
  const mp1 = sum(nodes.map(cpuSeconds))
  const ag1 = sum(agents.map(cpuSeconds))
  const o1 = ours()
  const m1 = machineCpu()
  const hs1 = await handshakes(inbound)
  const after = path.hops.flatMap(dataPids)
  const reloaded = after.join() !== workers.join()
  return {
    ...r,
    text: undefined,
    cpuS: reloaded ? NaN : cpu1 - cpu0,
    meshplateCpuS: mp1 - mp0,
    agentCpuS: ag1 - ag0,
    handshakes: hs1 - hs0,
    foreign: Math.max(0, (m1.busy - m0.busy - (o1 - o0)) / (m1.total - m0.total)),
    reloaded,
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Waits (at most `maxMs`) until the machine's busy share over half a second is
 * under `threshold`: other work on a shared machine would distort the next run.
 * Resolves to the milliseconds waited.
 */
export async function waitQuiet(threshold, maxMs) {
  const t0 = Date.now()
  for (;;) {
    const a = machineCpu()
    await sleep(500)
    const b = machineCpu()
    if ((b.busy - a.busy) / (b.total - a.total) < threshold || Date.now() - t0 >= maxMs) return Date.now() - t0
  }
}

/** Proportional set size in MB (shared pages split between their users), or NaN. */
function pssMb(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024
  } catch {
    return NaN
  }
}

/**
 * Memory of each hop of a path, in MB: HAProxy master+worker(s) RSS and PSS,
 * meshplate's node process RSS and PSS, and the whole sidecar (every process of
 * the hop: node + HAProxy, HAProxy alone, or Consul's one proxy process).
 */
export function memory(path) {
  return path.hops.map((h) => {
    const t = haproxyTree(h.proc.pid)
    const pids = t ? [t.master, ...t.workers] : []
    const whole = sidecarPids(h)
    return {
      role: h.role,
      haproxyRss: t ? sum(pids.map(rssMb)) : NaN,
      haproxyPss: t ? sum(pids.map(pssMb)) : NaN,
      masterRss: t ? rssMb(t.master) : NaN,
      workerRss: t ? sum(t.workers.map(rssMb)) : NaN,
      meshplateRss: h.meshplatePid ? rssMb(h.meshplatePid) : NaN,
      meshplatePss: h.meshplatePid ? pssMb(h.meshplatePid) : NaN,
      sidecarRss: whole.length ? sum(whole.map(rssMb)) : NaN,
      sidecarPss: whole.length ? sum(whole.map(pssMb)) : NaN,
    }
  })
}
