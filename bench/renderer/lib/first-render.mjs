// Phase 1 (and 4a): from process start to the first complete render on disk,
// one tool at a time, alternating which goes first. A discarded warm-up pair
// comes first and doubles as the equivalence check: both outputs must be
// byte-identical, and that content is what later runs must produce.
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { memoryMb, stop } from './procs.mjs'

const FILE_TIMEOUT_MS = 20_000
const EXIT_TIMEOUT_MS = 20_000

/**
 * One start: resolves to { file, exit, hwm } (ms after spawn; exit only for once
 * mode; hwm = VmHWM in MB, read every 2 ms until exit or, in run mode, at the first render).
 */
export async function startOnce(tool, mode, tplKey, out, watcher, pred) {
  rmSync(out, { force: true })
  const t0 = performance.now()
  const proc = tool[mode](tool.tpl[tplKey], out)
  let hwm = 0
  const sample = () => (hwm = Math.max(hwm, memoryMb(proc.pid)?.hwm ?? 0))
  const sampler = setInterval(sample, 2)
  const tFile = await watcher.waitFor(out, pred, FILE_TIMEOUT_MS)
  let exit
  if (mode === 'once') {
    const done = await Promise.race([proc.exited, new Promise((r) => setTimeout(r, EXIT_TIMEOUT_MS))])
    clearInterval(sampler)
    exit = performance.now() - t0
    if (!done || done.code !== 0) {
      await stop(proc)
      throw new Error(`${tool.key} once (${tplKey}) did not exit 0 in time: ${proc.tail().slice(-400)}`)
    }
  } else {
    sample()
    clearInterval(sampler)
    await stop(proc)
  }
  if (tFile === undefined) throw new Error(`${tool.key} ${mode} (${tplKey}) wrote no expected render in ${FILE_TIMEOUT_MS} ms: ${proc.tail().slice(-400)}`)
  return { file: tFile - t0, exit, hwm }
}

/**
 * Alternating starts of both tools; returns { expected, byTool: {key: {file: [], exit: [], hwm: []}} }.
 * `between`, if given, runs after each pair (baselines that should see the same machine noise).
 */
export async function firstRender({ tools, mode, tplKey, pairs, dir, watcher, log, between }) {
  const outOf = (tool, i) => join(dir, `first-${mode}-${tplKey}-${tool.key}-${i}.out`)
  // Warm-up pair: page cache, agent caches; and the equivalence check.
  for (const tool of tools) await startOnce(tool, mode, tplKey, outOf(tool, 'warm'), watcher, (c) => c.length > 0)
  const [a, b] = tools.map((t) => readFileSync(outOf(t, 'warm'), 'utf8'))
  if (a !== b) throw new Error(`${tplKey}: the two tools rendered different content (${a.length} vs ${b.length} bytes); fix the templates`)
  const byTool = Object.fromEntries(tools.map((t) => [t.key, { file: [], exit: [], hwm: [] }]))
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? tools : [...tools].reverse()
    for (const tool of order) {
      const r = await startOnce(tool, mode, tplKey, outOf(tool, i), watcher, (c) => c === a)
      byTool[tool.key].file.push(r.file)
      byTool[tool.key].hwm.push(r.hwm)
      if (r.exit !== undefined) byTool[tool.key].exit.push(r.exit)
    }
    await between?.()
    log(`  ${mode}/${tplKey} pair ${i + 1}/${pairs}: ${tools.map((t) => `${t.key} ${byTool[t.key].file.at(-1).toFixed(0)} ms`).join(', ')}`)
  }
  return { expected: a, byTool }
}

/**
 * Wall times and peak RSS of `node <args>` (e.g. `-e 0`: the floor under any
 * Node.js tool's start); throws if it fails. Resolves to { times, hwm } (ms, MB).
 */
export async function timeNode(runs, args, startProc, options = {}) {
  const times = []
  const hwm = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    const proc = startProc(process.execPath, args, options)
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, memoryMb(proc.pid)?.hwm ?? 0)), 2)
    const { code } = await proc.exited
    clearInterval(sampler)
    if (code !== 0) throw new Error(`node ${args.join(' ')} failed: ${proc.tail().slice(-300)}`)
    times.push(performance.now() - t0)
    hwm.push(peak)
  }
  return { times, hwm }
}
