/**
 * A real Consul agent for integration and end-to-end tests, started by the repository's one
 * launcher (bench/lib/consul.mjs: `-dev` on free loopback ports by default, or a single server
 * keeping state in `dataDir`), with helpers for what tests do to it: register services with
 * sidecars, write intentions, kill and restart it on the same ports. Dev agents keep state in
 * memory, so a restart loses registrations, as a real agent restart loses the ones Nomad must
 * re-register.
 */
import { sidecarRegistration, startConsul as launchConsul, startConsulServerAndClient, type ConsulLaunchOptions, type ConsulProcess, type SidecarSpec } from '../../bench/lib/consul.mjs'
import { binary } from './binaries.ts'

export interface ConsulAgent extends ConsulProcess {
  registerWithSidecar(s: ServiceSpec): Promise<void>
  deregister(id: string): Promise<void>
  intention(source: string, destination: string, action: 'allow' | 'deny'): Promise<void>
  deleteIntention(source: string, destination: string): Promise<void>
}

/** A service with a sidecar, as registerWithSidecar() registers it (its TTL check is `test-ttl`). */
export type ServiceSpec = Omit<SidecarSpec, 'checkName' | 'ttl'>

/** hcl, token, acl, bind (loopback, or the Nomad lab's own bridge address), httpPort, grpcPort, dataDir: bench/lib/consul.d.mts. */
export type ConsulOptions = ConsulLaunchOptions

/** Starts an agent (bench/lib/consul.mjs, node `meshplate-test`) and waits until its Connect CA answers. */
export async function startConsul(options: ConsulOptions = {}): Promise<ConsulAgent> {
  return withHelpers(await launchConsul({ bin: binary('consul'), node: 'meshplate-test', ...options }))
}

/**
 * A server keeping its state in `serverDataDir` and a client agent joined to it, both on
 * loopback: what a Nomad node talks to. Sidecars talk to the client; killing the server
 * (`server.kill()`, `server.start()`) is a server outage the client lives through.
 */
export async function startServerAndClient(serverDataDir: string): Promise<{ server: ConsulAgent; client: ConsulAgent; stop(): Promise<void> }> {
  const pair = await startConsulServerAndClient({ bin: binary('consul'), server: { dataDir: serverDataDir } })
  return { server: withHelpers(pair.server), client: withHelpers(pair.client), stop: () => pair.stop() }
}

function withHelpers(agent: ConsulProcess): ConsulAgent {
  const api = agent.api
  const helpers: Omit<ConsulAgent, keyof ConsulProcess> = {
    async registerWithSidecar(s) {
      const res = await api('PUT', '/v1/agent/service/register', sidecarRegistration({ ...s, checkName: 'test-ttl' }))
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
  }
  return Object.assign(agent, helpers)
}
