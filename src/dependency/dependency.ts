/**
 * The shape every Consul query shares (consul-template's `dependency/`, typed).
 * A dependency knows its stable `id` (also the brain's cache key and the log
 * tag), how it blocks, and how to fetch and validate one answer. Views call
 * `fetch` in a loop; templates only ever see the validated data.
 */
import type { ConsulClient } from '../consul/client.ts'
import { ConsulResponseError } from '../errors.ts'
import { SchemaError } from '../consul/schema.ts'

export type BlockingMode = 'index' | 'hash' | 'poll'

export interface FetchOptions {
  index?: number
  hash?: string
  waitMs: number
  signal?: AbortSignal
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
}

export interface Dependency<T = unknown> {
  /** Stable, unique per distinct query: `health.connect(api@dc2)`. */
  readonly id: string
  readonly blocking: BlockingMode
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

/** Percent-encodes one path segment (service names, ids). */
export function seg(value: string): string {
  return encodeURIComponent(value)
}
