/**
 * `intentions()`: the intentions that apply to one destination, in Consul's
 * precedence order. Rendered into the sidecar's authorization table, so most
 * connections are decided locally without asking the agent. Fields that set
 * a condition meshplate does not enforce are listed, never dropped
 * (unenforced.ts).
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, obj, optNum, optStr, str, type JsonObject } from '../consul/schema.ts'
import { INTENTION_KEYS, unenforcedKeys } from './unenforced.ts'
import { CACHED, seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface Intention {
  ID: string
  SourceName: string
  SourceNS: string
  SourcePartition: string
  SourcePeer: string
  SourceType: string
  /** Set on Consul 1.16+ (an Enterprise feature): the source is a sameness group's members. */
  SourceSamenessGroup: string
  DestinationName: string
  /** `allow` or `deny`; empty for L7 intentions, which carry Permissions. */
  Action: string
  Permissions: JsonObject[]
  Precedence: number
  /** Intention-level fields that set a condition meshplate does not enforce (`JWT`, keys it does not know). */
  Unenforced: string[]
}

export function parseIntentions(body: unknown, destination: string): Intention[] {
  const b = obj(body, 'match')
  return arr(b[destination], destination).map((v, i) => {
    const it = obj(v, `[${i}]`)
    return {
      ID: optStr(it.ID, `[${i}].ID`),
      SourceName: str(it.SourceName, `[${i}].SourceName`),
      SourceNS: optStr(it.SourceNS, `[${i}].SourceNS`),
      SourcePartition: optStr(it.SourcePartition, `[${i}].SourcePartition`),
      SourcePeer: optStr(it.SourcePeer, `[${i}].SourcePeer`),
      SourceType: optStr(it.SourceType, `[${i}].SourceType`),
      SourceSamenessGroup: optStr(it.SourceSamenessGroup, `[${i}].SourceSamenessGroup`),
      DestinationName: str(it.DestinationName, `[${i}].DestinationName`),
      Action: optStr(it.Action, `[${i}].Action`),
      Permissions: arr(it.Permissions, `[${i}].Permissions`).map((p, j) => obj(p, `[${i}].Permissions[${j}]`)),
      Precedence: optNum(it.Precedence, `[${i}].Precedence`),
      Unenforced: unenforcedKeys(it, INTENTION_KEYS),
    }
  })
}

/**
 * Watches `GET /v1/connect/intentions/match?by=destination&name=<svc>&cached&stale`: the
 * agent's cache answers, as it does Envoy's proxycfg (one background-refresh query per
 * destination and token, to any server), so an intention write wakes it once per agent.
 */
export class IntentionsMatchDependency implements Dependency<Intention[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent-cache' as const
  constructor(readonly destination: string) {
    this.id = `connect.intentions(${destination})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<Intention[]>> {
    const path = '/v1/connect/intentions/match'
    const res = await client.get(path, { by: 'destination', name: this.destination, ...CACHED }, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, (b) => parseIntentions(b, this.destination)), index: res.index, meta: res.meta }
  }
}
