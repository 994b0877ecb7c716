/**
 * A real Nomad for one test file: a Consul dev agent on the client's own
 * address at 8500 (where the shipped jobs expect it), a `nomad agent -dev`
 * with its client enabled (raw_exec and exec, bridge networking through the
 * CNI plugins, `network_interface` on the test's private bridge), and
 * `meshplate`, `haproxy` and `consul` on the agent's PATH. Everything runs
 * behind the guard of nomad-net.ts, installed before the agents start.
 * `stop()` purges the jobs, stops the agents by PID and removes the network,
 * guard last, on every exit path the test gives it (t.teardown).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { binary, cliPath } from './binaries.ts'
import { startConsul, type ConsulAgent } from './consul.ts'
import { CLIENT_BRIDGE, CLIENT_IP, ALLOC_BRIDGE, ALLOC_SUBNET, setUpNomadNet, type NomadNet } from './nomad-net.ts'
import { jsonRequest, type ApiAnswer } from './json-api.ts'
import { freePorts } from './ports.ts'

export interface NomadLab {
  consul: ConsulAgent
  net: NomadNet
  clientIp: string
  addr: string
  dataDir: string
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>
  /** `nomad <args>` against this agent. */
  cli(args: string[]): { code: number; output: string }
  logs(): string
  stop(): Promise<void>
}

export interface NomadLabOptions {
  /** Extra HCL inside the agent's client {} block (e.g. chroot_env for the exec driver). */
  clientHcl?: string
  /** Extra top-level agent HCL. */
  hcl?: string
}

/** Installs the guard, then starts Consul and Nomad; throws (after cleaning up) if any part fails. */
export async function startNomadLab(o: NomadLabOptions = {}): Promise<NomadLab> {
  const nomadBin = binary('nomad')
  const net = setUpNomadNet()
  const base = mkdtempSync('/tmp/mpn-')
  // A data_dir of 34 characters. The sidecar's <data_dir>/alloc/<alloc id>/meshplate/local/mesh/haproxy.sock
  // passes HAProxy's socket path limit for any data_dir over 31 characters, so this one needs the
  // short runtime socket; Nomad's own <data_dir>/alloc/<alloc id>/alloc/tmp/consul_grpc.sock caps
  // data_dir at 37.
  const dataDir = join(base, 'opt-nomad-data-dir')
  let consul: ConsulAgent | undefined
  let proc: ChildProcess | undefined
  let output = ''
  const [http, rpc, serf, grpc] = await freePorts(4)
  const addr = `http://127.0.0.1:${http}`
  const api: NomadLab['api'] = (method, path, body) => jsonRequest(`${addr}${path}`, method, body)
  const env = { ...process.env, NOMAD_ADDR: addr, PATH: `${binDir(base)}:${process.env.PATH}` }
  const cli: NomadLab['cli'] = (args) => {
    const r = spawnSync(nomadBin, args, { env, encoding: 'utf8' })
    return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}` }
  }
  const stop = async () => {
    let allocIds: string[] = []
    if (proc && proc.exitCode === null) {
      allocIds = ((await api('GET', '/v1/allocations').catch(() => ({ body: [] }))).body ?? []).map((a: { ID: string }) => a.ID)
      for (const job of (await api('GET', '/v1/jobs').catch(() => ({ body: [] }))).body ?? []) cli(['job', 'stop', '-purge', '-detach', job.ID])
      await waitUntil(async () => ((await api('GET', '/v1/allocations')).body ?? []).every((a: { ClientStatus: string }) => a.ClientStatus !== 'running' && a.ClientStatus !== 'pending'), 40_000)
      await stopProcess(proc, 20_000)
    }
    // Task processes outlive a stopped agent (Nomad's executors are separate processes).
    for (const pid of processesUnder(base, allocIds)) quietKill(pid)
    await consul?.stop()
    net.cleanup()
    rmSync(base, { recursive: true, force: true })
  }
  try {
    consul = await startConsul({ bind: CLIENT_IP, httpPort: 8500, grpcPort: grpc })
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(join(base, 'agent.hcl'), agentHcl({ dataDir, http: http!, rpc: rpc!, serf: serf!, grpc: grpc!, ...o }))
    // Tasks inherit the agent's environment, but not tap's NODE_OPTIONS (its loaders are not in an
    // exec task's chroot). tap re-adds it to every spawn, so `env -u` drops it just before Nomad.
    proc = spawn('env', ['-u', 'NODE_OPTIONS', nomadBin, 'agent', '-dev', '-config', join(base, 'agent.hcl')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d) => (output += d))
    proc.stderr!.on('data', (d) => (output += d))
    await waitForClient(api, proc, () => output)
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}\n${output.slice(-3000)}`)
  }
  return { consul, net, clientIp: CLIENT_IP, addr, dataDir, api, cli, logs: () => output, stop }
}

/**
 * PIDs of the lab's task processes: those that name a path under `dir` in their command line
 * (raw_exec tasks, executors, HAProxy), or carry one of `allocIds` in their environment (exec
 * tasks, whose paths are chroot-relative).
 */
export function processesUnder(dir: string, allocIds: string[] = []): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry))
      else if (allocIds.length > 0) {
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8')
        if (allocIds.some((id) => environ.includes(`NOMAD_ALLOC_ID=${id}\0`))) pids.push(Number(entry))
      }
    } catch {
      // exited meanwhile
    }
  }
  return pids
}

function quietKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true
    await new Promise((r) => setTimeout(r, 250))
  }
  return false
}

/** A folder with `meshplate` (the built CLI), `consul` and `haproxy`, put first on the agent's PATH. */
function binDir(base: string): string {
  const dir = join(base, 'bin')
  mkdirSync(dir, { recursive: true })
  const meshplate = join(dir, 'meshplate')
  writeFileSync(meshplate, `#!/bin/sh\nexec ${process.execPath} ${cliPath} "$@"\n`)
  chmodSync(meshplate, 0o755)
  for (const name of ['consul', 'haproxy'] as const) {
    try {
      symlinkSync(binary(name), join(dir, name))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  return dir
}

function agentHcl(o: { dataDir: string; http: number; rpc: number; serf: number; grpc: number } & NomadLabOptions): string {
  return `
data_dir  = "${o.dataDir}"
bind_addr = "127.0.0.1"
log_level = "INFO"
disable_update_check = true
ports {
  http = ${o.http}
  rpc  = ${o.rpc}
  serf = ${o.serf}
}
consul {
  address      = "${CLIENT_IP}:8500"
  grpc_address = "${CLIENT_IP}:${o.grpc}"
}
client {
  enabled               = true
  network_interface     = "${CLIENT_BRIDGE}"
  cni_path              = "/usr/lib/cni"
  bridge_network_name   = "${ALLOC_BRIDGE}"
  bridge_network_subnet = "${ALLOC_SUBNET}"
  options {
    # No cloud-metadata fingerprinting: it dials 169.254.169.254.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
${o.clientHcl ?? ''}
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
${o.hcl ?? ''}
`
}

async function waitForClient(api: NomadLab['api'], proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`nomad exited ${proc.exitCode}`)
    try {
      const nodes = await api('GET', '/v1/nodes')
      const node = nodes.body?.find((n: { Status: string }) => n.Status === 'ready')
      if (node) {
        const info = await api('GET', `/v1/node/${node.ID}`)
        const drivers = info.body?.Drivers ?? {}
        const bridge = info.body?.Attributes?.['plugins.cni.version.bridge']
        if (drivers.raw_exec?.Healthy && drivers.exec?.Detected && bridge) return
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`nomad client not ready with raw_exec, exec and CNI bridge: ${output().slice(-1500)}`)
}

async function stopProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const done = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGINT')
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await done
  clearTimeout(timer)
}
