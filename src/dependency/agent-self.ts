/**
 * `intentionDefault()`: what the agent does with a request no intention
 * decides, read from the agent itself, never guessed, and as Consul computes
 * it for Envoy's RBAC default. Consul 1.14 takes it from `acl.default_policy`
 * (agent/agent.go, `IntentionDefaultAllow` for the proxycfg manager), even
 * when ACLs are disabled: an agent with ACLs off but `default_policy = "deny"`
 * gives Envoy a deny default while its authorize endpoint allows; meshplate
 * follows Envoy. Consul 1.18 adds `default_intention_policy`, which wins when
 * set. `GET /v1/agent/self` says so, but needs `agent:read`, which a sidecar's
 * service-identity token (Nomad's si_token) lacks. On a 403 the agent is
 * asked the same question the way it answers proxies: `POST
 * /v1/agent/connect/authorize` (which a sidecar's token may call) for a source
 * in a namespace no intention of an open-source Consul can name; its answer is
 * the default, and its reason must say so ("Default behavior configured by
 * ACLs" on 1.14, "Default intention policy" from 1.18 when the agent sets
 * `default_intention_policy`: agent/agent_endpoint.go), else it is an error.
 * Neither blocks (the agent's config changes only on a restart), so the
 * answer is polled. Only the answer is kept.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optObj, optStr, SchemaError, type JsonObject } from '../consul/schema.ts'
import { ConsulHttpError } from '../errors.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface IntentionDefault {
  /** `allow` or `deny`: the action for a request no intention (or no L7 permission) decides. */
  Action: 'allow' | 'deny'
  /** Where it came from: `acls-disabled`, `acl-default-policy`, `default-intention-policy`, `authorize`. */
  Source: string
}

/** A source no intention names: open-source Consul has only the `default` namespace. */
export const PROBE_URI = 'spiffe://meshplate.invalid/ns/meshplate-default-probe/dc/meshplate/svc/meshplate-default-probe'

/** Reads the default intention action out of an agent self body. */
export function parseIntentionDefault(body: unknown): IntentionDefault {
  const debug = obj(obj(body, 'self').DebugConfig, 'DebugConfig')
  const explicit = debug.DefaultIntentionPolicy
  if (explicit === 'allow' || explicit === 'deny') return { Action: explicit, Source: 'default-intention-policy' }
  const acl: JsonObject = optObj(debug.ACLResolverSettings, 'DebugConfig.ACLResolverSettings')
  const enabled = debug.ACLsEnabled ?? acl.ACLsEnabled
  if (typeof enabled !== 'boolean') throw new SchemaError('DebugConfig.ACLsEnabled is not a boolean')
  const policy = acl.ACLDefaultPolicy
  // With ACLs off the agent still hands Envoy `acl.default_policy` (allow unless configured).
  if (!enabled && (policy === undefined || policy === null || policy === '')) return { Action: 'allow', Source: 'acls-disabled' }
  if (policy !== 'allow' && policy !== 'deny') throw new SchemaError(`DebugConfig.ACLResolverSettings.ACLDefaultPolicy ${JSON.stringify(policy)} is not allow or deny`)
  return { Action: policy, Source: enabled ? 'acl-default-policy' : 'acls-disabled' }
}

/** "Default behavior configured by ACLs" (1.14) or "Default intention policy" (1.18+); never "Matched L4/L7 intention: …". */
const DEFAULT_REASON = /^Default (behavior|intention policy)\b/

/** Reads the authorize answer for PROBE_URI; only an answer given by default counts. */
export function parseProbeAnswer(body: unknown): IntentionDefault {
  const b = obj(body, 'authorize')
  const reason = optStr(b.Reason, 'Reason')
  if (typeof b.Authorized !== 'boolean') throw new SchemaError('Authorized is not a boolean')
  if (!DEFAULT_REASON.test(reason)) throw new SchemaError(`the answer for a source no intention names was decided by "${reason}", not by the default`)
  return { Action: b.Authorized ? 'allow' : 'deny', Source: 'authorize' }
}

/** Polls the default intention action for `destination` (agent self, else an authorize probe). */
export class IntentionDefaultDependency implements Dependency<IntentionDefault> {
  readonly id: string
  readonly blocking = 'poll' as const
  readonly answeredBy = 'agent' as const
  constructor(readonly destination: string) {
    this.id = `agent.intention-default(${destination})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<IntentionDefault>> {
    const self = '/v1/agent/self'
    try {
      const res = await client.get(self, {}, { signal: o.signal })
      return { data: validate(`GET ${self}`, res.body, parseIntentionDefault) }
    } catch (err) {
      if (!(err instanceof ConsulHttpError && err.status === 403)) throw err
    }
    const path = '/v1/agent/connect/authorize'
    const res = await client.write('POST', path, { Target: this.destination, ClientCertURI: PROBE_URI, ClientCertSerial: '' }, o.signal)
    return { data: validate(`POST ${path}`, res.body, parseProbeAnswer) }
  }
}
