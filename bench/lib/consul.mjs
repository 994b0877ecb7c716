// The one Consul launcher of the repository: the tests (test/support/consul.ts), the benchmarks
// and the scripts (demo, recorders) all start their real `consul agent` here, so the flags that
// keep it on this machine are written once. An agent listens on 127.0.0.1 (or, for the Nomad
// lab, another address this machine holds) on free ports, with no DNS, no gRPC unless asked, no
// update check and no anonymous signature: nothing it does may send a packet off the machine.
// Three modes: `-dev` (the default), a single server that keeps its state in `dataDir`, and a
// client agent that joins a server over loopback (`join`), which `startConsulServerAndClient`
// pairs with a dev server.
import { spawn as spawnProcess } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { networkInterfaces, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePorts, sleep } from './shared.mjs'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The consul binary scripts/provision builds into .cache/bin, else one on PATH; throws with the fix. */
export function consulBinary() {
  const cached = join(repoRoot, '.cache/bin/consul')
  if (existsSync(cached)) return cached
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'consul'))) return join(dir, 'consul')
  }
  throw new Error('consul not found: run `bash scripts/provision` first')
}

/** Throws unless `address` is loopback or an address of this machine's own interfaces (never a wildcard). */
function assertOnThisMachine(address, what) {
  if (/^127\./.test(address)) return
  const own = Object.values(networkInterfaces()).flat().map((i) => i?.address)
  if (address !== '0.0.0.0' && own.includes(address)) return
  throw new Error(`consul: refusing ${what} ${address}: only loopback or an address of this machine's own interfaces`)
}

/** The ACL block: a management token that is also the agent's token (a client gets the agent token only). */
function aclHcl({ token, defaultPolicy = 'deny' }, server) {
  const tokens = server ? `initial_management = "${token}"\n agent = "${token}"` : `agent = "${token}"`
  return `acl {\n enabled = true\n default_policy = "${defaultPolicy}"\n tokens {\n ${tokens}\n }\n}`
}

/** The mode's own flags: a client joining `join`, a server keeping state in `dataDir`, or `-dev`. */
function modeArgs(o, dataDir) {
  if (o.join) return ['-data-dir', dataDir, '-retry-join', o.join, '-retry-interval', '1s']
  if (dataDir) {
    return ['-server', '-bootstrap-expect', '1', '-data-dir', dataDir, '-hcl', 'connect { enabled = true }', '-hcl', 'performance { raft_multiplier = 1 }']
  }
  return ['-dev']
}

/** Every flag of one agent on `ports`. */
function agentArgs(o, ports, dataDir) {
  const bind = o.bind ?? '127.0.0.1'
  const extra = [...(o.acl ? [aclHcl(o.acl, !o.join)] : []), ...(o.config ? [JSON.stringify(o.config)] : []), ...(o.hcl ?? [])]
  return [
    'agent', ...modeArgs(o, dataDir), '-node', o.node ?? 'meshplate', '-bind', bind, '-client', bind,
    '-http-port', String(ports.http), '-dns-port', '-1', '-grpc-port', String(o.grpcPort ?? -1),
    '-serf-lan-port', String(ports.serfLan), '-serf-wan-port', String(ports.serfWan), '-server-port', String(ports.server),
    // No update check or anonymous signature: nothing may leave the machine.
    '-hcl', 'ports { grpc_tls = -1 }', '-hcl', 'disable_update_check = true', '-hcl', 'disable_anonymous_signature = true',
    '-log-level', o.logLevel ?? 'warn',
    ...extra.flatMap((h) => ['-hcl', h]),
  ]
}

/** Sends `body` (a string as is, anything else as JSON); the status, the text and the JSON body if it is JSON. */
async function request(url, method, body, token, timeoutMs) {
  const res = await fetch(url, {
    method,
    headers: token ? { 'x-consul-token': token } : {},
    body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
    signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
  })
  const text = await res.text()
  let parsed
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.status, body: parsed, text }
}

/** Whether the agent is ready: 'connect' once it issues a leaf, 'leader' once the cluster has a leader that lists this node. */
async function isReady(agent, ready) {
  if (ready === 'leader') {
    const leader = await agent.api('GET', '/v1/status/leader')
    if (leader.status !== 200 || !leader.body) return false
    return (await agent.api('GET', `/v1/catalog/node/${agent.node}`)).body?.Node?.Node === agent.node
  }
  const roots = await agent.api('GET', '/v1/agent/connect/ca/roots')
  if (roots.status !== 200 || !(roots.body?.Roots?.length > 0)) return false
  return (await agent.api('GET', '/v1/agent/connect/ca/leaf/ping')).status === 200
}

/**
 * Starts one agent and waits until it is ready (`ready`: 'connect', the default, or 'leader');
 * the options and the agent's methods are in consul.d.mts. Without a fixed `httpPort`, an agent
 * that exits while starting (a probed port taken meanwhile) is tried again on new ports, 3 tries.
 */
export async function startConsul(options = {}) {
  if (options.join) assertOnThisMachine(options.join.replace(/:\d+$/, ''), 'joining')
  assertOnThisMachine(options.bind ?? '127.0.0.1', 'binding to')
  let lastError
  for (let attempt = 1; attempt <= (options.httpPort ? 1 : 3); attempt++) {
    const agent = await newAgent(options)
    try {
      await agent.start()
      return agent
    } catch (err) {
      lastError = err
      await agent.stop()
      if (!err.exited) break
    }
  }
  throw lastError
}

/** An agent object on fresh ports, not started yet. */
async function newAgent(o) {
  const [http, serfLan, serfWan, server] = await freePorts(4)
  const ports = { http: o.httpPort ?? http, serfLan, serfWan, server }
  const bind = o.bind ?? '127.0.0.1'
  const ownDataDir = o.join && !o.dataDir ? mkdtempSync(join(tmpdir(), 'meshplate-consul-client-')) : undefined
  const dataDir = o.dataDir ?? ownDataDir
  const token = o.token ?? o.acl?.token
  const run = { proc: undefined, output: '' }
  const agent = {
    addr: `${bind}:${ports.http}`,
    httpPort: ports.http,
    serfLanAddr: `${bind}:${ports.serfLan}`,
    node: o.node ?? 'meshplate',
    ports,
    get proc() {
      return run.proc
    },
    api: (method, path, body, tok = token) => request(`http://${agent.addr}${path}`, method, body, tok, o.requestTimeoutMs),
    async json(method, path, body, tok) {
      const a = await agent.api(method, path, body, tok)
      if (a.status < 200 || a.status > 299) throw new Error(`consul ${method} ${path}: ${a.status} ${a.text.slice(0, 300)}`)
      return a.text === '' ? undefined : (a.body ?? a.text)
    },
    logs: () => (o.logFile ? readLog(o.logFile) : run.output),
    start: () => launch(o, agent, run, agentArgs(o, ports, dataDir)),
    kill: () => killProcess(run.proc),
    async stop() {
      await killProcess(run.proc)
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true })
    },
  }
  return agent
}

/** Spawns the agent (again, on the same ports, after a kill) and polls until it is ready. */
async function launch(o, agent, run, args) {
  const proc = spawnAgent(o, args)
  run.proc = proc
  proc.stdout?.on('data', (d) => (run.output += d))
  proc.stderr?.on('data', (d) => (run.output += d))
  proc.once('error', (err) => (run.output += `spawn error: ${err.message}\n`))
  const deadline = Date.now() + (o.timeoutMs ?? 30_000)
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw Object.assign(new Error(`consul exited ${proc.exitCode}: ${agent.logs().slice(-2000)}`), { exited: true })
    try {
      if (await isReady(agent, o.ready ?? 'connect')) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`consul did not become ready: ${agent.logs().slice(-2000)}`)
}

/** The caller's spawn, or Node's with output into `logFile` or into pipes. */
function spawnAgent(o, args) {
  const bin = o.bin ?? consulBinary()
  if (o.spawn) return o.spawn(bin, args)
  if (!o.logFile) return spawnProcess(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const fd = openSync(o.logFile, 'a')
  try {
    return spawnProcess(bin, args, { stdio: ['ignore', fd, fd] })
  } finally {
    closeSync(fd)
  }
}

const readLog = (file) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** SIGKILL (a dev agent keeps nothing worth a graceful leave); resolves once it is gone. */
async function killProcess(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const done = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGKILL')
  await done
}

/**
 * The body of `PUT /v1/agent/service/register` for a service with a Connect sidecar on
 * `sidecarPort`, everything on 127.0.0.1. The sidecar gets a passing TTL check (`checkName`,
 * `ttl`) instead of Consul's default TCP check, which would stay critical (and hide the
 * instance) until something listens on the port.
 */
export function sidecarRegistration(s) {
  return {
    ID: s.id ?? s.name,
    Name: s.name,
    Port: s.port,
    Address: s.address ?? '127.0.0.1',
    ...(s.checks ? { Checks: s.checks } : {}),
    ...(s.meta ? { Meta: s.meta } : {}),
    Connect: {
      SidecarService: {
        Port: s.sidecarPort,
        ...(s.meta ? { Meta: s.meta } : {}),
        Proxy: { Upstreams: s.upstreams ?? [], Config: s.proxyConfig ?? {}, LocalServiceAddress: '127.0.0.1', ...(s.expose ? { Expose: s.expose } : {}) },
        Checks: [{ Name: s.checkName ?? 'ttl', TTL: s.ttl ?? '1h', Status: 'passing' }],
      },
    },
  }
}

/**
 * A dev server and a client agent that joins it over loopback, each on its own ports; resolves
 * once the client is ready through the server. `options` apply to both, `server` and `client`
 * to one each (e.g. a logFile each).
 */
export async function startConsulServerAndClient({ server: serverOptions = {}, client: clientOptions = {}, ...common } = {}) {
  const server = await startConsul({ node: 'meshplate-server', ...common, ...serverOptions })
  try {
    const client = await startConsul({ node: 'meshplate-client', ...common, ...clientOptions, join: server.serfLanAddr })
    return {
      server,
      client,
      async stop() {
        await client.stop()
        await server.stop()
      },
    }
  } catch (err) {
    await server.stop()
    throw err
  }
}
