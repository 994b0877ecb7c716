#!/usr/bin/env node
// Phase 4b, run as its own process so the timings see a fresh heap: fetch the
// real health answer for a service from the agent once, put it in a Brain the
// way a View would, and time meshplate's own stages on it with no network:
// JSON.parse, validation (parseHealthEntries), the View's dedupe (digest and deep-equal),
// template compile, and N renders. Prints one JSON object.
// Also times meshplate's atomicWrite of a ~1 KB file into <work-dir>, against a
// bare write+fsync+rename (the sequence consul-template's renderer.go does).
// Usage: node render-inproc.mjs <consul-addr> <template.njk> <service> <renders> <work-dir>
import { hash } from 'node:crypto'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'

const [addr, file, service, runsArg, workDir] = process.argv.slice(2)
const runs = Number(runsArg ?? 100)
const dist = join(dirname(fileURLToPath(import.meta.url)), '../../dist')
const load = (p) => import(pathToFileURL(join(dist, p)).href)
const { Brain } = await load('template/brain.js')
const { Template } = await load('template/template.js')
const { createEnvironment } = await load('template/environment.js')
const { parseHealthEntries } = await load('dependency/health-entry.js')
const { HealthServiceDependency } = await load('dependency/health-service.js')
const { atomicWrite } = await load('render/atomic-write.js')

/** Median ms of `n` calls of `fn`. */
function timeMedian(n, fn) {
  const t = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    fn()
    t.push(performance.now() - t0)
  }
  t.sort((a, b) => a - b)
  return { median: t[t.length >> 1], all: t }
}

const res = await fetch(`http://${addr}/v1/health/service/${encodeURIComponent(service)}?passing`)
const text = await res.text()
if (res.status !== 200) throw new Error(`GET health/service/${service}: ${res.status}`)
const body = JSON.parse(text)
const entries = parseHealthEntries(body)
const again = parseHealthEntries(JSON.parse(text))

const scope = { tracker: undefined, proxyId: undefined, env: process.env }
const env = createEnvironment(scope, [dirname(file)], {})
const brain = new Brain()
brain.set(new HealthServiceDependency(service).id, entries)
const template = new Template(file, env, scope)
const compile = timeMedian(1, () => template.load())
let output
const cold = timeMedian(1, () => (output = template.render(brain).output))
if (output === undefined) throw new Error('render reported missing data: the brain id does not match the template')
const renders = timeMedian(runs, () => template.render(brain))

/**
 * Median and p90 ms of `n` writes by each writer, interleaved (A, B, A, B...) so
 * that machine noise hits both alike. The content is file-sized like the small
 * benchmark template (~1 KB) and changes every time, so nothing is skipped.
 */
async function timeWritesInterleaved(writers, n = 60) {
  const t = writers.map(() => [])
  for (let i = 0; i < n; i++) {
    for (const [w, write] of writers.entries()) {
      const t0 = performance.now()
      await write(`${output.slice(0, 1000)}# ${i}\n`, i)
      t[w].push(performance.now() - t0)
    }
  }
  return t.map((list) => {
    list.sort((a, b) => a - b)
    return { median: list[n >> 1], p90: list[Math.ceil(0.9 * n) - 1] }
  })
}
const [meshplateWrite, bareWrite] = await timeWritesInterleaved([
  (content) => atomicWrite(content, { destination: join(workDir, 'inproc-atomic.out'), backup: false, checkTimeoutMs: 10_000 }),
  (content, i) => {
    const temp = join(workDir, `.inproc-bare.${i}.tmp`)
    const fd = openSync(temp, 'w', 0o600)
    writeSync(fd, content)
    fsyncSync(fd)
    closeSync(fd)
    renameSync(temp, join(workDir, 'inproc-bare.out'))
  },
])

console.log(JSON.stringify({
  instances: entries.length,
  responseBytes: text.length,
  outputBytes: Buffer.byteLength(output),
  jsonParseMs: timeMedian(20, () => JSON.parse(text)).median,
  validateMs: timeMedian(20, () => parseHealthEntries(body)).median,
  deepEqualMs: timeMedian(20, () => isDeepStrictEqual(entries, again)).median,
  digestMs: timeMedian(20, () => hash('sha1', text, 'base64')).median,
  compileMs: compile.median,
  coldRenderMs: cold.median,
  renderMedianMs: renders.median,
  renderP90Ms: renders.all[Math.ceil(0.9 * runs) - 1],
  renderMinMs: renders.all[0],
  runs,
  atomicWriteMs: meshplateWrite,
  bareWriteMs: bareWrite,
}))
