// The Consul side of the benchmarks that run sidecars (dataplane, footprint, soak, changes, l7,
// image): an agent from the shared launcher (bench/lib/consul.mjs), spawned through procs.mjs
// so every stop path stops it, service registrations whose sidecars are healthy through a
// passing TTL check, and allow intentions so that authorize.lua decides from its table.
import { join } from 'node:path'
import { sidecarRegistration, startConsul as launchConsul } from '../../lib/consul.mjs'
import { freePorts } from '../../lib/shared.mjs'
import { start } from './procs.mjs'

export { freePorts }

/** Starts the agent (its log in `work`/consul.log) and waits until its Connect CA issues leaf certificates. */
export async function startConsul(bin, work) {
  const logFile = join(work, 'consul.log')
  const agent = await launchConsul({ bin, node: 'bench', logFile, spawn: (cmd, args) => start(cmd, args, { logFile }) })
  const api = agent.json
  return Object.assign(agent, {
    /** Registers a service with a Connect sidecar on `sidecarPort`. */
    register: ({ name, port, sidecarPort, protocol, upstreams }) =>
      api('PUT', '/v1/agent/service/register', sidecarRegistration({ name, port, sidecarPort, upstreams, proxyConfig: { protocol, bind_address: '127.0.0.1' } })),
    /** Writes an exact intention source -> destination. */
    intention: (source, destination, action) =>
      api('PUT', `/v1/connect/intentions/exact?source=${source}&destination=${destination}`, { Action: action }),
  })
}
