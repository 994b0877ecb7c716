// The part of the report that sets meshplate beside Consul's built-in proxy
// (`consul connect proxy`, the L4 sidecar meshplate is meant to replace): the
// project's targets against it on the tcp path with their verdicts, and what a
// whole sidecar weighs in memory for meshplate, the built-in proxy and the
// ideal HAProxy hop. Kept apart from report.mjs, which compares against the
// ideal pair.
import { f, int, mdTable, pct } from './format.mjs'

/** The project's targets against the built-in proxy (tcp, 16 keep-alive conns). */
export const TARGETS = { rps: 1.3, cpu: 0.6 }

/** meshplate (rendered tcp) ÷ Consul's built-in proxy, per figure. */
export const versus = (A) => ({
  rps: A.tcp.rps / A['consul-tcp'].rps,
  cpu: A.tcp.cpuPer1k / A['consul-tcp'].cpuPer1k,
  p50: A.tcp.addedP50 / A['consul-tcp'].addedP50,
  p99: A.tcp.addedP99 / A['consul-tcp'].addedP99,
  conn: A.tcp.connRate / A['consul-tcp'].connRate,
  cpuConn: A.tcp.cpuPerConn / A['consul-tcp'].cpuPerConn,
})

const ok = (x, pass) => Number.isFinite(x) && pass(x)

/** The verdict on one target, with how far off it is when missed. */
function verdict(x, goal) {
  if (!Number.isFinite(x)) return '— (not measured)'
  if (goal === 'rps') return ok(x, (v) => v >= TARGETS.rps) ? 'met' : `**missed** by ${f(TARGETS.rps - x)} × (${pct(TARGETS.rps / x - 1)} more req/s needed)`
  return ok(x, (v) => v <= TARGETS.cpu) ? 'met' : `**missed** by ${f(x - TARGETS.cpu)} × (CPU per request ${pct(1 - TARGETS.cpu / x)} lower needed)`
}

/** The targets table: rendered tcp, ideal tcp and the built-in proxy side by side, with ratios. */
export function versusTable(A) {
  const V = versus(A)
  const c = A['consul-tcp']
  const head = ['vs Consul\'s built-in proxy (tcp)', 'meshplate, rendered tcp', 'ideal pair, tcp', 'Consul built-in proxy', 'meshplate ÷ Consul', 'Target', 'Verdict']
  const row = (what, key, show, ratio, target = '', v = '') => [what, show(A.tcp[key]), show(A['ideal-tcp'][key]), show(c[key]), `${f(ratio)} ×`, target, v]
  return mdTable(head, [
    row('req/s, 16 keep-alive conns', 'rps', int, V.rps, `≥ ${TARGETS.rps} ×`, verdict(V.rps, 'rps')),
    row('Proxy CPU µs / req, 16 conns (both hops)', 'cpuPer1k', (x) => f(x, 1), V.cpu, `≤ ${TARGETS.cpu} ×`, verdict(V.cpu, 'cpu')),
    row('(for information) added p50 ms, 1 conn', 'addedP50', (x) => f(x, 3), V.p50),
    row('(for information) added p99 ms, 1 conn', 'addedP99', (x) => f(x, 3), V.p99),
    row('(for information) new conn/s, Connection: close', 'connRate', int, V.conn),
    row('(for information) proxy CPU ms / new conn', 'cpuPerConn', (x) => f(x, 3), V.cpuConn),
    row('(for information) Consul agent CPU ms / new conn, same runs', 'agentCpuPerConn', (x) => f(x, 3), A.tcp.agentCpuPerConn / c.agentCpuPerConn),
  ])
}

/** A missed target's explanation: how far the hand-written HAProxy pair itself is from it. */
export function versusWhy(A) {
  const V = versus(A)
  const ideal = { rps: A['ideal-tcp'].rps / A['consul-tcp'].rps, cpu: A['ideal-tcp'].cpuPer1k / A['consul-tcp'].cpuPer1k }
  const meets = { rps: (v) => ok(v, (x) => x >= TARGETS.rps), cpu: (v) => ok(v, (x) => x <= TARGETS.cpu) }
  if (meets.rps(V.rps) && meets.cpu(V.cpu)) return []
  const idealSays = meets.rps(ideal.rps) && meets.cpu(ideal.cpu)
    ? 'So HAProxy itself reaches both targets on this path; what keeps meshplate from them is what the rendered config adds.'
    : !meets.rps(ideal.rps) && !meets.cpu(ideal.cpu)
      ? 'So the ideal pair misses both targets too: on this path and machine they are beyond anything the rendered config could drop.'
      : `So the ideal pair meets the ${meets.rps(ideal.rps) ? 'req/s' : 'CPU'} target but misses the ${meets.rps(ideal.rps) ? 'CPU' : 'req/s'} one: that one is beyond anything the rendered config could drop, on this path and machine.`
  return [`- **vs Consul's built-in proxy (tcp):** meshplate's rendered pair does ${f(V.rps)} × its req/s at ${f(V.cpu)} × its proxy CPU per request (${f(A.tcp.cpuPer1k, 1)} vs ${f(A['consul-tcp'].cpuPer1k, 1)} µs); the hand-written ideal pair, HAProxy with nothing but mTLS, does ${f(ideal.rps)} × and ${f(ideal.cpu)} × (${f(A['ideal-tcp'].cpuPer1k, 1)} µs). ${idealSays} At 16 connections the CPUs are saturated and wrk and the app take their share per request on every path, so the req/s ratio stays under the inverse of the CPU ratio (1 / ${f(V.cpu)} = ${f(1 / V.cpu)} ×).`]
}

/** Whole-sidecar memory: meshplate (node + HAProxy), Consul's built-in proxy, the ideal HAProxy hop. */
export function memoryTable(R) {
  const both = (key, field) => {
    const w = R.mem[`${key}/web`]
    const a = R.mem[`${key}/api`]
    return w && a && Number.isFinite(w[field]) ? `${f(w[field], 1)} / ${f(a[field], 1)}` : '—'
  }
  const rows = [
    ['meshplate, tcp', 'node + HAProxy master + worker', 'tcp', 'sidecar'],
    ['meshplate, http', 'node + HAProxy master + worker', 'http', 'sidecar'],
    ['— of which meshplate\'s node process, tcp', 'node', 'tcp', 'meshplate'],
    ['Consul built-in proxy, tcp', '`consul connect proxy` (one process)', 'consul-tcp', 'sidecar'],
    ['Ideal pair hop, tcp (HAProxy only)', 'HAProxy master + worker', 'ideal-tcp', 'sidecar'],
    ['Ideal pair hop, http (HAProxy only)', 'HAProxy master + worker', 'ideal-http', 'sidecar'],
  ].map(([label, procs, key, what]) => [label, procs, both(key, `${what}Rss`), both(key, `${what}Pss`)])
  return mdTable(['Whole sidecar, largest seen', 'Processes', 'RSS web / api (MB)', 'PSS web / api (MB)'], rows)
}

/** One sentence on how meshplate's whole sidecar compares with the built-in proxy, api side. */
export function memoryLine(R) {
  const m = R.mem['tcp/api']
  const c = R.mem['consul-tcp/api']
  if (!m || !c) return ''
  return `meshplate's whole tcp api sidecar is ${f(m.sidecarRss / c.sidecarRss)} × the built-in proxy's RSS (${f(m.sidecarRss, 1)} vs ${f(c.sidecarRss, 1)} MB) and ${f(m.sidecarPss / c.sidecarPss)} × its PSS (${f(m.sidecarPss, 1)} vs ${f(c.sidecarPss, 1)} MB). PSS splits each shared page between every process that maps it: here ${R.sharing ?? 'many processes'} share libraries and binaries, so PSS is what one more sidecar costs on a node that runs many, and RSS the most a lone sidecar can take.`
}
