#!/usr/bin/env node
// The renderer benchmark: meshplate against consul-template v0.32.0 on
// equivalent templates and the same real Consul agent. Measures first render,
// change-to-file latency, CPU and memory under churn, and 1,000-instance
// rendering; prints a Markdown table and rewrites the "Renderer" section of
// bench/RESULTS.md. Every process it starts is stopped at the end, on failure
// and on Ctrl-C. Plain Node.js, no dependencies beyond the repository's build.
// It first waits (up to 5 min) for the 1-minute load average to drop to nproc.
// Usage: node bench/renderer/run.mjs [--quick] [--no-build] [--no-write]
// (--quick: fewer runs, 10 s churn, no wait, RESULTS.md untouched)
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { startConsul } from './lib/consul.mjs'
import { firstRender, startOnce, timeNode } from './lib/first-render.mjs'
import { OutputWatcher } from './lib/outputs.mjs'
import { build, machine, requirePeers } from './lib/preflight.mjs'
import { cpuSeconds, killAllNow, memoryMb, start, stopAll } from './lib/procs.mjs'
import { section, table, writeResults } from './lib/report.mjs'
import { sleep } from './lib/stats.mjs'
import { makeTools } from './lib/tools.mjs'
import { changeLatency, churn, latencies, startPair } from './lib/watch-phases.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const flags = new Set(process.argv.slice(2))
const quick = flags.has('--quick')
const P = {
  pairs: quick ? 3 : 7,
  changes: quick ? 6 : 20,
  churnMs: quick ? 10_000 : 60_000,
  bigInstances: 1000,
  renders: 100,
}
const log = (msg) => process.stderr.write(`[bench/renderer] ${msg}\n`)

const bins = requirePeers(root)
if (!flags.has('--no-build')) build(root)
const work = mkdtempSync(join(tmpdir(), 'meshplate-bench-renderer-'))
let cleaning
const cleanup = () =>
  (cleaning ??= stopAll().finally(() => rmSync(work, { recursive: true, force: true })))
process.on('exit', killAllNow)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping everything`)
    cleanup().finally(() => process.exit(130))
  })
}

/** Waits (at most 5 min) for the 1-minute load average to drop to the CPU count, so timings are less noisy. */
async function waitForCalm() {
  const limit = availableParallelism()
  const deadline = Date.now() + (quick ? 0 : 300_000)
  while (loadavg()[0] > limit && Date.now() < deadline) {
    log(`load average ${loadavg()[0].toFixed(1)} > ${limit}: waiting for a calmer machine (up to 5 min)`)
    await sleep(15_000)
  }
}

/** Seeds the small data set: 10 `api` instances (some with their own address) and one KV value. */
async function seed(consul) {
  await consul.putKv('bench/version', 'v0')
  const specs = Array.from({ length: 10 }, (_, i) => ({
    node: `bench-api-${i}`, nodeAddress: `10.0.0.${i + 1}`, id: `api-${i}`, service: 'api', port: 8000 + i,
    address: i % 3 === 0 ? `10.0.1.${i + 1}` : undefined,
  }))
  await consul.registerMany(specs)
}

/** The 20+20 changes of phase 2: KV values and new `api` instances, interleaved. */
function serviceChanges(consul, n) {
  const kv = (k) => ({ kind: 'kv', apply: () => consul.putKv('bench/version', `lat-${k}`), pred: (c) => c.includes(`version = lat-${k}\n`) })
  const reg = (k) => ({
    kind: 'reg',
    apply: () => consul.register({ node: `bench-new-${k}`, nodeAddress: `10.3.0.${(k % 250) + 1}`, id: `api-new-${k}`, service: 'api', port: 9000 + k }),
    pred: (c) => c.includes(`/api-new-${k} 10.3.0.${(k % 250) + 1}:${9000 + k}\n`),
  })
  return Array.from({ length: 2 * n }, (_, k) => (k % 2 === 0 ? kv(k) : reg(k)))
}

/** Churn change i: a KV PUT or a re-registration of `api-churn` with a new port. */
function churnChange(consul) {
  return (i) => {
    if (i % 2 === 0) return { apply: () => consul.putKv('bench/version', `churn-${i}`), pred: (c) => c.includes(`version = churn-${i}\n`) }
    const port = 20000 + (i % 40000)
    return {
      apply: () => consul.register({ node: 'bench-churn', nodeAddress: '10.4.0.1', id: 'api-churn', service: 'api', port }),
      pred: (c) => c.includes(`/api-churn 10.4.0.1:${port}\n`),
    }
  }
}

/** Peak RSS of `meshplate once` when V8 compiles WebAssembly (undici's llhttp) with Liftoff only. */
async function liftoffDiagnostic(meshplate, watcher, expected) {
  const variant = { ...meshplate, key: 'meshplate-liftoff', once: (tpl, out) => meshplate.onceWithNodeFlags(['--liftoff-only'], tpl, out) }
  const hwm = []
  for (let i = 0; i < 3; i++) hwm.push((await startOnce(variant, 'once', 'services', join(work, `liftoff-${i}.out`), watcher, (c) => c === expected)).hwm)
  return hwm
}

async function phaseBig(consul, tools, watcher, R) {
  const t0 = performance.now()
  const specs = Array.from({ length: P.bigInstances }, (_, i) => ({
    node: `bench-big-${String(i).padStart(4, '0')}`, nodeAddress: `10.2.${i >> 8}.${i & 255}`, id: `big-${String(i).padStart(4, '0')}`,
    service: 'big', port: 30000 + i, address: i % 2 === 0 ? `10.5.${i >> 8}.${i & 255}` : undefined, weight: 1 + (i % 5),
  }))
  await consul.registerMany(specs)
  await consul.waitForInstances('big', P.bigInstances)
  R.big = { instances: P.bigInstances, registerS: (performance.now() - t0) / 1000 }
  log(`registered ${P.bigInstances} instances of big in ${R.big.registerS.toFixed(1)} s`)
  R.big.once = await firstRender({ tools, mode: 'once', tplKey: 'big', pairs: P.pairs, dir: work, watcher, log })
  log('in-process render of the 1,000-instance answer')
  const proc = start(process.execPath, [join(root, 'bench/renderer/render-inproc.mjs'), consul.addr, tools[0].tpl.big, 'big', String(P.renders), work])
  const exit = await proc.exited
  if (exit.code !== 0) throw new Error(`render-inproc failed: ${proc.tail()}`)
  R.big.inproc = JSON.parse(proc.tail().trim().split('\n').at(-1))
  const pair = await startPair({ tools, tplKey: 'big', dir: work, watcher, tag: 'big-run', initialPred: (c) => c === R.big.once.expected })
  try {
    const before = pair.members.map((m) => cpuSeconds(m.proc.pid))
    const hwmStart = pair.members.map((m) => memoryMb(m.proc.pid)?.hwm)
    const changes = Array.from({ length: P.changes }, (_, k) => {
      const port = 40000 + k
      return {
        apply: () => consul.register({ ...specs[500], port }),
        pred: (c) => c.includes(`server big-0500 ${specs[500].address}:${port} `),
      }
    })
    R.big.latency = latencies(await changeLatency({ pair, watcher, changes, log, label: '1,000 instances' }))
    R.big.watch = pair.members.map((m, i) => ({ key: m.tool.key, cpu: cpuSeconds(m.proc.pid) - before[i], hwmStart: hwmStart[i], hwm: memoryMb(m.proc.pid)?.hwm }))
  } finally {
    await pair.stop()
  }
}

async function main() {
  await waitForCalm()
  const started = performance.now()
  const R = { date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), machine: machine(root, bins) }
  log(`starting consul (${R.machine.consul}); work dir ${work}`)
  const consul = await startConsul(bins.consul, work)
  const tools = makeTools({ root, consulTemplateBin: bins.consulTemplate, addr: consul.addr })
  const watcher = new OutputWatcher(work)
  try {
    await seed(consul)
    log('phase 1: first render (run and once modes), alternating')
    R.baselineNode = { times: [], hwm: [] }
    R.baselineImports = { times: [], hwm: [] }
    const baselines = async () => {
      const add = (into, r) => (into.times.push(...r.times), into.hwm.push(...r.hwm))
      add(R.baselineNode, await timeNode(1, ['-e', '0'], start))
      // What `meshplate run` loads before doing anything: the CLI (yargs) and the run command's modules.
      add(R.baselineImports, await timeNode(1, ['-e', "Promise.all([import('yargs'), import('./dist/commands/run.js')])"], start, { cwd: root }))
    }
    R.firstRun = await firstRender({ tools, mode: 'run', tplKey: 'services', pairs: P.pairs, dir: work, watcher, log, between: baselines })
    R.firstOnce = await firstRender({ tools, mode: 'once', tplKey: 'services', pairs: P.pairs, dir: work, watcher, log })
    R.liftoff = await liftoffDiagnostic(tools[0], watcher, R.firstOnce.expected)

    log('phase 2: change -> file, both tools running')
    let pair = await startPair({ tools, tplKey: 'services', dir: work, watcher, tag: 'latency', initialPred: (c) => c === R.firstRun.expected })
    try {
      const changes = serviceChanges(consul, P.changes)
      const samples = await changeLatency({ pair, watcher, changes, log, label: 'changes' })
      R.latency = { kv: latencies(samples, 'kv'), reg: latencies(samples, 'reg') }
    } finally {
      await pair.stop()
    }

    log(`phase 3: ${P.churnMs / 1000} s of churn, both tools running`)
    pair = await startPair({ tools, tplKey: 'services', dir: work, watcher, tag: 'churn', initialPred: (c) => c.includes('version = ') })
    try {
      R.churn = await churn({ pair, watcher, makeChange: churnChange(consul), durationMs: P.churnMs, periodMs: 100, maxChanges: P.churnMs / 100, log })
    } finally {
      await pair.stop()
    }

    log(`phase 4: ${P.bigInstances} instances`)
    await phaseBig(consul, tools, watcher, R)
  } finally {
    watcher.close()
    R.machine.loadEnd = loadavg().map((l) => l.toFixed(2)).join(' ')
    await cleanup()
  }
  R.totalS = (performance.now() - started) / 1000
  process.stdout.write(`${table(R)}\n`)
  if (quick || flags.has('--no-write')) {
    log('--quick/--no-write: bench/RESULTS.md left as it was')
  } else {
    writeResults(join(root, 'bench/RESULTS.md'), section(R))
    log('wrote the Renderer section of bench/RESULTS.md')
  }
}

main().catch((err) => {
  log(`failed: ${err?.stack ?? err}`)
  process.exitCode = 1
  return cleanup()
})
