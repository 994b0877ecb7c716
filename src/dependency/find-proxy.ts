/**
 * `--sidecar-for <service-id>`: finds the connect proxy registered for a
 * service among `/v1/agent/services`. Inside a Nomad allocation the ids are
 * generated (`_nomad-task-<alloc>-group-<group>-<svc>-<port>`), so a plain
 * service name is matched within this allocation (NOMAD_ALLOC_ID) as well.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optObj, optStr } from '../consul/schema.ts'
import { MeshplateError } from '../errors.ts'
import { validate } from './dependency.ts'

interface ProxyEntry {
  id: string
  destinationId: string
  destinationName: string
}

/** Returns the proxy id for `target`, or throws PROXY_NOT_FOUND. */
export async function findProxyId(client: ConsulClient, target: string, nomadAllocId?: string, signal?: AbortSignal): Promise<string> {
  const path = '/v1/agent/services'
  const res = await client.get(path, { filter: 'Kind == "connect-proxy"' }, { signal })
  const proxies = validate(`GET ${path}`, res.body, parseProxies)
  const exact = proxies.filter((p) => p.destinationId === target)
  if (exact.length === 1) return exact[0]!.id
  const byName = proxies.filter(
    (p) => p.destinationName === target && (!nomadAllocId || p.destinationId.startsWith(`_nomad-task-${nomadAllocId}-`)),
  )
  if (byName.length === 1) return byName[0]!.id
  if (byName.length > 1) {
    throw new MeshplateError('PROXY_NOT_FOUND', `${byName.length} connect proxies match service "${target}" by name (${byName.map((p) => p.id).join(', ')}); give --proxy-id`)
  }
  if (!nomadAllocId) throw new MeshplateError('PROXY_NOT_FOUND', `no connect proxy for service "${target}" on this agent: none registered yet`)
  const inAlloc = proxies.filter((p) => p.destinationId.startsWith(`_nomad-task-${nomadAllocId}-`)).map((p) => p.destinationName)
  const here = inAlloc.length ? `it registers proxies for: ${[...new Set(inAlloc)].join(', ')}` : 'it has registered no connect proxy yet'
  throw new MeshplateError('PROXY_NOT_FOUND', `no connect proxy for service "${target}" in Nomad allocation ${nomadAllocId}: ${here}`)
}

function parseProxies(body: unknown): ProxyEntry[] {
  return Object.entries(obj(body, 'services')).map(([id, value]) => {
    const proxy = optObj(obj(value, id).Proxy, `${id}.Proxy`)
    return {
      id,
      destinationId: optStr(proxy.DestinationServiceID, `${id}.Proxy.DestinationServiceID`),
      destinationName: optStr(proxy.DestinationServiceName, `${id}.Proxy.DestinationServiceName`),
    }
  })
}
