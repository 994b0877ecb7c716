// The renderer benchmark's Consul: an agent from the shared launcher (bench/lib/consul.mjs),
// spawned through procs.mjs so every stop path stops it, and the few API calls the benchmark
// makes to it: KV writes and catalog registrations of external nodes (which anti-entropy
// leaves alone), one at a time or in parallel batches.
import { startConsul as launchConsul } from '../../lib/consul.mjs'
import { sleep } from './stats.mjs'
import { start } from './procs.mjs'

/** Starts the agent and waits until it has a leader that lists it; adds the benchmark's calls. */
export async function startConsul(bin, cwd) {
  const agent = await launchConsul({ bin, node: 'meshplate-bench', ready: 'leader', requestTimeoutMs: 10_000, spawn: (cmd, args) => start(cmd, args, { cwd }) })
  const api = agent.json

  /** Registers one instance on its own external node. */
  const register = ({ node, nodeAddress, id, service, port, address, weight }) => {
    const svc = { ID: id, Service: service, Port: port }
    if (address) svc.Address = address
    if (weight) svc.Weights = { Passing: weight, Warning: 1 }
    return api('PUT', '/v1/catalog/register', { Node: node, Address: nodeAddress, Service: svc })
  }

  return Object.assign(agent, {
    putKv: (key, value) => api('PUT', `/v1/kv/${key}`, value),
    register,
    /** Registers many instances, `parallel` requests at a time. */
    async registerMany(specs, parallel = 16) {
      let next = 0
      const worker = async () => {
        while (next < specs.length) await register(specs[next++])
      }
      await Promise.all(Array.from({ length: parallel }, worker))
    },
    /** Waits until `GET /v1/health/service/<name>?passing` lists `count` instances. */
    async waitForInstances(name, count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        if ((await api('GET', `/v1/health/service/${name}?passing`)).length === count) return
        await sleep(100)
      }
      throw new Error(`service ${name} did not reach ${count} passing instances`)
    },
  })
}
