/**
 * `service("name")`: the generic health query consul-template users know,
 * with an optional tag and datacenter (`web`, `v2.web`, `web@dc2`). Passing
 * instances only, as consul-template's default. The tag goes to Consul as a
 * `filter` expression: `?tag=` is deprecated since Consul 1.15 in favour of
 * `filter` (website/content/api-docs/health.mdx), which 1.14 already honours.
 * Read as consul-template reads it by default: `?stale` (any server), asked
 * again of the leader when the answer is older than max stale (2 s). Blocking
 * calls are answered by the agent's streaming view on Consul 1.10+ anyway.
 */
import type { ConsulClient } from '../consul/client.ts'
import { ConfigError } from '../errors.ts'
import { seg, stale, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'
import { parseHealthEntries, type HealthEntry } from './health-entry.ts'

/** Parses `[tag.]name[@dc]`. */
export function parseServiceQuery(query: string): { tag: string; name: string; dc: string } {
  const m = /^(?:([^.@]+)\.)?([^.@]+)(?:@([^.@]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`service("${query}"): expected [tag.]name[@dc]`)
  return { tag: m[1] ?? '', name: m[2]!, dc: m[3] ?? '' }
}

/** The bexpr filter that keeps instances carrying `tag` (a quoted string literal). */
export function tagFilter(tag: string): string {
  return `Service.Tags contains ${JSON.stringify(tag)}`
}

/** Watches `GET /v1/health/service/<name>?passing[&filter=Service.Tags contains "<tag>"][&dc=]&stale`. */
export class HealthServiceDependency implements Dependency<HealthEntry[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly #q: { tag: string; name: string; dc: string }
  constructor(query: string) {
    this.#q = parseServiceQuery(query)
    const { tag, name, dc } = this.#q
    this.id = `health.service(${tag ? `${tag}.` : ''}${name}${dc ? `@${dc}` : ''})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<HealthEntry[]>> {
    const path = `/v1/health/service/${seg(this.#q.name)}`
    const query = { passing: '', filter: this.#q.tag ? tagFilter(this.#q.tag) : undefined, dc: this.#q.dc || undefined, ...stale(o) }
    const res = await client.get(path, query, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseHealthEntries), index: res.index, digest: res.digest, meta: res.meta }
  }
}
