#!/usr/bin/env node
// What a meshplate sidecar costs the Consul servers (issue 19): a real dev server and a client
// agent on loopback, 1 and then 8 sidecars on the client (instances web-1..N of one service
// `web`, each with the upstream `api`), and the client agent's RPCs to the servers
// (`consul_client_rpc`, read from its Prometheus metrics) per change, for each change kind:
// - churn: one `api` instance registered, then deregistered (catalog, on the server);
// - chain: a `service-resolver` for `api` written with a new ConnectTimeout;
// - intention: an allow intention from a new source to `*` written;
// - idle: one minute with nothing changing (blocking queries timing out).
// Each kind runs `--changes` times (default 10); a change counts once every sidecar has
// rendered it, and the window closes 2 s after the last one. Three ACL modes: none, ACLs with
// one token for every sidecar (as one token per node), and ACLs with one token per sidecar
// (as Nomad gives each allocation). `--baseline DIR` runs a second meshplate build (a checkout
// with dist/ built, e.g. `git worktree add /tmp/base <rev>`) the same way, side by side.
// Changes are written to the server's HTTP API, so writing them costs the client nothing.
// Then a server outage (`--outage-seconds`, default 60; 0 skips it) with the largest count,
// without ACLs, the server keeping its state on disk, and after it a client agent restart
// (10 s away): while each is away, each sidecar's failed watches (their retries); once it is
// back, when each sidecar's views first answer again (their spread, from the sidecars' debug
// logs), the client agent's RPCs per 250 ms (a burst or not), and how long an intention
// written then takes to reach every sidecar, next to the client agent itself.
// Prints the tables and records them in bench/RESULTS.md ("## Scale", "## Server outage";
// `--only-outage` runs and records the second alone); bounded by `--max-minutes`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startConsulServerAndClient, sidecarRegistration } from '../lib/consul.mjs'
import { machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { killAllNow, start, stop, stopAll } from '../dataplane/lib/procs.mjs'
import { buildDist, freePorts, NODE_FLAGS, sleep, until, writeSection } from '../lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const argv = process.argv.slice(2)
const arg = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : fallback
}
const QUICK = argv.includes('--quick')
const CHANGES = Number(arg('changes', QUICK ? 3 : 10))
const IDLE_S = Number(arg('idle-seconds', QUICK ? 15 : 60))
const MAX_MINUTES = Number(arg('max-minutes', 40))
const COUNTS = String(arg('sidecars', '1,8')).split(',').map(Number)
const MODES = String(arg('acl', 'none,shared,per-sidecar')).split(',')
const BASELINE = arg('baseline')
const OUTAGE_S = Number(arg('outage-seconds', QUICK ? 20 : 60))
const ONLY_OUTAGE = argv.includes('--only-outage')
const WRITE = !argv.includes('--no-write')
const MGMT = 'bench-scale-management-token'

const killer = setTimeout(() => {
  console.error(`bench/scale: over --max-minutes ${MAX_MINUTES}; stopping`)
  killAllNow()
  process.exit(1)
}, MAX_MINUTES * 60_000)
killer.unref()
process.on('exit', killAllNow)
process.on('SIGINT', () => process.exit(130))
process.on('SIGTERM', () => process.exit(143))

/** The client agent's RPCs to the servers so far (a counter, kept by prometheus_retention_time). */
async function clientRpcs(client) {
  const text = (await client.api('GET', '/v1/agent/metrics?format=prometheus', undefined, MGMT)).text
  const line = text.split('\n').find((l) => /^consul_client_rpc(\{[^}]*\})? /.test(l))
  if (!line) throw new Error('the client agent reports no consul_client_rpc counter')
  return Number(line.split(' ').at(-1))
}

/** One catalog registration of an `api` instance and its sidecar on the external node `ext`. */
const apiInstance = (id, port) => ({
  Node: 'ext', Address: '127.0.0.1', SkipNodeUpdate: true,
  Service: { ID: `${id}-sidecar-proxy`, Service: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: port, Address: '127.0.0.1', Proxy: { DestinationServiceName: 'api', DestinationServiceID: id, LocalServicePort: 1 } },
})

async function tokenFor(server, mode, i) {
  if (mode === 'none') return undefined
  if (mode === 'shared' && i > 1) return tokenFor.shared
  const t = await server.json('PUT', '/v1/acl/token', { Description: `bench web-${i}`, ServiceIdentities: [{ ServiceName: 'web' }] }, MGMT)
  if (mode === 'shared') tokenFor.shared = t.SecretID
  return t.SecretID
}

/** One configuration: agents, `count` sidecars of one build, every change kind; RPCs per change. */
async function measure({ count, mode, cli }) {
  const acl = mode === 'none' ? undefined : { token: MGMT, defaultPolicy: 'deny' }
  const telemetry = { telemetry: { prometheus_retention_time: '1h', disable_hostname: true } }
  const pair = await startConsulServerAndClient({ acl, ready: 'leader', server: { config: telemetry }, client: { config: telemetry } })
  const { server, client } = pair
  const work = mkdtempSync(join(tmpdir(), 'mp-scale-'))
  const sidecars = []
  try {
    await server.json('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'api', Protocol: 'http' }, MGMT)
    await server.json('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http' }, MGMT)
    if (acl) await server.json('PUT', '/v1/connect/intentions/exact?source=web&destination=api', { Action: 'allow' }, MGMT)
    const [apiPort, extraPort, ...ports] = await freePorts(2 + 3 * count)
    await server.json('PUT', '/v1/catalog/register', apiInstance('api-1', apiPort), MGMT)
    for (let i = 1; i <= count; i++) {
      const token = await tokenFor(server, mode, i)
      const [appPort, publicPort, upstreamPort] = ports.slice(3 * (i - 1), 3 * i)
      const reg = sidecarRegistration({ id: `web-${i}`, name: 'web', port: appPort, sidecarPort: publicPort, upstreams: [{ DestinationName: 'api', LocalBindPort: upstreamPort }], proxyConfig: { bind_address: '127.0.0.1' } })
      await client.json('PUT', '/v1/agent/service/register', reg, token ?? MGMT)
      const dir = join(work, `web-${i}`)
      const args = [...NODE_FLAGS, cli, 'sidecar', '--sidecar-for', `web-${i}`, '--consul-addr', client.addr, '--dir', dir, '--log-level', 'warn']
      if (token) {
        writeFileSync(join(work, `token-${i}`), token, { mode: 0o600 })
        args.push('--consul-token-file', join(work, `token-${i}`))
      }
      sidecars.push({ dir, proc: start(process.execPath, args, { logFile: join(work, `web-${i}.log`) }) })
    }
    const cfg = (s) => { try { return readFileSync(join(s.dir, 'haproxy.cfg'), 'utf8') } catch { return '' } }
    const map = (s) => { try { return readFileSync(join(s.dir, 'intentions.map'), 'utf8') } catch { return '' } }
    const everySidecar = (what, test) => until(() => sidecars.every(test), 30_000, `${what} in all ${count} sidecars`, 50).catch((err) => {
      throw new Error(`${err.message}\n${sidecars.map((s) => s.proc.log().split('\n').slice(-5).join('\n')).join('\n')}`)
    })
    await everySidecar('the first render', (s) => cfg(s).includes(`:${apiPort} `))
    await sleep(3000)

    const rows = {}
    const window = async (kind, body) => {
      const before = await clientRpcs(client)
      const started = Date.now()
      await body()
      await sleep(2000)
      rows[kind] = { rpcs: (await clientRpcs(client)) - before, seconds: (Date.now() - started) / 1000 }
    }
    await window('churn', async () => {
      for (let n = 0; n < CHANGES; n++) {
        await server.json('PUT', '/v1/catalog/register', apiInstance('api-2', extraPort), MGMT)
        await everySidecar('the new instance', (s) => cfg(s).includes(`:${extraPort} `))
        await server.json('PUT', '/v1/catalog/deregister', { Node: 'ext', ServiceID: 'api-2-sidecar-proxy' }, MGMT)
        await everySidecar('the instance gone', (s) => !cfg(s).includes(`:${extraPort} `))
      }
    })
    await window('chain', async () => {
      for (let n = 0; n < CHANGES; n++) {
        await server.json('PUT', '/v1/config', { Kind: 'service-resolver', Name: 'api', ConnectTimeout: `${1001 + n}ms` }, MGMT)
        await everySidecar(`ConnectTimeout ${1001 + n}ms`, (s) => cfg(s).includes(`timeout connect ${1001 + n}ms`))
      }
    })
    await window('intention', async () => {
      for (let n = 0; n < CHANGES; n++) {
        await server.json('PUT', `/v1/connect/intentions/exact?source=src-${n}&destination=*`, { Action: 'allow' }, MGMT)
        await everySidecar(`the intention from src-${n}`, (s) => map(s).includes(`src-${n}`))
      }
    })
    await window('idle', () => sleep(IDLE_S * 1000))
    const dead = sidecars.filter((s) => s.proc.exitCode !== null)
    if (dead.length) throw new Error(`${dead.length} sidecars exited during the run`)
    return rows
  } finally {
    await Promise.all(sidecars.map((s) => stop(s.proc)))
    await pair.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * The server away for OUTAGE_S seconds under `count` sidecars (no ACLs): their failed watch
 * calls while it is away; once it is back, the spread of their views' first answers, the
 * client agent's busiest 250 ms, and an intention's arrival at the agent and at each sidecar.
 */
async function measureOutage({ count, cli }) {
  const telemetry = { telemetry: { prometheus_retention_time: '1h', disable_hostname: true } }
  const dataDir = mkdtempSync(join(tmpdir(), 'mp-scale-server-'))
  const pair = await startConsulServerAndClient({ ready: 'leader', server: { dataDir, config: telemetry }, client: { config: telemetry } })
  const { server, client } = pair
  const work = mkdtempSync(join(tmpdir(), 'mp-scale-'))
  const sidecars = []
  try {
    await server.json('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'api', Protocol: 'http' })
    await server.json('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http' })
    const [apiPort, ...ports] = await freePorts(1 + 3 * count)
    await server.json('PUT', '/v1/catalog/register', apiInstance('api-1', apiPort))
    for (let i = 1; i <= count; i++) {
      const [appPort, publicPort, upstreamPort] = ports.slice(3 * (i - 1), 3 * i)
      await client.json('PUT', '/v1/agent/service/register', sidecarRegistration({ id: `web-${i}`, name: 'web', port: appPort, sidecarPort: publicPort, upstreams: [{ DestinationName: 'api', LocalBindPort: upstreamPort }], proxyConfig: { bind_address: '127.0.0.1' } }))
      const dir = join(work, `web-${i}`)
      const args = [...NODE_FLAGS, cli, 'sidecar', '--sidecar-for', `web-${i}`, '--consul-addr', client.addr, '--dir', dir, '--log-level', 'debug', '--log-format', 'json']
      sidecars.push({ dir, proc: start(process.execPath, args, { logFile: join(work, `web-${i}.log`) }) })
    }
    const cfg = (sc) => { try { return readFileSync(join(sc.dir, 'haproxy.cfg'), 'utf8') } catch { return '' } }
    const map = (sc) => { try { return readFileSync(join(sc.dir, 'intentions.map'), 'utf8') } catch { return '' } }
    await until(() => sidecars.every((sc) => cfg(sc).includes(`:${apiPort} `)), 30_000, 'the first render', 50)
    await sleep(3000)
    const records = (sc) => sc.proc.log().split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) } catch { return undefined } }).filter(Boolean)

    /** `agent` away for `ms`, then started again: what the sidecars did while it was away and after. */
    const awayAndBack = async (agent, ms, source) => {
      const away = Date.now()
      await agent.kill()
      await sleep(ms)
      const back = Date.now()
      await agent.start()
      const restartMs = Date.now() - back
      // Back in touch: the client agent answers a read that needs a server (after a server's
      // restart, serf brings it back to the client some seconds later).
      await until(async () => (await client.api('GET', '/v1/catalog/nodes').catch(() => ({ status: 0 }))).status === 200, 180_000, 'the client agent reaching a server', 50)
      const rejoined = Date.now()
      const rpcSamples = []
      const sampler = (async () => {
        while (Date.now() - rejoined < 20_000) {
          rpcSamples.push(await clientRpcs(client).catch(() => undefined))
          await sleep(250)
        }
      })()
      const written = Date.now()
      await server.json('PUT', `/v1/connect/intentions/exact?source=${source}&destination=*`, { Action: 'allow' })
      const agentMs = await until(async () => {
        const r = await client.api('GET', '/v1/connect/intentions/match?by=destination&name=web')
        return r.status === 200 && r.text.includes(source) ? Date.now() - written : undefined
      }, 120_000, 'the client agent answering the new intention', 50)
      const sidecarMs = []
      await until(() => {
        for (const [i, sc] of sidecars.entries()) if (sidecarMs[i] === undefined && map(sc).includes(source)) sidecarMs[i] = Date.now() - written
        return sidecars.every((_, i) => sidecarMs[i] !== undefined)
      }, 180_000, 'every sidecar rendering the new intention', 50)
      await sampler
      const failures = (recs) => recs.filter((r) => r.level === 'warn' && / retry \d+ in /.test(r.msg) && Date.parse(r.time) >= away && Date.parse(r.time) < rejoined)
      const retries = sidecars.map((sc) => failures(records(sc)).length)
      // Per sidecar: when its last failed call was retried (the warning's time plus its delay),
      // from the rejoin. A blocking view logs no answer until its data changes, so the retry is
      // what marks it back: the spread across sidecars is the jitter.
      const lastRetries = sidecars.map((sc) => {
        const times = records(sc).filter((r) => r.level === 'warn' && / retry \d+ in \d+ ms/.test(r.msg) && Date.parse(r.time) >= away).map((r) => Date.parse(r.time) + Number(/ in (\d+) ms/.exec(r.msg)[1]))
        return times.length ? Math.max(...times) - rejoined : undefined
      })
      const deltas = rpcSamples.map((v, i) => (i && v !== undefined && rpcSamples[i - 1] !== undefined ? Math.max(0, v - rpcSamples[i - 1]) : 0))
      return { restartMs, rejoinMs: rejoined - back, agentMs, sidecarMs, retries, lastRetries, rpcsAfter: deltas.reduce((a, b) => a + b, 0), busiest: Math.max(...deltas) }
    }
    const serverAway = await awayAndBack(server, OUTAGE_S * 1000, 'after-outage')
    const agentRestart = await awayAndBack(client, 10_000, 'after-agent-restart')
    return { count, serverAway, agentRestart }
  } finally {
    await Promise.all(sidecars.map((sc) => stop(sc.proc)))
    await pair.stop()
    rmSync(work, { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const bins = requirePeers(root)
buildDist(root, 'bench/scale')
const builds = [{ name: 'meshplate', cli: join(root, 'dist/cli.js') }]
if (BASELINE) builds.push({ name: `baseline (${BASELINE})`, cli: join(BASELINE, 'dist/cli.js') })
const began = Date.now()
const results = []
for (const build of ONLY_OUTAGE ? [] : builds) {
  for (const mode of MODES) {
    for (const count of COUNTS) {
      console.error(`bench/scale: ${build.name}, ACLs ${mode}, ${count} sidecar(s)`)
      results.push({ build: build.name, mode, count, rows: await measure({ count, mode, cli: build.cli }) })
    }
  }
}
const outage = OUTAGE_S > 0 ? await measureOutage({ count: Math.max(...COUNTS), cli: builds[0].cli }) : undefined
await stopAll()

const kinds = ['churn', 'chain', 'intention', 'idle']
const per = (r, kind) => (kind === 'idle' ? r.rows.idle.rpcs / (r.rows.idle.seconds / 60) : r.rows[kind].rpcs / CHANGES)
const fmt = (n) => (Math.round(n * 10) / 10).toString()
const modeName = { none: 'no ACLs', shared: 'ACLs, one token for all sidecars', 'per-sidecar': 'ACLs, one token per sidecar' }
const lo = Math.min(...COUNTS)
const hi = Math.max(...COUNTS)
const lines = [
  `| build | ACLs | change | RPCs per change, ${lo} sidecar | ${hi} sidecars | ${hi} vs ${lo} | goal | verdict |`,
  '|---|---|---|---|---|---|---|---|',
]
for (const build of ONLY_OUTAGE ? [] : builds) {
  for (const mode of MODES) {
    const one = results.find((r) => r.build === build.name && r.mode === mode && r.count === lo)
    const many = results.find((r) => r.build === build.name && r.mode === mode && r.count === hi)
    for (const kind of kinds) {
      const a = per(one, kind)
      const b = per(many, kind)
      const ratio = a > 0 ? b / a : b === 0 ? 1 : Infinity
      const perSidecar = mode === 'per-sidecar'
      // Per-sidecar tokens: Envoy's model is one cached watch per token and key, so each change costs one RPC per sidecar watching it.
      const goal = perSidecar ? `≤ ${hi}x (one per token)` : '≤ 1.5x'
      const met = perSidecar ? ratio <= hi + 0.5 : ratio <= 1.5
      lines.push(`| ${build.name} | ${modeName[mode]} | ${kind}${kind === 'idle' ? ' (per minute)' : ''} | ${fmt(a)} | ${fmt(b)} | ${fmt(ratio)}x | ${goal} | ${build === builds[0] ? (met ? 'met' : '**missed**') : ''} |`)
    }
  }
}
const spread = (xs) => { const v = xs.filter((x) => x !== undefined); return v.length ? `${Math.min(...v)}–${Math.max(...v)} ms` : 'none' }
const outageRows = (label, o) => [
  `| ${label} | failed watch calls per sidecar while away (each followed by a retry) | ${Math.min(...o.retries)}–${Math.max(...o.retries)} |`,
  `| ${label} | restart to serving (\`start()\` returning) | ${o.restartMs} ms |`,
  `| ${label} | the client agent answering a read that needs a server, from the start | ${o.rejoinMs} ms |`,
  `| ${label} | each sidecar's last retry of a failed call, from that moment (spread across sidecars; negative: before it) | ${spread(o.lastRetries)} |`,
  `| ${label} | client agent RPCs in the 20 s from that moment: total / busiest 250 ms | ${o.rpcsAfter} / ${o.busiest} |`,
  `| ${label} | an intention written after the return: at the client agent (consistent read) | ${o.agentMs} ms |`,
  `| ${label} | the same intention in each sidecar's intentions.map | ${spread(o.sidecarMs)} |`,
]
const m = machine(root, { ...bins, wrk: bins.wrk })
const stamp = `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`node bench/scale/run.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` (${Math.round((Date.now() - began) / 1000)} s). Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memory}; ${m.consul}; Node.js ${m.node}; meshplate at ${m.commit}.`
const section = [
  '## Scale',
  '',
  stamp,
  '',
  ...lines,
  '',
  `Method: one \`consul agent -dev\` server and one client agent joined to it, both on 127.0.0.1, telemetry kept for Prometheus; N sidecars (\`meshplate sidecar\`, instances web-1..N of the service \`web\`, each with the upstream \`api\`, protocol http) talking to the client agent. The count is the client agent's \`consul_client_rpc\` counter (every RPC it sends a server) over a window: ${CHANGES} changes of a kind, each waited for until every sidecar rendered it, then 2 s; idle is ${IDLE_S} s with nothing changing, given per minute. Changes are written to the server's HTTP API: churn registers and deregisters one \`api\` instance on an external node (2 changes per round, counted as ${CHANGES} rounds); chain writes a \`service-resolver\` for \`api\`; intention writes an allow from a new source to \`*\`. With ACLs the default policy is deny; "one token for all" gives every sidecar the same token (service identity \`web\`), "one token per sidecar" one token each, as Nomad gives each allocation. The agent's cache and streaming views are keyed by token, so with one token per sidecar each sidecar holds its own entry, as an Envoy sidecar with its own token does.`,
  '',
]
const outageSection = outage && [
  '## Server outage',
  '',
  stamp,
  '',
  `The server away for ${OUTAGE_S} s, then the client agent restarted (10 s away), ${outage.count} sidecars (no ACLs):`,
  '',
  '| event | what | figure |',
  '|---|---|---|',
  ...outageRows(`server away ${OUTAGE_S} s`, outage.serverAway),
  ...outageRows('client agent restart', outage.agentRestart),
  '',
  `Method (\`bench/scale/run.mjs\`, \`--only-outage\` runs this part alone): a server keeping its state in a data dir (not \`-dev\`) and a client agent on 127.0.0.1, ${outage.count} sidecars of \`web\` with the upstream \`api\` on the client, no ACLs, each logging JSON at debug level. The server is SIGKILLed for ${OUTAGE_S} s and started again on the same ports; then the client agent likewise for 10 s. "Failed watch calls" counts each sidecar's \`retry N in M ms\` warnings from the kill until the client agent answers a read that needs a server (\`/v1/catalog/nodes\`); a sidecar's "last retry" is its last warning's time plus the delay it names (a blocking view logs no answer until its data changes, so the retry marks it back); the client agent's \`consul_client_rpc\` is sampled every 250 ms for 20 s; and an allow intention to \`*\` is written to the server and timed to a consistent read at the client agent and to each sidecar's intentions.map.`,
  '',
]
if (!ONLY_OUTAGE) console.log(section.join('\n'))
if (outageSection) console.log(outageSection.join('\n'))
if (WRITE && !ONLY_OUTAGE) writeSection(join(root, 'bench/RESULTS.md'), 'Scale', section.join('\n'))
if (WRITE && outageSection) writeSection(join(root, 'bench/RESULTS.md'), 'Server outage', outageSection.join('\n'))
