/**
 * The shape every Consul query shares (consul-template's `dependency/`, typed).
 * A dependency knows its stable `id` (also the brain's cache key and the log
 * tag), how it blocks, who answers it, and how to fetch and validate one
 * answer. Views call `fetch` in a loop; templates only ever see the validated
 * data.
 *
 * Who answers matters at scale: a blocking query at Consul's default
 * consistency is forwarded to the leader, so every sidecar's watch would wake
 * there on every change. No dependency reads that way: each one is answered by
 * the local agent's own state, by the agent's cache or streaming view
 * (`?cached`), or by any server (`?stale`, bounded by the view's max stale as
 * consul-template does). docs/renderer.md has the table.
 */
import type { AnswerMeta, ConsulClient } from '../consul/client.ts'
import { ConsulResponseError } from '../errors.ts'
import { SchemaError } from '../consul/schema.ts'

export type BlockingMode = 'index' | 'hash' | 'poll'

/**
 * Who answers a dependency's query:
 * - `agent`: the local agent, from its own state (registrations, leaf certificate, roots, config);
 * - `agent-cache`: the agent's cache or streaming view (`?cached`), which the agent keeps fresh
 *   with one stale blocking query per key and token, to any server;
 * - `any-server`: any server (`?stale`); the view asks again at default consistency (the leader)
 *   when the answer is older than its max stale (consul-template's `max_stale`);
 * - `local`: no Consul at all (a file on this machine: `file(path)`).
 */
export type AnsweredBy = 'agent' | 'agent-cache' | 'any-server' | 'local'

export interface FetchOptions {
  index?: number
  hash?: string
  waitMs: number
  signal?: AbortSignal
  /** Set by the view after a stale answer older than its max stale: read at default consistency, without `?stale`. */
  consistent?: boolean
  /** A polled dependency's interval: how old an answer the agent's cache may give (`Cache-Control: max-age`). */
  pollMs?: number
}

export interface FetchResult<T> {
  data: T
  index?: number
  hash?: string
  /**
   * The response's digest, when `data` follows from that one body alone: the View then drops an
   * identical answer by comparing digests (0.6 ms for 888 KiB of text), not by walking the data
   * (3.6–6.1 ms for 1,000 instances in bench/renderer).
   */
  digest?: string
  /** Where the answer came from and how old it may be (X-Cache, Age, X-Consul-LastContact, ...), for the view's log. */
  meta?: AnswerMeta
}

export interface Dependency<T = unknown> {
  /** Stable, unique per distinct query: `health.connect(api@dc2)`. */
  readonly id: string
  readonly blocking: BlockingMode
  readonly answeredBy: AnsweredBy
  fetch(client: ConsulClient, options: FetchOptions): Promise<FetchResult<T>>
}

/** Runs a validator over a Consul body, turning schema failures into typed errors naming the endpoint. */
export function validate<T>(endpoint: string, body: unknown, parse: (body: unknown) => T): T {
  try {
    return parse(body)
  } catch (err) {
    if (err instanceof SchemaError) throw new ConsulResponseError(endpoint, err.message, { cause: err })
    throw err
  }
}

/** Query parameters of an `agent-cache` read: `cached`, and `stale` so that an agent with `http_config.use_cache` off still asks any server, not the leader. */
export const CACHED: Readonly<Record<string, string>> = Object.freeze({ cached: '', stale: '' })

/** Query parameters of an `any-server` read: `stale`, unless the view asks for a consistent read. */
export function stale(o: FetchOptions): Record<string, string> {
  return o.consistent ? {} : { stale: '' }
}

/** Percent-encodes one path segment (service names, ids). */
export function seg(value: string): string {
  return encodeURIComponent(value)
}
