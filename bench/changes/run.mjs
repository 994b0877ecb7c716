#!/usr/bin/env node
// Consul change -> new state serving in HAProxy, with and without the runtime API, side by
// side: two web sidecars with the same upstream (api) watch the same change at the same
// moment. "runtime API" is `meshplate sidecar` as shipped; "reload every change" is the
// same templates and HAProxy under `meshplate run` with the reload signal for every
// haproxy.cfg change (what the sidecar did before). A second api instance joins and leaves
// `--changes` times (default 20 each); per change we time the first request it answers
// (join) and the first of 20 requests in a row it no longer gets (leave), under keep-alive
// load through both webs that counts every failed request. Prints a table and records it
// in bench/RESULTS.md (`--keep` keeps the logs). Bounded: every wait has a timeout, the whole run `--max-minutes`.
import { Agent, createServer, request } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startConsul } from '../dataplane/lib/consul.mjs'
import { sidecarRegistration } from '../lib/consul.mjs'
import { machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { killAllNow, start, stopAll } from '../dataplane/lib/procs.mjs'
import { buildDist, freePorts, NODE_FLAGS, until as untilPolled, writeSection } from '../lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const CHANGES = arg('changes', 20)
const MAX_MINUTES = arg('max-minutes', 10)
const until = (check, timeoutMs, what) => untilPolled(check, timeoutMs, what, 2)

/** One GET on a fresh connection; resolves to the answering instance's name or undefined. */
function whoAnswers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/probe', agent: false, timeout: 2000, headers: { connection: 'close' } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** Keep-alive loops through `port` until stopped; counts answers and failures by kind. */
function keepAliveLoad(port, loops = 2) {
  const agent = new Agent({ keepAlive: true, maxSockets: loops })
  const stats = { ok: 0, failed: 0, kinds: {} }
  let running = true
  const once = () =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/load', agent, timeout: 5000 }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status ${res.statusCode}`))
      })
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
      req.on('error', (e) => resolve(e.code ?? e.message))
      req.end()
    })
  const loop = async () => {
    while (running) {
      const r = await once()
      if (r === 'ok') stats.ok++
      else (stats.failed++, (stats.kinds[r] = (stats.kinds[r] ?? 0) + 1))
    }
  }
  const all = Array.from({ length: loops }, loop)
  return { stats, stop: async () => ((running = false), await Promise.all(all), agent.destroy(), stats) }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

async function main() {
  const bins = requirePeers(root)
  buildDist(root, 'bench/changes')
  const { sidecarConfig } = await import(join(root, 'dist/sidecar/preset.js'))
  const work = mkdtempSync(join(tmpdir(), 'mp-changes-'))
  const timer = setTimeout(() => {
    console.error(`bench/changes: over ${MAX_MINUTES} minutes, giving up`)
    killAllNow()
    process.exit(1)
  }, MAX_MINUTES * 60_000)
  process.on('exit', killAllNow)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130)) // 'exit' kills the children
  try {
    const consul = await startConsul(bins.consul, work)
    const [app1, app2, api1Public, api2Public, upA, upB, webAPublic, webBPublic] = await freePorts(8)
    for (const [name, port] of [['api1', app1], ['api2', app2]]) createServer((_q, r) => r.end(`${name}\n`)).listen(port, '127.0.0.1').unref()
    await registerAs(consul, 'api-1', app1, api1Public)
    await registerAs(consul, 'api-2', app2, api2Public)
    await registerAs(consul, 'web-a', 9, webAPublic, [{ DestinationName: 'api', LocalBindPort: upA }])
    await registerAs(consul, 'web-b', 9, webBPublic, [{ DestinationName: 'api', LocalBindPort: upB }])
    const cli = join(root, 'dist/cli.js')
    const addr = ['--consul-addr', consul.addr]
    const sidecar = (id) => start(process.execPath, [...NODE_FLAGS, cli, 'sidecar', '--sidecar-for', id, ...addr, '--dir', join(work, id), '--haproxy', bins.haproxy], { logFile: join(work, `${id}.log`) })
    for (const id of ['api-1', 'api-2', 'web-a']) sidecar(id)
    // The "before" variant: the same files and HAProxy, reloaded on every haproxy.cfg change.
    const preset = sidecarConfig({ dir: join(work, 'web-b'), templateDir: join(root, 'templates/haproxy'), luaDir: join(root, 'lua'), haproxy: bins.haproxy, vars: {} })
    const reloading = {
      ...preset,
      templates: preset.templates.map(({ haproxyRuntime, ...t }) => (haproxyRuntime?.kind === 'map' ? { ...t, haproxyRuntime, reloadExec: false } : t)),
      exec: { ...preset.exec, haproxyMasterSocket: undefined },
    }
    writeFileSync(join(work, 'web-b.json'), JSON.stringify(reloading))
    start(process.execPath, [...NODE_FLAGS, cli, 'run', '--config', join(work, 'web-b.json'), '--sidecar-for', 'web-b', ...addr], { logFile: join(work, 'web-b.log') })
    const variants = [
      { name: 'runtime API (shipped)', port: upA, log: join(work, 'web-a.log') },
      { name: 'reload every change (before)', port: upB, log: join(work, 'web-b.log') },
    ]
    for (const v of variants) await until(async () => (await whoAnswers(v.port)) === 'api2', 30_000, `${v.name} serving both instances`)
    const loads = variants.map((v) => keepAliveLoad(v.port))
    const times = variants.map(() => ({ join: [], leave: [] }))
    for (let i = 0; i < CHANGES; i++) {
      let t0 = performance.now()
      await consul.json('PUT', '/v1/agent/service/deregister/api-2-sidecar-proxy')
      await Promise.all(variants.map(async (v, k) => {
        let streak = 0
        let first = 0
        await until(async () => {
          const who = await whoAnswers(v.port)
          if (who === 'api2' || who === undefined) streak = 0
          else if (++streak === 1) first = performance.now()
          return streak >= 20
        }, 10_000, `${v.name}: api-2 gone`)
        times[k].leave.push(first - t0)
      }))
      t0 = performance.now()
      await registerAs(consul, 'api-2', app2, api2Public)
      await Promise.all(variants.map(async (v, k) => {
        await until(async () => (await whoAnswers(v.port)) === 'api2', 10_000, `${v.name}: api-2 back`)
        times[k].join.push(performance.now() - t0)
      }))
    }
    const stats = await Promise.all(loads.map((l) => l.stop()))
    const rows = variants.map((v, k) => {
      const log = readFileSync(v.log, 'utf8')
      const reloads = (log.match(/New worker \(\d+\) forked/g) ?? []).length - 1
      const f = (xs) => `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.99).toFixed(1)}`
      return `| ${v.name} | ${f(times[k].join)} | ${f(times[k].leave)} | ${reloads} | ${stats[k].ok} | ${stats[k].failed}${stats[k].failed ? ` ${JSON.stringify(stats[k].kinds)}` : ''} |`
    })
    const m = machine(root, bins)
    const section = [
      '## Change to serving (bench/changes)',
      '',
      `${new Date().toISOString().slice(0, 10)}, \`node bench/changes/run.mjs --changes ${CHANGES}\`, ${m.haproxy}, ${m.consul}, commit ${m.commit}, ${m.nproc} cores.`,
      `${CHANGES} leaves and ${CHANGES} joins of one api instance (of two), each seen by both web sidecars at once, under 2 keep-alive request loops per web.`,
      'Join: until the instance answers a request; leave: until the first of 20 requests in a row it no longer gets. Times from the Consul API call, ms.',
      '',
      '| web sidecar | join median / p99 ms | leave median / p99 ms | HAProxy reloads | requests | failed |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n')
    console.log(section)
    writeSection(join(root, 'bench/RESULTS.md'), 'Change to serving', section)
  } finally {
    clearTimeout(timer)
    await stopAll()
    if (process.argv.includes('--keep')) console.log(`logs kept in ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

/** Registers service `id` (named after its prefix, e.g. api-2 -> api) with a sidecar. */
function registerAs(consul, id, port, sidecarPort, upstreams = []) {
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  return consul.json('PUT', '/v1/agent/service/register', sidecarRegistration({ id, name: id.replace(/-\d+$|-[ab]$/, ''), port, sidecarPort, upstreams, proxyConfig }))
}

main().catch((err) => {
  console.error(`bench/changes: ${err.message}`)
  killAllNow()
  process.exit(1)
})
