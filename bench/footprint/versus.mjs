#!/usr/bin/env node
// One sidecar release against another, side by side in one run: builds <rev>
// (git archive + tsc into .cache/bench-<rev>), then alternates web's sidecar
// from this checkout and from <rev> against one Consul agent, `pairs` times.
// Each turn: idle memory, then 1,000 api instances (CPU to render them, peak
// RSS), then 20 of them moved 300 ms apart (CPU, memory after). Prints a table
// of medians with the ratio this/<rev> and writes it to bench/RESULTS.md.
// Usage: node bench/footprint/versus.mjs <rev> [--pairs N] [--no-write]
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killAllNow, stop } from '../dataplane/lib/procs.mjs'
import { requirePeers } from '../dataplane/lib/preflight.mjs'
import { buildDist, sleep, until, writeSection } from '../lib/shared.mjs'
import { moveOne, peakMb, registerMany, SETTLE_MS, sidecarMemory, startMesh, startSidecar } from './sidecar.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const argv = process.argv.slice(2)
const pairsAt = argv.indexOf('--pairs')
const rev = argv.find((a, i) => !a.startsWith('--') && (pairsAt < 0 || i !== pairsAt + 1))
const pairs = Math.min(9, (pairsAt >= 0 && Number(argv[pairsAt + 1])) || 3)
if (!rev) {
  console.error('usage: node bench/footprint/versus.mjs <rev> [--pairs N] [--no-write]')
  process.exit(2)
}
const log = (m) => console.error(`[bench/footprint/versus] ${m}`)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' })

/** `rev`'s src, templates and lua, built into a folder below the checkout (so node_modules resolves). */
function buildRev() {
  const sha = git('rev-parse', '--short', rev).stdout.trim()
  if (!sha) throw new Error(`git does not know ${rev}`)
  const dir = join(root, '.cache', `bench-${sha}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const archive = spawnSync('sh', ['-c', `git archive ${sha} src templates lua tsconfig.json package.json | tar -x -C "${dir}"`], { cwd: root })
  if (archive.status !== 0) throw new Error(`git archive ${sha} failed`)
  const tsc = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' })
  if (tsc.status !== 0) throw new Error(`building ${rev} (${sha}) failed: ${`${tsc.stdout}${tsc.stderr}`.split('\n')[0]}`)
  return { sha, dir }
}

/** CPU seconds (utime + stime) of a live process. */
function cpuS(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** One turn of one build; `turn` keeps ports and catalog entries apart between turns. */
async function measure(buildRoot, bins, work, consul, name, turn) {
  const sc = await startSidecar(buildRoot, bins, work, consul, name)
  try {
    await sleep(15_000)
    const idle = sidecarMemory(sc)
    const cfg = join(work, name, 'haproxy.cfg')
    const c0 = cpuS(sc.pid)
    await registerMany(consul, 1000)
    await until(() => (readFileSync(cfg, 'utf8').match(/ 127\.0\.0\.1:3\d{4} /g) ?? []).length >= 1000, 120_000, '1,000 instances rendered', 200)
    const c1 = cpuS(sc.pid)
    const base = 40_000 + turn * 100
    for (let i = 0; i < 20; i++) {
      await moveOne(consul, i, base + i)
      await sleep(300)
    }
    await until(() => readFileSync(cfg, 'utf8').includes(`:${base + 19} `), 30_000, 'the 20th change rendered', 100)
    const c2 = cpuS(sc.pid)
    await sleep(SETTLE_MS)
    return { idleRss: idle.meshplate.rss, idlePss: idle.meshplate.pss, wholeRss: idle.whole.rss, renderCpu: c1 - c0, movesCpu: c2 - c1, peak: peakMb(sc.pid), after: sidecarMemory(sc).meshplate.rss }
  } finally {
    await stop(sc)
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: Math.min(50, 1000 - i) }, (_, k) => consul.json('PUT', '/v1/catalog/deregister', { Node: `big-${i + k}` })))
  }
}

const ROWS = [
  ['idleRss', 'meshplate RSS, idle (MB)'],
  ['idlePss', 'meshplate PSS, idle (MB)'],
  ['wholeRss', 'whole sidecar RSS, idle (MB)'],
  ['renderCpu', 'CPU to render 1,000 new instances (s)'],
  ['movesCpu', 'CPU for 20 changes of 1,000 instances (s)'],
  ['peak', 'peak RSS (VmHWM) with 1,000 instances (MB)'],
  ['after', 'RSS after the 20 changes and a quiet spell (MB)'],
]

buildDist(root, 'bench/footprint/versus')
const old = buildRev()
const bins = requirePeers(root)
const work = mkdtempSync('/tmp/mpvs-')
process.on('exit', killAllNow)
const consul = await startMesh(bins, work)
const runs = { head: [], old: [] }
const head = git('rev-parse', '--short', 'HEAD').stdout.trim()
try {
  for (let p = 0; p < pairs; p++) {
    // Alternate which build goes first, so a drift in the machine's load hits both.
    const order = p % 2 === 0 ? ['head', 'old'] : ['old', 'head']
    for (const who of order) {
      log(`pair ${p + 1}/${pairs}: ${who === 'head' ? `this checkout (${head})` : `${rev} (${old.sha})`}`)
      runs[who].push(await measure(who === 'head' ? root : old.dir, bins, work, consul, `${who}-${p}`, p * 2 + (who === 'head' ? 0 : 1)))
    }
  }
} finally {
  await stop(consul.proc)
  rmSync(work, { recursive: true, force: true })
  rmSync(old.dir, { recursive: true, force: true })
}

const f = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2))
const lines = [
  `## Release comparison (bench/footprint/versus.mjs)`,
  '',
  `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`node bench/footprint/versus.mjs ${rev}\`: web's sidecar from this checkout (${head}) and from ${rev} (${old.sha}), ${pairs} alternating pairs against one Consul agent, medians. Each turn: 15 s idle, 1,000 api instances registered, 20 of them moved 300 ms apart, ${SETTLE_MS / 1000} s quiet. CPU is meshplate's utime + stime.`,
  '',
  `| Measure | ${head} | ${rev} | ratio | all runs (${head} / ${rev}) |`,
  '| --- | --- | --- | --- | --- |',
  ...ROWS.map(([key, label]) => {
    const a = runs.head.map((r) => r[key])
    const b = runs.old.map((r) => r[key])
    return `| ${label} | ${f(median(a))} | ${f(median(b))} | ${(median(a) / median(b)).toFixed(2)}× | ${a.map(f).join(', ')} / ${b.map(f).join(', ')} |`
  }),
]
const section = lines.join('\n')
process.stdout.write(`${section}\n`)
if (!argv.includes('--no-write')) {
  writeSection(join(root, 'bench/RESULTS.md'), 'Release comparison', section)
  log('wrote the Release comparison section of bench/RESULTS.md')
}
