// The Consul side of the benchmark: a `consul agent -dev` on free loopback
// ports (its HTTP API is all the sidecars need), service registrations whose
// sidecars are healthy through a passing TTL check, and allow intentions so
// that authorize.lua decides from its table.
import { freePorts } from '../../lib/shared.mjs'
import { join } from 'node:path'
import { start } from './procs.mjs'

export { freePorts }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Starts the agent and waits until its Connect CA issues leaf certificates. */
export async function startConsul(bin, work) {
  const [http, serfLan, serfWan, server] = await freePorts(4)
  const addr = `127.0.0.1:${http}`
  const proc = start(bin, [
    'agent', '-dev', '-node', 'bench', '-bind', '127.0.0.1', '-client', '127.0.0.1',
    '-http-port', String(http), '-dns-port', '-1', '-grpc-port', '-1',
    '-serf-lan-port', String(serfLan), '-serf-wan-port', String(serfWan), '-server-port', String(server),
    '-hcl', 'ports { grpc_tls = -1 }', '-log-level', 'warn',
  ], { logFile: join(work, 'consul.log') })
  const api = async (method, path, body) => {
    const res = await fetch(`http://${addr}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`consul ${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    return text ? JSON.parse(text) : undefined
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`consul exited ${proc.exitCode}: ${proc.log().slice(-1000)}`)
    if (Date.now() > deadline) throw new Error(`consul did not become ready: ${proc.log().slice(-1000)}`)
    try {
      const roots = await api('GET', '/v1/agent/connect/ca/roots')
      if (roots?.Roots?.length && (await api('GET', '/v1/agent/connect/ca/leaf/ping'))) break
    } catch {
      // not up yet
    }
    await sleep(100)
  }
  return {
    addr,
    proc,
    api,
    /** Registers a service with a Connect sidecar on `sidecarPort`. */
    register: ({ name, port, sidecarPort, protocol, upstreams = [] }) =>
      api('PUT', '/v1/agent/service/register', {
        ID: name, Name: name, Port: port, Address: '127.0.0.1',
        Connect: {
          SidecarService: {
            Port: sidecarPort,
            Proxy: { Upstreams: upstreams, Config: { protocol, bind_address: '127.0.0.1' }, LocalServiceAddress: '127.0.0.1' },
            Checks: [{ Name: 'ttl', TTL: '1h', Status: 'passing' }],
          },
        },
      }),
    /** Writes an exact intention source -> destination. */
    intention: (source, destination, action) =>
      api('PUT', `/v1/connect/intentions/exact?source=${source}&destination=${destination}`, { Action: action }),
  }
}
