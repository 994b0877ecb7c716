/**
 * `ls(prefix)`, `safeLs(prefix)`, `tree(prefix)` and `safeTree(prefix)`: every
 * key under a KV prefix, recursively, with consul-template's `prefix[@dc]`
 * syntax. One query serves all four (consul-template's `kv_list.go`): the
 * functions choose what to show (ls: the top level; tree: every key that is
 * not a folder). Keys are made relative to the prefix as consul-template does
 * (the prefix cut off, then any leading `/`). An empty or missing prefix is
 * data (an empty list; Consul answers 404 with an index to block on), so `ls`
 * renders empty at once and `safeLs` can refuse to. Read `?stale`, as `key()`.
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, obj, optNum, optStr, str } from '../consul/schema.ts'
import { ConfigError, ConsulHttpError } from '../errors.ts'
import { stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'
import { kvPath } from './kv-get.ts'

/** One KV pair, with consul-template's field names. */
export interface KeyPair {
  /** The full key. */
  Path: string
  /** The key relative to the prefix. */
  Key: string
  Value: string
  CreateIndex: number
  ModifyIndex: number
  LockIndex: number
  Flags: number
  Session: string
}

/** Parses `prefix[@dc]` (a leading `/` is dropped; an empty prefix is the whole store). */
export function parseKvPrefix(query: string): { prefix: string; dc: string } {
  const m = /^\/?([^@]*)(?:@([^@]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`ls("${query}"): expected prefix[@dc]`)
  return { prefix: m[1]!, dc: m[2] ?? '' }
}

/** Reads a `?recurse` body into pairs relative to `prefix`. */
export function parseKvList(prefix: string): (body: unknown) => KeyPair[] {
  return (body) =>
    arr(body, 'kv').map((v, i) => {
      const p = obj(v, `kv[${i}]`)
      const path = str(p.Key, `kv[${i}].Key`)
      return {
        Path: path,
        Key: (path.startsWith(prefix) ? path.slice(prefix.length) : path).replace(/^\/+/, ''),
        Value: Buffer.from(optStr(p.Value, `kv[${i}].Value`), 'base64').toString('utf8'),
        CreateIndex: optNum(p.CreateIndex, `kv[${i}].CreateIndex`),
        ModifyIndex: optNum(p.ModifyIndex, `kv[${i}].ModifyIndex`),
        LockIndex: optNum(p.LockIndex, `kv[${i}].LockIndex`),
        Flags: optNum(p.Flags, `kv[${i}].Flags`),
        Session: optStr(p.Session, `kv[${i}].Session`),
      }
    })
}

/** Watches `GET /v1/kv/<prefix>?recurse&stale[&dc=]`. */
export class KvListDependency implements Dependency<KeyPair[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly prefix: string
  readonly dc: string
  constructor(query: string) {
    ;({ prefix: this.prefix, dc: this.dc } = parseKvPrefix(query))
    this.id = `kv.list(${this.prefix}${this.dc ? `@${this.dc}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<KeyPair[]>> {
    const path = kvPath(this.prefix)
    try {
      const res = await client.get(path, { recurse: '', dc: this.dc || undefined, ...stale(o) }, { index: o.index, waitMs: o.waitMs, signal: o.signal })
      return { data: validate(`GET ${path}`, res.body, parseKvList(this.prefix)), index: res.index, digest: res.digest, meta: res.meta }
    } catch (err) {
      if (err instanceof ConsulHttpError && err.status === 404) return { data: [], index: err.index }
      throw err
    }
  }
}
