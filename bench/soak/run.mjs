#!/usr/bin/env node
// A sidecar is judged by its worst minute. Four real sidecars (api, a second api instance,
// web, and another source, "other") run under keep-alive load on web -> api for `--duration`
// (default 15m) while the second api instance leaves or joins every 10 s, other's intention
// to api flips every minute, and the CA is rotated once at 40% of the run (which renews
// every leaf, 0-30 s later). Per minute it counts requests, failures by kind, HAProxy reloads
// and runtime pushes, and the RSS/PSS of every process (each meshplate, each HAProxy master
// and worker) and how many HAProxy processes there are. It prints a table and appends the run
// to bench/RESULTS.md. If any request failed it keeps the folder: every sidecar's log (HAProxy
// logs failed outbound requests and every inbound one), the changes with their times
// (changes.log), and failures.log (each failed request's time and kind). The load runs in a
// worker thread (load.mjs), so the minute's bookkeeping here never delays a request.
// `--app python` serves api with `python3 -m http.server` instead of a Node server (the apps
// an earlier soak used; its listen backlog is 5).
// The sidecars watch this checkout's templates/ and re-render on every edit: soak a checkout (or
// `git worktree`) nobody edits meanwhile.
// Usage: node bench/soak/run.mjs [--duration 15m] [--haproxy PATH] [--loops 4] [--app node|python]
import { generateKeyPairSync } from 'node:crypto'
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { startConsul } from '../dataplane/lib/consul.mjs'
import { sidecarRegistration } from '../lib/consul.mjs'
import { machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { childrenOf, commOf, killAllNow, rssMb, start, stopAll } from '../dataplane/lib/procs.mjs'
import { buildDist, freePorts, NODE_FLAGS } from '../lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const toMs = (text) => {
  const m = /^(\d+(?:\.\d+)?)(s|m)$/.exec(text)
  if (!m) throw new Error(`--duration "${text}": expected e.g. 15m or 300s`)
  return Number(m[1]) * (m[2] === 'm' ? 60_000 : 1_000)
}
const DURATION_MS = toMs(opt('duration', '15m'))
const LOOPS = Number(opt('loops', '4'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** PSS of a live process in MB (smaps_rollup), or NaN. */
function pssMb(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024
  } catch {
    return NaN
  }
}

/** HAProxy's processes by name: haproxy, or a build such as .cache/bin/haproxy-3.0. */
const isHaproxy = (pid) => /^haproxy/.test(commOf(pid))

/** Every process of one sidecar: its meshplate, HAProxy's master and all workers (old ones too). */
function sidecarProcesses(nodePid) {
  const haproxy = childrenOf(nodePid).filter((p) => isHaproxy(p))
  const workers = haproxy.flatMap((m) => childrenOf(m).filter((p) => isHaproxy(p)))
  return { node: nodePid, masters: haproxy, workers }
}

/** The keep-alive load (load.mjs) in its own thread: take() gives this minute's counts, reset. */
function keepAliveLoad(port, loops, failureLog) {
  const worker = new Worker(join(dirname(fileURLToPath(import.meta.url)), 'load.mjs'), { workerData: { port, loops, failureLog } })
  const ask = (msg) => new Promise((resolve) => {
    worker.once('message', resolve)
    worker.postMessage(msg)
  })
  return { take: () => ask('take'), stop: () => ask('stop') }
}

/** Counts, per pattern, the lines appended to a log since the first call (logs grow to GBs). */
function logCounter(file, patterns) {
  let offset = 0
  let partial = ''
  const totals = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0]))
  const chunk = Buffer.alloc(1 << 20)
  return () => {
    if (!existsSync(file)) return totals
    const fd = openSync(file, 'r')
    try {
      for (let n; (n = readSync(fd, chunk, 0, chunk.length, offset)) > 0; offset += n) {
        const lines = (partial + chunk.toString('latin1', 0, n)).split('\n')
        partial = lines.pop()
        for (const line of lines) for (const [k, re] of Object.entries(patterns)) if (re.test(line)) totals[k]++
      }
    } finally {
      closeSync(fd)
    }
    return totals
  }
}

function registerAs(consul, id, port, sidecarPort, upstreams = []) {
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  return consul.json('PUT', '/v1/agent/service/register', sidecarRegistration({ id, name: id.replace(/-\d+$/, ''), port, sidecarPort, upstreams, proxyConfig, ttl: '24h' }))
}

async function main() {
  const bins = requirePeers(root)
  bins.haproxy = opt('haproxy', bins.haproxy)
  buildDist(root, 'bench/soak')
  const work = mkdtempSync(join(tmpdir(), 'mp-soak-'))
  const changes = join(work, 'changes.log')
  const change = (what) => appendFileSync(changes, `${new Date().toISOString()} ${what}\n`)
  const hardStop = setTimeout(() => {
    console.error('bench/soak: over its time limit, giving up')
    killAllNow()
    process.exit(1)
  }, DURATION_MS + 5 * 60_000)
  process.on('exit', killAllNow)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130)) // 'exit' kills the children
  const consul = await startConsul(bins.consul, work)
  const [app1, app2, apiPublic, api2Public, webPublic, otherPublic, webUp, otherUp] = await freePorts(8)
  for (const [name, port] of [['api1', app1], ['api2', app2]]) {
    if (opt('app', 'node') === 'python') {
      mkdirSync(join(work, name))
      writeFileSync(join(work, name, 'load'), `${name}\n`)
      start('python3', ['-m', 'http.server', '--bind', '127.0.0.1', String(port)], { logFile: '/dev/null', cwd: join(work, name) }) // it logs every request
    }
    else createServer((_q, r) => r.end(`${name}\n`)).listen(port, '127.0.0.1').unref()
  }
  await registerAs(consul, 'api', app1, apiPublic)
  await registerAs(consul, 'api-2', app2, api2Public)
  await registerAs(consul, 'web', 9, webPublic, [{ DestinationName: 'api', LocalBindPort: webUp }])
  await registerAs(consul, 'other', 9, otherPublic, [{ DestinationName: 'api', LocalBindPort: otherUp }])
  await consul.intention('web', 'api', 'allow')
  const cli = join(root, 'dist/cli.js')
  const sidecars = Object.fromEntries(['api', 'api-2', 'web', 'other'].map((id) => [
    id,
    start(process.execPath, [...NODE_FLAGS, cli, 'sidecar', '--sidecar-for', id, '--consul-addr', consul.addr, '--dir', join(work, id), '--haproxy', bins.haproxy], { logFile: join(work, `${id}.log`) }),
  ]))
  const deadline = Date.now() + 60_000
  while (!['api', 'api-2', 'web', 'other'].every((id) => /HAProxy ready/.test(sidecars[id].log()))) {
    if (Date.now() > deadline) throw new Error('the sidecars did not start')
    await sleep(200)
  }
  await sleep(2000)
  const load = keepAliveLoad(webUp, LOOPS, join(work, 'failures.log'))
  const started = Date.now()
  let api2In = true
  let otherAllowed = false
  let rotated = false
  const churn = setInterval(() => {
    api2In = !api2In
    change(api2In ? 'api-2 joins' : 'api-2 leaves')
    void (api2In ? registerAs(consul, 'api-2', app2, api2Public) : consul.json('PUT', '/v1/agent/service/deregister/api-2-sidecar-proxy'))
  }, 10_000)
  const rows = []
  const counters = Object.keys(sidecars).map((id) => logCounter(join(work, `${id}.log`), { reloads: /New worker \(\d+\) forked/, pushes: /pushed to HAProxy/ }))
  let seen = { reloads: 0, pushes: 0 }
  for (let minute = 1; Date.now() - started < DURATION_MS; minute++) {
    await sleep(Math.min(60_000, DURATION_MS - (Date.now() - started)))
    otherAllowed = !otherAllowed
    change(`intention other -> api: ${otherAllowed ? 'allow' : 'deny'}`)
    await consul.intention('other', 'api', otherAllowed ? 'allow' : 'deny')
    if (!rotated && Date.now() - started >= DURATION_MS * 0.4) {
      rotated = true
      change('CA rotation (every leaf is renewed 0-30 s later)')
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' })
      await consul.json('PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: { PrivateKey: key } })
    }
    const m = await load.take()
    const counts = counters.map((c) => c())
    const total = { reloads: counts.reduce((n, c) => n + c.reloads, 0) - 4, pushes: counts.reduce((n, c) => n + c.pushes, 0) }
    const procs = Object.fromEntries(Object.entries(sidecars).map(([id, p]) => [id, sidecarProcesses(p.pid)]))
    const all = Object.values(procs).flatMap((p) => [p.node, ...p.masters, ...p.workers])
    rows.push({
      minute, ...m, reloads: total.reloads - seen.reloads, pushes: total.pushes - seen.pushes,
      rss: all.reduce((s, p) => s + rssMb(p), 0), pss: all.reduce((s, p) => s + pssMb(p), 0),
      webNode: rssMb(procs.web.node), webSidecarRss: [procs.web.node, ...procs.web.masters, ...procs.web.workers].reduce((s, p) => s + rssMb(p), 0),
      haproxyProcs: Object.values(procs).reduce((n, p) => n + p.masters.length + p.workers.length, 0),
    })
    seen = total
    const r = rows.at(-1)
    process.stderr.write(`[soak] minute ${minute}: ${r.ok} ok, ${r.failed} failed ${JSON.stringify(r.kinds)}, ${r.reloads} reloads, ${r.pushes} pushes, ${r.rss.toFixed(0)} MB RSS, ${r.haproxyProcs} HAProxy processes\n`)
  }
  clearInterval(churn)
  await load.stop()
  const m = machine(root, bins)
  const failed = rows.reduce((n, r) => n + r.failed, 0)
  const ok = rows.reduce((n, r) => n + r.ok, 0)
  const growth = rows.length > 2 ? (rows.at(-1).webNode / rows[1].webNode - 1) * 100 : NaN
  const section = [
    `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${opt('duration', '15m')}, ${m.haproxy}`,
    '',
    `\`node bench/soak/run.mjs --duration ${opt('duration', '15m')}${opt('haproxy') ? ` --haproxy ${opt('haproxy')}` : ''}${opt('app') ? ` --app ${opt('app')}` : ''}\`, commit ${m.commit}, ${m.nproc} cores, ${m.consul}. ${LOOPS} keep-alive loops web -> api; api-2 leaves or joins every 10 s; other -> api flips every minute; CA rotated at 40%.`,
    '',
    '| minute | requests | failed | reloads | pushes | RSS all (MB) | PSS all (MB) | web sidecar RSS (MB) | web meshplate RSS (MB) | HAProxy processes |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.minute} | ${r.ok + r.failed} | ${r.failed}${r.failed ? ` ${JSON.stringify(r.kinds)}` : ''} | ${r.reloads} | ${r.pushes} | ${r.rss.toFixed(0)} | ${r.pss.toFixed(0)} | ${r.webSidecarRss.toFixed(0)} | ${r.webNode.toFixed(1)} | ${r.haproxyProcs} |`),
    '',
    `Total: ${ok + failed} requests, **${failed} failed** (${((failed / (ok + failed)) * 100).toFixed(4)}%). web's meshplate RSS from minute 2 to the end: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%.${failed ? ` Logs kept in ${work}.` : ''}`,
    '',
  ].join('\n')
  console.log(section)
  appendRun(join(root, 'bench/RESULTS.md'), section)
  clearTimeout(hardStop)
  await stopAll()
  if (!failed) rmSync(work, { recursive: true, force: true })
}

/** Appends a run under "## Soak (bench/soak)", keeping earlier runs. */
function appendRun(file, run) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n'
  const heading = '## Soak (bench/soak)'
  if (!text.includes(heading)) return writeFileSync(file, `${text.replace(/\n*$/, '')}\n\n${heading}\n\n${run}`)
  const start = text.indexOf(heading)
  const next = text.slice(start + heading.length).search(/\n## /)
  const end = next === -1 ? text.length : start + heading.length + next
  writeFileSync(file, `${text.slice(0, end).replace(/\n*$/, '')}\n\n${run}${text.slice(end)}`)
}

main().catch((err) => {
  console.error(`bench/soak: ${err.message}`)
  killAllNow()
  process.exit(1)
})
