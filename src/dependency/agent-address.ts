/**
 * `agentAddress()`: the local agent's LAN advertise address, from
 * `GET /v1/agent/self` (`Member.Addr`). A path the agent exposes for one of
 * the service's checks (`Expose.Checks`) is plaintext and skips intentions,
 * so Consul's Envoy config lets only loopback and this address call it
 * (agent/xds/listeners.go, `AdvertiseAddrLAN`); the sidecar does the same.
 * The address changes only when the agent restarts, so it is polled, and
 * only by a template that has such a path.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, str } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

/** Reads the agent's LAN address out of an agent self body. */
export function parseAgentAddress(body: unknown): string {
  return str(obj(obj(body, 'self').Member, 'Member').Addr, 'Member.Addr')
}

/** Polls `GET /v1/agent/self` for the agent's LAN advertise address. */
export class AgentAddressDependency implements Dependency<string> {
  readonly id = 'agent.address'
  readonly blocking = 'poll' as const
  readonly answeredBy = 'agent' as const

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<string>> {
    const path = '/v1/agent/self'
    const res = await client.get(path, {}, { signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseAgentAddress) }
  }
}
