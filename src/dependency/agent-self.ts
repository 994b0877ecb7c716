/**
 * `intentionDefault()`: what the agent does with a request no intention
 * decides, read from the agent itself (`GET /v1/agent/self`), never guessed.
 * Consul 1.14 derives it from ACLs, as it does for Envoy's RBAC default:
 * allow when ACLs are off, else `acl.default_policy`; later releases add
 * `default_intention_policy`, which wins when set. The answer does not block
 * (the agent's config changes only on a restart or reload), so it is polled.
 * Only the three fields are kept, not the agent's whole configuration.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optObj, type JsonObject } from '../consul/schema.ts'
import { SchemaError } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface IntentionDefault {
  /** `allow` or `deny`: the action for a request no intention (or no L7 permission) decides. */
  Action: 'allow' | 'deny'
  /** Where it came from, for logs and README: `acls-disabled`, `acl-default-policy`, `default-intention-policy`. */
  Source: string
}

/** Reads the default intention action out of an agent self body. */
export function parseIntentionDefault(body: unknown): IntentionDefault {
  const debug = obj(obj(body, 'self').DebugConfig, 'DebugConfig')
  const explicit = debug.DefaultIntentionPolicy
  if (explicit === 'allow' || explicit === 'deny') return { Action: explicit, Source: 'default-intention-policy' }
  const acl: JsonObject = optObj(debug.ACLResolverSettings, 'DebugConfig.ACLResolverSettings')
  const enabled = debug.ACLsEnabled ?? acl.ACLsEnabled
  if (typeof enabled !== 'boolean') throw new SchemaError('DebugConfig.ACLsEnabled is not a boolean')
  if (!enabled) return { Action: 'allow', Source: 'acls-disabled' }
  const policy = acl.ACLDefaultPolicy
  if (policy !== 'allow' && policy !== 'deny') throw new SchemaError(`DebugConfig.ACLResolverSettings.ACLDefaultPolicy ${JSON.stringify(policy)} is not allow or deny`)
  return { Action: policy, Source: 'acl-default-policy' }
}

/** Polls `GET /v1/agent/self` for the default intention action. */
export class IntentionDefaultDependency implements Dependency<IntentionDefault> {
  readonly id = 'agent.intention-default'
  readonly blocking = 'poll' as const

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<IntentionDefault>> {
    const path = '/v1/agent/self'
    const res = await client.get(path, {}, { signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseIntentionDefault) }
  }
}
