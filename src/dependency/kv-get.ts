/**
 * `key(path)`, `keyOrDefault(path, d)` and `keyExists(path)`: one KV value,
 * decoded from base64, with consul-template's `path[@dc]` syntax. A missing
 * key is data (`Exists: false`), not an error, so keyOrDefault and keyExists
 * render at once while `key` waits for the key to appear. KV has no agent
 * cache; it is read as consul-template reads it by default: `?stale` (any
 * server), asked again of the leader when older than max stale (2 s).
 */
import type { ConsulClient } from '../consul/client.ts'
import { ConfigError, ConsulHttpError } from '../errors.ts'
import { arr, obj, optStr } from '../consul/schema.ts'
import { stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface KvValue {
  Exists: boolean
  Value: string
}

/** Parses consul-template's KV query syntax, `path[@dc]` (a leading `/` is dropped). */
export function parseKvQuery(query: string): { path: string; dc: string } {
  const m = /^\/?([^@]*)(?:@([^@]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`key("${query}"): expected path[@dc]`)
  return { path: m[1]!, dc: m[2] ?? '' }
}

/** A KV path as a URL path: slashes kept, each segment percent-encoded. */
export function kvPath(path: string): string {
  return `/v1/kv/${path.split('/').map(encodeURIComponent).join('/')}`
}

export function parseKv(body: unknown): KvValue {
  const first = arr(body, 'kv')[0]
  if (first === undefined) return { Exists: false, Value: '' }
  const value = optStr(obj(first, 'kv[0]').Value, 'kv[0].Value')
  return { Exists: true, Value: Buffer.from(value, 'base64').toString('utf8') }
}

/** Watches `GET /v1/kv/<path>?stale[&dc=]`. */
export class KvGetDependency implements Dependency<KvValue> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly key: string
  readonly dc: string
  constructor(query: string) {
    ;({ path: this.key, dc: this.dc } = parseKvQuery(query))
    this.id = `kv.get(${this.key}${this.dc ? `@${this.dc}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<KvValue>> {
    const path = kvPath(this.key)
    try {
      const res = await client.get(path, { dc: this.dc || undefined, ...stale(o) }, { index: o.index, waitMs: o.waitMs, signal: o.signal })
      return { data: validate(`GET ${path}`, res.body, parseKv), index: res.index, meta: res.meta }
    } catch (err) {
      if (err instanceof ConsulHttpError && err.status === 404) return { data: { Exists: false, Value: '' }, index: err.index }
      throw err
    }
  }
}
