/**
 * A real `consul agent -dev` for integration and end-to-end tests, on free
 * loopback ports, with helpers for what tests do to it: register services
 * with sidecars, write intentions, kill and restart it on the same ports.
 * Dev agents keep state in memory, so a restart loses registrations, as a
 * real agent restart loses the ones Nomad must re-register.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { binary } from './binaries.ts'
import { jsonRequest, type ApiAnswer } from './json-api.ts'
import { freePorts } from './ports.ts'

export interface ConsulAgent {
  addr: string
  httpPort: number
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>
  registerWithSidecar(s: ServiceSpec): Promise<void>
  deregister(id: string): Promise<void>
  intention(source: string, destination: string, action: 'allow' | 'deny'): Promise<void>
  deleteIntention(source: string, destination: string): Promise<void>
  stop(): Promise<void>
  kill(): Promise<void>
  start(): Promise<void>
  logs(): string
}

export interface ServiceSpec {
  id?: string
  name: string
  port: number
  sidecarPort?: number
  address?: string
  upstreams?: Array<{ DestinationName: string; LocalBindPort: number; DestinationType?: string; Datacenter?: string; Config?: object; LocalBindAddress?: string }>
  proxyConfig?: Record<string, unknown>
  /** The sidecar's `Proxy.Expose` (`{ Checks, Paths }`). */
  expose?: Record<string, unknown>
  /** The service's own checks (e.g. an HTTP check that `Expose.Checks` exposes). */
  checks?: Array<Record<string, unknown>>
  /** Service.Meta of the service and its sidecar (what a resolver subset filters on). */
  meta?: Record<string, string>
}

export interface ConsulOptions {
  hcl?: string[]
  token?: string
  /** Address the agent binds and serves HTTP on (default 127.0.0.1). */
  bind?: string
  /** Fixed HTTP port (default: a free one). */
  httpPort?: number
  /** gRPC port for Nomad's Envoy bootstrap hook (default: off). */
  grpcPort?: number
  /**
   * A single-server agent that keeps its state here (CA, intentions, registrations and TTL
   * check states survive a restart, as on a real agent) instead of an in-memory -dev one.
   */
  dataDir?: string
}

/** Starts an agent and waits until its Connect CA answers. */
export async function startConsul(options: ConsulOptions = {}): Promise<ConsulAgent> {
  const [freeHttp, serfLan, serfWan, server] = await freePorts(4)
  const http = options.httpPort ?? freeHttp
  const bind = options.bind ?? '127.0.0.1'
  const addr = `${bind}:${http}`
  let proc: ChildProcess | undefined
  let output = ''

  const api: ConsulAgent['api'] = (method, path, body) =>
    jsonRequest(`http://${addr}${path}`, method, body, options.token ? { 'x-consul-token': options.token } : {})

  const start = async () => {
    const mode = options.dataDir
      ? ['-server', '-bootstrap-expect', '1', '-data-dir', options.dataDir, '-hcl', 'connect { enabled = true }', '-hcl', 'performance { raft_multiplier = 1 }']
      : ['-dev']
    const args = [
      'agent', ...mode, '-node', 'meshplate-test', '-bind', bind, '-client', bind,
      '-http-port', String(http), '-dns-port', '-1', '-grpc-port', String(options.grpcPort ?? -1),
      '-serf-lan-port', String(serfLan), '-serf-wan-port', String(serfWan), '-server-port', String(server),
      // No update check or anonymous signature: nothing a test runs may leave the machine.
      '-hcl', 'ports { grpc_tls = -1 }', '-hcl', 'disable_update_check = true', '-hcl', 'disable_anonymous_signature = true',
      '-log-level', 'warn',
      ...(options.hcl ?? []).flatMap((h) => ['-hcl', h]),
    ]
    proc = spawn(binary('consul'), args, { stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d) => (output += d))
    proc.stderr!.on('data', (d) => (output += d))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`consul exited ${proc.exitCode}: ${output.slice(-2000)}`)
      try {
        const roots = await api('GET', '/v1/agent/connect/ca/roots')
        const leaf = roots.status === 200 && roots.body?.Roots?.length > 0 ? await api('GET', '/v1/agent/connect/ca/leaf/ping') : undefined
        if (leaf?.status === 200) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`consul did not become ready: ${output.slice(-2000)}`)
  }

  const kill = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const p = proc
    const done = new Promise((r) => p.once('exit', r))
    p.kill('SIGKILL')
    await done
  }

  const agent: ConsulAgent = {
    addr,
    httpPort: http!,
    api,
    async registerWithSidecar(s) {
      const body = {
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
            // A passing TTL check replaces Consul's default TCP check, which would stay
            // critical (and hide the instance) until something listens on the port.
            Checks: [{ Name: 'test-ttl', TTL: '1h', Status: 'passing' }],
          },
        },
      }
      const res = await api('PUT', '/v1/agent/service/register', body)
      if (res.status !== 200) throw new Error(`register ${s.name}: ${res.status} ${res.text}`)
    },
    async deregister(id) {
      const res = await api('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`)
      if (res.status !== 200) throw new Error(`deregister ${id}: ${res.status} ${res.text}`)
    },
    async intention(source, destination, action) {
      const res = await api('PUT', `/v1/connect/intentions/exact?source=${source}&destination=${destination}`, { Action: action })
      if (res.status !== 200) throw new Error(`intention ${source}->${destination}: ${res.status} ${res.text}`)
    },
    async deleteIntention(source, destination) {
      const res = await api('DELETE', `/v1/connect/intentions/exact?source=${source}&destination=${destination}`)
      if (res.status !== 200) throw new Error(`delete intention ${source}->${destination}: ${res.status} ${res.text}`)
    },
    stop: kill,
    kill,
    start,
    logs: () => output,
  }
  await start()
  return agent
}
