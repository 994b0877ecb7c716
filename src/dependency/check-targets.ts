/**
 * `exposedChecks()`, second half: the app port an exposed check targets.
 * Envoy serves each exposed check from the port in the check's own URL (HTTP)
 * or `host:port/service` target (gRPC); Consul 1.14's HTTP API gives neither
 * for a check registered through `PUT /v1/agent/service/register` (see
 * exposed-checks.ts). For services defined in the agent's config files
 * (`service { check { http = ... } connect { sidecar_service { proxy {
 * expose { checks = true } } } } }`, the documented use), `GET
 * /v1/agent/self` has them as written, in `DebugConfig.Services[].Check` and
 * `.Checks[]`. The agent names such a check `service:<id>`, or
 * `service:<id>:<n>` when the service has several (agent/agent.go,
 * addServiceInternal), unless the definition gives an id. DebugConfig is the
 * agent's config at its last (re)load and is documented as unstable, so a
 * shape this reader does not know means "no targets known", never an error:
 * the caller then falls back to the service's port. Needs `agent:read`, like
 * `agentAddress()`, which every exposed check path needs anyway.
 */
import type { ConsulClient } from '../consul/client.ts'
import type { Json, JsonObject } from '../consul/schema.ts'
import { obj, optObj } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

/** A check's target as a config file wrote it: exactly one of HTTP and GRPC is set. */
export interface CheckTarget {
  /** The id the agent gives the check. */
  CheckID: string
  /** The service it belongs to (its ID, else its name). */
  ServiceID: string
  HTTP: string
  GRPC: string
}

/** The HTTP and gRPC check targets of every service in an agent self body's DebugConfig. */
export function parseCheckTargets(body: unknown): CheckTarget[] {
  const services = optObj(obj(body, 'self').DebugConfig, 'DebugConfig').Services
  if (!Array.isArray(services)) return []
  return services.flatMap((s) => (isObject(s) ? serviceTargets(s) : []))
}

function serviceTargets(s: JsonObject): CheckTarget[] {
  const serviceId = text(s.ID) || text(s.Name)
  if (!serviceId) return []
  // ServiceDefinition.CheckTypes(): `Check` first when it is set, then `Checks`.
  const checks = [...(isObject(s.Check) && isSet(s.Check) ? [s.Check] : []), ...(Array.isArray(s.Checks) ? s.Checks.filter(isObject) : [])]
  return checks.flatMap((c, i) => {
    const id = text(c.CheckID) || text(c.ID) || (checks.length > 1 ? `service:${serviceId}:${i + 1}` : `service:${serviceId}`)
    const http = text(c.HTTP)
    const grpc = text(c.GRPC)
    return http || grpc ? [{ CheckID: id, ServiceID: serviceId, HTTP: http, GRPC: grpc }] : []
  })
}

/** A check definition with a type (CheckType.Validate requires one), not the zero value DebugConfig prints. */
function isSet(c: JsonObject): boolean {
  const any = ['HTTP', 'GRPC', 'TCP', 'UDP', 'H2PING', 'OSService', 'DockerContainerID', 'AliasService', 'AliasNode'].some((k) => text(c[k]))
  const ttl = text(c.TTL)
  return any || (ttl !== '' && ttl !== '0s') || (Array.isArray(c.ScriptArgs) && c.ScriptArgs.length > 0)
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function text(v: Json | undefined): string {
  return typeof v === 'string' ? v : ''
}

/** Polls `GET /v1/agent/self` for the check targets of the services in the agent's config files. */
export class CheckTargetsDependency implements Dependency<CheckTarget[]> {
  readonly id = 'agent.checkTargets'
  readonly blocking = 'poll' as const
  readonly answeredBy = 'agent' as const

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CheckTarget[]>> {
    const path = '/v1/agent/self'
    const res = await client.get(path, {}, { signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseCheckTargets) }
  }
}
