#!/usr/bin/env node
// What L7 authorization costs per request. Four rendered HTTP pairs on one real Consul
// (web-<key> -> api-<key>, each sidecar a real `meshplate sidecar` and HAProxy), the same
// app behind them: `l4` allowed by an L4 intention (the decision is kept for the connection),
// and `l7x10`, `l7x100`, `l7x10re` allowed by the last of 10 or 100 L7 permissions (every
// earlier one a PathPrefix, or in `l7x10re` a PathRegex, that does not match, so every
// request walks them all). Keep-alive wrk load through each pair in rotated order, a few
// rounds; the figure is the CPU time of api's HAProxy worker per request (the hop that
// authorizes), read from /proc, median of the rounds, and its ratio to `l4`. Prints a table
// and rewrites the "L7 authorization (bench/l7)" section of bench/RESULTS.md. Bounded:
// `--seconds` per run (default 5), `--rounds` (default 3).
// Usage: node bench/l7/run.mjs [--seconds 5] [--rounds 3] [--no-write] [--haproxy PATH]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startConsul, freePorts } from '../dataplane/lib/consul.mjs'
import { appConfig, BODY_BYTES, startHaproxy } from '../dataplane/lib/haproxy.mjs'
import { wrk } from '../dataplane/lib/load.mjs'
import { waitQuiet } from '../dataplane/lib/measure.mjs'
import { probe, startRenderedPairs } from '../dataplane/lib/mesh.mjs'
import { build, machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { cpuSeconds, haproxyTree, killAllNow, stop, stopAll } from '../dataplane/lib/procs.mjs'
import { until, writeSection } from '../lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const SECONDS = Math.min(Number(opt('seconds', '5')), 30)
const ROUNDS = Math.min(Number(opt('rounds', '3')), 10)
const log = (msg) => process.stderr.write(`[bench/l7] ${msg}\n`)

/** key -> the permissions of web-<key> on api-<key> (none: an L4 allow). */
const PAIRS = {
  l4: null,
  l7x10: misses(9, 'PathPrefix'),
  l7x100: misses(99, 'PathPrefix'),
  l7x10re: misses(9, 'PathRegex'),
}

/** n permissions that never match a benchmark request, then one that allows it. */
function misses(n, kind) {
  const miss = Array.from({ length: n }, (_, i) => ({ Action: 'deny', HTTP: { [kind]: kind === 'PathRegex' ? `/deny-${i}/[a-z]+/.*` : `/deny-${i}/` } }))
  return [...miss, { Action: 'allow', HTTP: { PathPrefix: '/' } }]
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  const bins = requirePeers(root)
  if (opt('haproxy')) bins.haproxy = opt('haproxy')
  build(root)
  const M = machine(root, bins)
  const work = mkdtempSync('/tmp/mpl7-')
  process.on('exit', killAllNow)
  const consul = await startConsul(bins.consul, work)
  try {
    const [appPort] = await freePorts(1)
    const app = startHaproxy(bins.haproxy, appConfig(work, appPort), join(work, 'app.log'))
    const specs = Object.keys(PAIRS).map((key) => ({ key, protocol: 'http', variant: 'shipped' }))
    for (const key of Object.keys(PAIRS)) await consul.json('PUT', '/v1/config', { Kind: 'service-defaults', Name: `api-${key}`, Protocol: 'http' })
    const pairs = Object.fromEntries((await startRenderedPairs({ consul, bins, root, work, appPort, specs })).map((p) => [p.key, p]))
    for (const [key, perms] of Object.entries(PAIRS)) {
      if (!perms) continue
      await consul.json('PUT', '/v1/config', { Kind: 'service-intentions', Name: `api-${key}`, Sources: [{ Name: `web-${key}`, Permissions: perms }] })
      const map = join(pairs[key].hops[1].dir, 'intentions.map')
      await until(() => new RegExp(`^web-${key} l7 ${perms.length}$`, 'm').test(readFileSync(map, 'utf8')), 15_000, `api-${key}'s L7 rules`)
    }
    for (const p of Object.values(pairs)) await probe(p, BODY_BYTES)
    const rows = []
    for (const p of Object.values(pairs)) await wrk(bins.wrk, work, { url: p.url, connections: 16, seconds: 1 })
    for (let round = 0; round < ROUNDS; round++) {
      const keys = Object.keys(PAIRS)
      for (const key of keys.map((_, i) => keys[(i + round) % keys.length])) {
        await waitQuiet(0.15, 5_000)
        const worker = haproxyTree(pairs[key].hops[1].proc.pid).workers
        const cpu0 = worker.reduce((a, w) => a + cpuSeconds(w), 0)
        const r = await wrk(bins.wrk, work, { url: pairs[key].url, connections: 16, seconds: SECONDS })
        const cpu1 = worker.reduce((a, w) => a + cpuSeconds(w), 0)
        const requests = r.rps * SECONDS
        rows.push({ key, round, rps: r.rps, usPerReq: ((cpu1 - cpu0) / requests) * 1e6, errors: r.errors ?? 0 })
        log(`round ${round + 1}/${ROUNDS} ${key.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s  api worker ${(((cpu1 - cpu0) / requests) * 1e6).toFixed(1)} us/request`)
      }
    }
    const decided = pairs.l7x100.hops[1].proc.log().match(/rule=web-l7x100#100 reason=permission-allow/g)?.length ?? 0
    if (decided === 0) throw new Error('no l7x100 request was logged as decided by its 100th permission: the rules did not apply')
    report(M, rows, decided)
    await stop(app)
  } finally {
    await stopAll(consul.proc).catch(() => {})
    await stop(consul.proc)
    rmSync(work, { recursive: true, force: true })
  }
}

function report(M, rows, decided) {
  const by = (key, f) => median(rows.filter((r) => r.key === key).map(f))
  const base = by('l4', (r) => r.usPerReq)
  const about = { l4: 'L4 allow (kept for the connection)', l7x10: '10 permissions, the 10th allows (9 prefix misses)', l7x100: '100 permissions, the 100th allows', l7x10re: '10 permissions, 9 regex misses' }
  const lines = [
    '## L7 authorization (bench/l7)',
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`node bench/l7/run.mjs --seconds ${SECONDS} --rounds ${ROUNDS}\`, commit ${M.commit}, ${M.nproc} CPUs, ${M.haproxy}. wrk, 16 keep-alive connections, ${SECONDS} s a run, rotated order, medians of ${ROUNDS} rounds. CPU is api's HAProxy worker (the authorizing hop) per request. ${decided} l7x100 requests were logged as allowed by permission 100.`,
    '',
    '| pair | what decides | req/s | api worker CPU per request | vs L4 |',
    '|---|---|---|---|---|',
    ...Object.keys(PAIRS).map((k) => `| ${k} | ${about[k]} | ${by(k, (r) => r.rps).toFixed(0)} | ${by(k, (r) => r.usPerReq).toFixed(1)} µs | ${(by(k, (r) => r.usPerReq) / base).toFixed(2)}× |`),
    '',
    `Goal: ≤ 1.05× with 10 permissions. Errors: ${rows.reduce((a, r) => a + r.errors, 0)}.`,
  ]
  const text = lines.join('\n')
  process.stdout.write(`${text}\n`)
  if (!process.argv.includes('--no-write')) writeSection(join(root, 'bench/RESULTS.md'), 'L7 authorization', text)
}

main().catch((err) => {
  console.error(`bench/l7: ${err.message}`)
  process.exitCode = 1
})
