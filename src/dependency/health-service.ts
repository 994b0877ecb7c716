/**
 * `service("name")`: the generic health query consul-template users know,
 * with an optional tag, datacenter and node to sort by round-trip time from
 * (`web`, `v2.web`, `web@dc2`, `web~_agent`: Consul's `near`). Passing
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

export interface ServiceQuery {
  tag: string
  name: string
  dc: string
  near: string
}

/** Parses `[tag.]name[@dc][~near]`; `fn` names the function in the error. */
export function parseServiceQuery(query: string, fn = 'service'): ServiceQuery {
  const m = /^(?:([^.@~]+)\.)?([^.@~]+)(?:@([^.@~]+))?(?:~([^.@~]+))?$/.exec(query.trim())
  if (!m) throw new ConfigError(`${fn}("${query}"): expected [tag.]name[@dc][~near]`)
  return { tag: m[1] ?? '', name: m[2]!, dc: m[3] ?? '', near: m[4] ?? '' }
}

/** The query written back in its canonical form (for ids). */
export function serviceQueryText(q: ServiceQuery): string {
  return `${q.tag ? `${q.tag}.` : ''}${q.name}${q.dc ? `@${q.dc}` : ''}${q.near ? `~${q.near}` : ''}`
}

/** The bexpr filter that keeps instances carrying `tag` (a quoted string literal). */
export function tagFilter(tag: string): string {
  return `Service.Tags contains ${JSON.stringify(tag)}`
}

/** Watches `GET /v1/health/service/<name>?passing[&filter=Service.Tags contains "<tag>"][&dc=][&near=]&stale`. */
export class HealthServiceDependency implements Dependency<HealthEntry[]> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'any-server' as const
  readonly #q: ServiceQuery
  constructor(query: string) {
    this.#q = parseServiceQuery(query)
    this.id = `health.service(${serviceQueryText(this.#q)})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<HealthEntry[]>> {
    const path = `/v1/health/service/${seg(this.#q.name)}`
    const query = { passing: '', filter: this.#q.tag ? tagFilter(this.#q.tag) : undefined, dc: this.#q.dc || undefined, near: this.#q.near || undefined, ...stale(o) }
    const res = await client.get(path, query, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseHealthEntries), index: res.index, digest: res.digest, meta: res.meta }
  }
}
