/**
 * `key(path)` and `keyOrDefault(path, d)`: one KV value, decoded from base64.
 * A missing key is data (`Exists: false`), not an error, so keyOrDefault can
 * render at once while `key` waits for the key to appear. KV has no agent
 * cache; it is read as consul-template reads it by default: `?stale` (any
 * server), asked again of the leader when older than max stale (2 s).
 */
import type { ConsulClient } from '../consul/client.ts'
import { ConsulHttpError } from '../errors.ts'
import { arr, obj, optStr } from '../consul/schema.ts'
import { stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface KvValue {
  Exists: boolean
  Value: string
}

export function parseKv(body: unknown): KvValue {
  const first = arr(body, 'kv')[0]
  if (first === undefined) return { Exists: false, Value: '' }
  const value = optStr(obj(first, 'kv[0]').Value, 'kv[0].Value')
  return { Exists: true, Value: Buffer.from(value, 'base64').toString('utf8') }
}

/** Watches `GET /v1/kv/<path>?stale`. */
export class KvGetDependency implements Dependency<KvValue> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  constructor(readonly key: string) {
    this.id = `kv.get(${key})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<KvValue>> {
    const path = `/v1/kv/${this.key.split('/').map(encodeURIComponent).join('/')}`
    try {
      const res = await client.get(path, stale(o), { index: o.index, waitMs: o.waitMs, signal: o.signal })
      return { data: validate(`GET ${path}`, res.body, parseKv), index: res.index, meta: res.meta }
    } catch (err) {
      if (err instanceof ConsulHttpError && err.status === 404) return { data: { Exists: false, Value: '' }, index: err.index }
      throw err
    }
  }
}
