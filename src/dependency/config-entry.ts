/**
 * `configEntry(kind, name)` and `meshConfig()`: one central config entry
 * (`mesh`, `proxy-defaults`, `service-defaults`, ...), blocking on index. An
 * entry that does not exist is data (`null`), not an error: most meshes have
 * no `mesh` entry, and the sidecar must render with Consul's defaults then.
 * The HTTP endpoint has no `?cached` (agent/config_endpoint.go), so any server
 * answers (`?stale`), as the agent's own config-entry cache asks for Envoy.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optStr, str, type JsonObject } from '../consul/schema.ts'
import { ConsulHttpError } from '../errors.ts'
import { seg, stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

/** Validates a config entry body: an object with its Kind (the `mesh` entry, a singleton, has no Name). */
export function parseConfigEntry(body: unknown): JsonObject {
  const entry = obj(body, 'entry')
  str(entry.Kind, 'Kind')
  optStr(entry.Name, 'Name')
  return entry
}

/** Watches `GET /v1/config/<kind>/<name>?stale`; a 404 is `null`. */
export class ConfigEntryDependency implements Dependency<JsonObject | null> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  constructor(readonly kind: string, readonly name: string) {
    this.id = `config.entry(${kind}/${name})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<JsonObject | null>> {
    const path = `/v1/config/${seg(this.kind)}/${seg(this.name)}`
    try {
      const res = await client.get(path, stale(o), { index: o.index, waitMs: o.waitMs, signal: o.signal })
      return { data: validate(`GET ${path}`, res.body, parseConfigEntry), index: res.index, meta: res.meta }
    } catch (err) {
      if (err instanceof ConsulHttpError && err.status === 404) return { data: null, index: err.index }
      throw err
    }
  }
}
