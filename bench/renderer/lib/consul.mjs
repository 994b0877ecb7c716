// A real `consul agent -dev` on free loopback ports, and the few API calls the
// benchmark makes to it: KV writes and catalog registrations of external
// nodes (which anti-entropy leaves alone), one at a time or in parallel batches.
import { freePorts } from '../../lib/shared.mjs'
import { sleep } from './stats.mjs'
import { start, stop } from './procs.mjs'


/** Starts the agent (up to 3 tries, in case a probed port was taken meanwhile) and waits for a leader. */
export async function startConsul(bin, cwd) {
  let lastError
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [http, serfLan, serfWan, server] = await freePorts(4)
    const args = [
      'agent', '-dev', '-node', 'meshplate-bench', '-bind', '127.0.0.1', '-client', '127.0.0.1',
      '-http-port', String(http), '-dns-port', '-1', '-grpc-port', '-1',
      '-serf-lan-port', String(serfLan), '-serf-wan-port', String(serfWan), '-server-port', String(server),
      '-hcl', 'ports { grpc_tls = -1 }', '-log-level', 'warn',
    ]
    const proc = start(bin, args, { cwd })
    const agent = new Consul(`127.0.0.1:${http}`, proc)
    try {
      await agent.ready(30_000)
      return agent
    } catch (err) {
      lastError = err
      await stop(proc)
    }
  }
  throw lastError
}

export class Consul {
  constructor(addr, proc) {
    this.addr = addr
    this.proc = proc
  }

  async api(method, path, body) {
    const res = await fetch(`http://${this.addr}${path}`, {
      method,
      body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`consul ${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    return text === '' ? undefined : JSON.parse(text)
  }

  async ready(timeoutMs) {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`consul exited ${this.proc.exitCode}: ${this.proc.tail().slice(-500)}`)
      try {
        if (await this.api('GET', '/v1/status/leader')) {
          await this.api('PUT', '/v1/kv/bench/ping', 'x')
          return
        }
      } catch {
        // not up yet
      }
      await sleep(100)
    }
    throw new Error(`consul did not elect a leader in ${timeoutMs} ms: ${this.proc.tail().slice(-500)}`)
  }

  putKv(key, value) {
    return this.api('PUT', `/v1/kv/${key}`, value)
  }

  /** Registers one instance on its own external node. */
  register({ node, nodeAddress, id, service, port, address, weight }) {
    const svc = { ID: id, Service: service, Port: port }
    if (address) svc.Address = address
    if (weight) svc.Weights = { Passing: weight, Warning: 1 }
    return this.api('PUT', '/v1/catalog/register', { Node: node, Address: nodeAddress, Service: svc })
  }

  /** Registers many instances, `parallel` requests at a time. */
  async registerMany(specs, parallel = 16) {
    let next = 0
    const worker = async () => {
      while (next < specs.length) await this.register(specs[next++])
    }
    await Promise.all(Array.from({ length: parallel }, worker))
  }

  /** Waits until `GET /v1/health/service/<name>?passing` lists `count` instances. */
  async waitForInstances(name, count, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const list = await this.api('GET', `/v1/health/service/${name}?passing`)
      if (list.length === count) return
      await sleep(100)
    }
    throw new Error(`service ${name} did not reach ${count} passing instances`)
  }
}
