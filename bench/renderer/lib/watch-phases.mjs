// Phases 2, 3 and 4c: both tools in run mode at the same time, watching the
// same data on the same agent. Changes are made one at a time and each tool's
// file is watched for the new content; churn runs on a fixed 100 ms schedule
// while CPU time and memory are read from /proc.
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { cpuSeconds, memoryMb, stop } from './procs.mjs'
import { sleep } from './stats.mjs'

const CHANGE_TIMEOUT_MS = 5_000

/** Starts both tools in run mode on one template and waits until both rendered `initialPred`. */
export async function startPair({ tools, tplKey, dir, watcher, tag, initialPred }) {
  const members = tools.map((tool) => {
    const out = join(dir, `${tag}-${tool.key}.out`)
    return { tool, out, proc: tool.run(tool.tpl[tplKey], out) }
  })
  const pair = { members, stop: () => Promise.all(members.map((m) => stop(m.proc))) }
  const ready = await Promise.all(members.map((m) => watcher.waitFor(m.out, initialPred, 30_000)))
  const late = members.filter((m, i) => ready[i] === undefined)
  if (late.length > 0) {
    await pair.stop()
    throw new Error(`no first render in run mode from ${late.map((m) => `${m.tool.key}: ${m.proc.tail().slice(-300)}`).join('; ')}`)
  }
  return pair
}

/** Makes each change in turn (200-300 ms apart); per change, ms to each tool's file (undefined on timeout). */
export async function changeLatency({ pair, watcher, changes, log, label }) {
  const samples = []
  for (const [k, change] of changes.entries()) {
    await sleep(200 + Math.random() * 100)
    const waits = pair.members.map((m) => watcher.waitFor(m.out, change.pred, CHANGE_TIMEOUT_MS))
    const t0 = performance.now()
    await change.apply()
    const ends = await Promise.all(waits)
    samples.push({ kind: change.kind, byTool: Object.fromEntries(pair.members.map((m, i) => [m.tool.key, ends[i] === undefined ? undefined : ends[i] - t0])) })
    if ((k + 1) % 10 === 0) log(`  ${label}: ${k + 1}/${changes.length} changes`)
  }
  return samples
}

/** Latency lists per tool from samples (of one kind, or all), and the count of timeouts. */
export function latencies(samples, kind) {
  const lat = {}
  let timeouts = 0
  for (const s of samples) {
    if (kind && s.kind !== kind) continue
    for (const [key, ms] of Object.entries(s.byTool)) {
      lat[key] ??= []
      if (ms === undefined) timeouts++
      else lat[key].push(ms)
    }
  }
  return { lat, timeouts }
}

/** One change every `periodMs` for `durationMs` (bounded by `maxChanges`); CPU and peak RSS per tool. */
export async function churn({ pair, watcher, makeChange, durationMs, periodMs, maxChanges, log }) {
  await sleep(1000)
  const pids = pair.members.map((m) => m.proc.pid)
  const cpu0 = pids.map(cpuSeconds)
  const renames0 = pair.members.map((m) => watcher.renameCount(m.out))
  const maxRss = pids.map(() => 0)
  const sampler = setInterval(() => pids.forEach((p, i) => (maxRss[i] = Math.max(maxRss[i], memoryMb(p)?.rss ?? 0))), 500)
  const t0 = performance.now()
  let made = 0
  let last
  try {
    for (; made < maxChanges && performance.now() - t0 < durationMs; made++) {
      const due = t0 + made * periodMs
      const now = performance.now()
      if (due > now) await sleep(due - now)
      last = makeChange(made)
      await last.apply()
      if (made > 0 && made % 100 === 0) log(`  churn: ${made} changes, ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    }
    const ends = await Promise.all(pair.members.map((m) => watcher.waitFor(m.out, last.pred, CHANGE_TIMEOUT_MS)))
    const windowS = (performance.now() - t0) / 1000
    return pair.members.map((m, i) => ({
      key: m.tool.key,
      cpu: cpuSeconds(pids[i]) - cpu0[i],
      windowS,
      changes: made,
      caughtUp: ends[i] !== undefined,
      renders: watcher.renameCount(m.out) - renames0[i],
      maxRss: maxRss[i],
      hwm: memoryMb(pids[i])?.hwm,
    }))
  } finally {
    clearInterval(sampler)
  }
}
