// One measurement: a bounded wrk run through one path, with the CPU time of the
// path's HAProxy workers (and of its meshplate processes) read from /proc
// before and after, and the TLS handshakes the inbound hop accepted meanwhile
// (`show info` CumSslConns). Also the memory of every process of a path.
import { readFileSync } from 'node:fs'
import { showInfo } from './haproxy.mjs'
import { wrk } from './load.mjs'
import { cpuSeconds, haproxyTree, machineCpu, ownCpu, rssMb } from './procs.mjs'

function trees(path) {
  return path.hops.map((h) => {
    const t = haproxyTree(h.proc.pid)
    if (!t) throw new Error(`${h.svc}: HAProxy is not running (${h.proc.log().slice(-800)})`)
    return t
  })
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0)
const handshakes = async (hop) => {
  try {
    return Number((await showInfo(hop.sock)).CumSslConns)
  } catch {
    return NaN
  }
}

/**
 * Runs wrk through `path` and returns its figures plus cpuS (HAProxy workers of
 * every hop), meshplateCpuS, handshakes (inbound hop) and foreign: the share of
 * the machine's CPU used meanwhile by anything but this benchmark's processes.
 * `app` is the app's process (its CPU is ours, not foreign).
 */
export async function measure(bins, work, path, { connections, seconds, close }, app) {
  const inbound = path.hops[path.hops.length - 1]
  const before = trees(path)
  const workers = before.flatMap((t) => t.workers)
  const appWorkers = app && app !== path.hops[0].proc ? haproxyTree(app.pid)?.workers ?? [] : []
  const nodes = path.hops.map((h) => h.meshplatePid).filter(Boolean)
  const hs0 = await handshakes(inbound)
  const ours = () => sum([...workers, ...appWorkers, ...nodes].map(cpuSeconds)) + ownCpu()
  const m0 = machineCpu()
  const o0 = ours()
  const cpu0 = sum(workers.map(cpuSeconds))
  const mp0 = sum(nodes.map(cpuSeconds))
  const r = await wrk(bins.wrk, work, { url: path.url, connections, seconds, close })
  const cpu1 = sum(workers.map(cpuSeconds))
  const mp1 = sum(nodes.map(cpuSeconds))
  const o1 = ours()
  const m1 = machineCpu()
  const hs1 = await handshakes(inbound)
  const after = trees(path).flatMap((t) => t.workers)
  const reloaded = after.join() !== workers.join()
  return {
    ...r,
    text: undefined,
    cpuS: reloaded ? NaN : cpu1 - cpu0,
    meshplateCpuS: mp1 - mp0,
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

/** Memory of each hop of a path: HAProxy master+worker(s) RSS and PSS, meshplate RSS. */
export function memory(path) {
  return path.hops.map((h) => {
    const t = haproxyTree(h.proc.pid)
    const pids = t ? [t.master, ...t.workers] : []
    return {
      role: h.role,
      haproxyRss: sum(pids.map(rssMb)),
      haproxyPss: sum(pids.map(pssMb)),
      masterRss: t ? rssMb(t.master) : NaN,
      workerRss: t ? sum(t.workers.map(rssMb)) : NaN,
      meshplateRss: h.meshplatePid ? rssMb(h.meshplatePid) : NaN,
    }
  })
}
