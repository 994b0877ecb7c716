#!/usr/bin/env node
// The dataplane benchmark: what a request pays to cross two meshplate sidecars
// (web's upstream listener -> web sidecar -> api sidecar -> app, rendered from a
// real Consul agent exactly as shipped), against the app alone and against the
// same two hops written by hand as a minimal HAProxy pair ("ideal"), and, in
// tcp, against Consul's built-in proxy on the same path (`consul connect proxy
// -sidecar-for`, L4 only), the peer meshplate replaces. Template variants
// (authorization, logging or the upstream identity check removed) tell where
// the difference goes. Every path is measured in the same run, in rotated
// order, three rounds, medians. Prints a Markdown table and rewrites the
// "Dataplane" section of bench/RESULTS.md. Everything it starts is stopped at
// the end, on failure and on Ctrl-C. Provisions nothing: it refuses when
// consul, haproxy or wrk is missing.
// Usage: node bench/dataplane/run.mjs [--quick] [--no-build] [--no-write] [--json FILE] [--nice N]
//   --nice N: nice value for the measured processes (HAProxy, meshplate, Consul's proxies, wrk); default -10 when
//   run as root, so that other work on a shared machine disturbs the figures less; 0 turns it off.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startConsul, freePorts } from './lib/consul.mjs'
import { appConfig, BODY_BYTES, startHaproxy } from './lib/haproxy.mjs'
import { measure, memory, waitQuiet } from './lib/measure.mjs'
import { probe, startConsulPair, startIdealPair, startRenderedPairs } from './lib/mesh.mjs'
import { build, machine, requirePeers } from './lib/preflight.mjs'
import { haproxyTree, killAllNow, setNice, stop, stopAll } from './lib/procs.mjs'
import { report, writeResults } from './lib/report.mjs'
import { ruleLines, VARIANTS } from './lib/variants.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const argv = process.argv.slice(2)
const flags = new Set(argv)
const quick = flags.has('--quick')
const jsonOut = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : undefined
const niceArg = argv.includes('--nice') ? Number(argv[argv.indexOf('--nice') + 1]) : undefined
const NICE = Number.isInteger(niceArg) ? niceArg : process.getuid?.() === 0 ? -10 : 0
const ROUNDS = quick ? 1 : 3
const SECONDS = quick ? 2 : 5
// A shared machine: before each run, wait (bounded, per run and in total) until
// other work leaves the CPUs mostly idle; what it still used is recorded per run.
const QUIET = { threshold: 0.15, perRunMs: 5_000, totalMs: quick ? 10_000 : 60_000 }
const log = (msg) => process.stderr.write(`[bench/dataplane] ${msg}\n`)

/** Rendered pairs: key -> [protocol, template variant]. */
const RENDERED = {
  tcp: ['tcp', 'shipped'],
  'tcp-noauth': ['tcp', 'noauth'],
  'tcp-lean': ['tcp', 'lean'],
  http: ['http', 'shipped'],
  'http-noauth': ['http', 'noauth'],
  'http-nolog': ['http', 'nolog'],
  'http-nopeer': ['http', 'nopeer'],
  'http-lean': ['http', 'lean'],
}

/** The three load shapes and the paths each one is run through. */
const TESTS = [
  { name: 'latency', connections: 1, close: false, paths: ['direct', 'ideal-tcp', 'tcp', 'consul-tcp', 'ideal-http', 'http', 'http-lean'] },
  { name: 'throughput', connections: 16, close: false, paths: ['direct', 'ideal-tcp', 'tcp', 'consul-tcp', 'ideal-http', 'http', 'http-noauth', 'http-nolog', 'http-nopeer', 'http-lean'] },
  { name: 'newconn', connections: 16, close: true, paths: ['direct', 'ideal-tcp', 'tcp', 'consul-tcp', 'tcp-noauth', 'tcp-lean', 'ideal-http', 'http', 'http-noauth'] },
]
/** Paths whose memory is reported (what users run, and the yardsticks). */
const MEMORY_PATHS = ['ideal-tcp', 'tcp', 'consul-tcp', 'ideal-http', 'http']

const bins = requirePeers(root)
setNice(NICE)
if (!flags.has('--no-build')) build(root)
const started = Date.now()
const work = mkdtempSync('/tmp/mpdp-')
let cleaning
const cleanup = (consul) =>
  (cleaning ??= (async () => {
    await stopAll(consul).catch(() => {})
    if (consul) await stop(consul)
    rmSync(work, { recursive: true, force: true })
  })())
process.on('exit', killAllNow)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping everything`)
    cleanup().finally(() => process.exit(130))
  })
}

/** Starts Consul, the app, every rendered pair, both ideal pairs and the Consul pair; returns key -> path. */
async function setUp() {
  const consul = await startConsul(bins.consul, work)
  log(`consul agent on ${consul.addr}`)
  const [appPort] = await freePorts(1)
  const app = startHaproxy(bins.haproxy, appConfig(work, appPort), join(work, 'app.log'))
  const paths = { direct: { key: 'direct', kind: 'direct', url: `http://127.0.0.1:${appPort}/`, hops: [{ role: 'app', svc: 'app', proc: app }] } }
  const specs = Object.entries(RENDERED).map(([key, [protocol, variant]]) => ({ key, protocol, variant }))
  for (const p of await startRenderedPairs({ consul, bins, root, work, appPort, specs })) paths[p.key] = p
  log(`${specs.length} rendered pairs up (${specs.length * 2} meshplate sidecars)`)
  const certs = { web: paths.tcp.hops[0].dir, api: paths.tcp.hops[1].dir }
  for (const mode of ['tcp', 'http']) {
    const p = await startIdealPair({ bins, work, appPort, mode, certs })
    paths[p.key] = p
  }
  paths['consul-tcp'] = await startConsulPair({ consul, bins, work, appPort })
  log('Consul built-in proxy pair up (consul connect proxy -sidecar-for web-consul, api-consul)')
  if (!haproxyTree(app.pid)) throw new Error(`the app HAProxy is not running: ${app.log().slice(-800)}`)
  for (const p of Object.values(paths)) await probe(p, BODY_BYTES)
  return { consul, app, paths }
}

/** What decided the authorizations on the shipped pairs, read from the api sidecars' logs. */
function decisions(paths) {
  const out = {}
  for (const key of ['tcp', 'http']) {
    const text = paths[key].hops[1].proc.log()
    const counts = {}
    for (const m of text.matchAll(/decision=(\S+) rule=\S+ reason=(\S+)/g)) counts[`${m[1]}/${m[2]}`] = (counts[`${m[1]}/${m[2]}`] ?? 0) + 1
    out[key] = counts
  }
  return out
}

/** VmRSS of a bare `node` process here, for scale next to meshplate's. */
function nodeBaseline() {
  const r = spawnSync(process.execPath, ['-e', 'setTimeout(() => console.log(/VmRSS:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]), 300)'], { encoding: 'utf8' })
  return Number(r.stdout.trim()) / 1024
}

/** The processes that share library and binary pages here, which PSS splits those pages between. */
function sharing(paths) {
  const hops = Object.values(paths).flatMap((p) => p.hops)
  const haproxies = new Set(hops.flatMap((h) => {
    const t = haproxyTree(h.proc.pid)
    return t ? [t.master, ...t.workers] : []
  }))
  return `${hops.filter((h) => h.meshplatePid).length} meshplate node processes, ${haproxies.size} HAProxy processes and 3 consul processes (the agent and both proxies, one binary)`
}

/** Highest memory seen per path and hop. */
function sampleMemory(paths, mem) {
  for (const key of MEMORY_PATHS) {
    for (const m of memory(paths[key])) {
      const k = `${key}/${m.role}`
      const prev = mem[k]
      mem[k] = prev ? Object.fromEntries(Object.keys(m).map((f) => [f, f === 'role' ? m.role : Math.max(prev[f], m[f])])) : m
    }
  }
}

async function main() {
  const M = machine(root, bins)
  log(`${M.nproc} CPUs, ${M.haproxy}, ${M.consul}, ${M.wrk}; work dir ${work}`)
  const { consul, app, paths } = await setUp().catch(async (err) => {
    await cleanup()
    throw err
  })
  try {
    const mem = {}
    const rows = []
    log('warm-up: 1 s at 16 connections through every path')
    for (const p of Object.values(paths)) {
      rows.push({ test: 'warmup', path: p.key, round: -1, ...(await measure(bins, work, p, { connections: 16, seconds: 1, close: false }, app, consul.proc)) })
    }
    let quietLeft = QUIET.totalMs
    sampleMemory(paths, mem)
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of TESTS) {
        const order = t.paths.map((_, i) => t.paths[(i + round) % t.paths.length])
        for (const key of order) {
          const waited = quietLeft > 0 ? await waitQuiet(QUIET.threshold, Math.min(QUIET.perRunMs, quietLeft)) : 0
          quietLeft -= waited
          const r = await measure(bins, work, paths[key], { connections: t.connections, seconds: SECONDS, close: t.close }, app, consul.proc)
          rows.push({ test: t.name, path: key, round, waited, ...r })
          log(`round ${round + 1}/${ROUNDS} ${t.name.padEnd(10)} ${key.padEnd(11)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  cpu ${r.cpuS.toFixed(2)} s  others ${(100 * r.foreign).toFixed(0)}%${r.errors ? `  errors ${r.errors}` : ''}`)
        }
      }
      sampleMemory(paths, mem)
    }
    const R = {
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      machine: { ...M, loadEnd: loadavg().map((l) => l.toFixed(2)).join(' ') },
      rounds: ROUNDS, seconds: SECONDS, quiet: QUIET, nice: NICE, nodeBaselineMb: nodeBaseline(), tests: TESTS, rendered: RENDERED, variants: VARIANTS,
      rows, mem, sharing: sharing(paths), decisions: decisions(paths),
      consulLogLines: Object.fromEntries(paths['consul-tcp'].hops.map((h) => [h.role, h.proc.log().split('\n').filter(Boolean).length])),
      rules: Object.fromEntries(['tcp', 'http'].flatMap((k) => paths[k].hops.map((h) => [`${k}/${h.role}`, ruleLines(join(h.dir, 'haproxy.cfg'))]))),
      totalS: (Date.now() - started) / 1000,
    }
    if (jsonOut) writeFileSync(jsonOut, JSON.stringify(R, null, 2))
    const { table, section } = report(R)
    process.stdout.write(`${table}\n`)
    if (!flags.has('--no-write')) {
      writeResults(join(root, 'bench/RESULTS.md'), section)
      log('wrote the Dataplane section of bench/RESULTS.md')
    }
  } finally {
    await cleanup(consul.proc)
  }
}

main().catch((err) => {
  console.error(`bench/dataplane: ${err.message}`)
  process.exitCode = 1
})
