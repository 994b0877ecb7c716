/**
 * One blocking loop for one dependency (consul-template's `watch/view.go`).
 * Each Consul rule is its own branch below: a stale answer older than max
 * stale is asked again of the leader, same index means a wait timeout, a lower
 * index resets to 0, equal data is dropped, and calls are spaced by at least
 * ~100 ms. Errors keep the last good data and back off with jitter. Each
 * answer is logged at debug level with what Consul says of its staleness
 * (X-Cache, Age, X-Consul-LastContact, the query backend).
 */
import { isDeepStrictEqual } from 'node:util'
import type { AnswerMeta, ConsulClient } from '../consul/client.ts'
import type { Dependency, FetchResult } from '../dependency/dependency.ts'
import { errorLine } from '../errors.ts'
import type { Logger } from '../log.ts'
import { cappedDelay, exponentialBackoff, retryCapMs, sleep, type Backoff } from './backoff.ts'

export interface ViewOptions {
  waitMs: number
  /** Minimum spacing between two calls. */
  minIntervalMs: number
  /** Interval for dependencies that cannot block (prepared queries). */
  pollIntervalMs: number
  backoff: Backoff
  /**
   * consul-template's `max_stale`: a `?stale` answer whose server last heard from the leader
   * longer ago than this is dropped and asked again at default consistency (the leader).
   * 0 reads at default consistency always. Default 2 s, consul-template's default.
   */
  maxStaleMs?: number
}

/** consul-template's DefaultMaxStale. */
export const DEFAULT_MAX_STALE_MS = 2_000

export const defaultViewOptions: ViewOptions = {
  waitMs: 60_000,
  minIntervalMs: 100,
  pollIntervalMs: 10_000,
  backoff: exponentialBackoff(),
  maxStaleMs: DEFAULT_MAX_STALE_MS,
}

export interface ViewEvents {
  onData(id: string, data: unknown): void
  onError(id: string, err: unknown): void
}

/** Polls one dependency until stopped, reporting new data and errors. */
export class View {
  #index = 0
  #hash: string | undefined
  #data: unknown
  #hasData = false
  #digest: string | undefined
  /** The last stale answer was too old: the next read goes to the leader. */
  #consistent = false
  readonly #abort = new AbortController()
  #running: Promise<void> | undefined

  constructor(
    readonly dependency: Dependency,
    readonly client: ConsulClient,
    readonly events: ViewEvents,
    readonly log: Logger,
    readonly options: ViewOptions = defaultViewOptions,
  ) {}

  start(): void {
    this.#running ??= this.#loop()
  }

  /** Aborts the in-flight request and resolves once the loop has exited. */
  async stop(): Promise<void> {
    this.#abort.abort()
    await this.#running
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal
    let failures = 0
    while (!signal.aborted) {
      const started = Date.now()
      try {
        await this.#fetchOnce(signal)
        failures = 0
      } catch (err) {
        if (signal.aborted) break
        failures++
        const delay = cappedDelay(this.options.backoff.delay(failures), retryCapMs(err))
        this.log.warn(`${errorLine(err)}; retry ${failures} in ${delay} ms`)
        this.events.onError(this.dependency.id, err)
        await sleep(delay, signal)
        continue
      }
      // A non-blocking dependency is polled on an interval.
      const floor = this.dependency.blocking === 'poll' ? this.options.pollIntervalMs : this.options.minIntervalMs
      // Keep at least `floor` between calls, so a flapping index cannot spin us.
      const elapsed = Date.now() - started
      if (elapsed < floor) await sleep(floor - elapsed, signal)
    }
  }

  async #fetchOnce(signal: AbortSignal): Promise<void> {
    const dep = this.dependency
    const maxStale = this.options.maxStaleMs ?? DEFAULT_MAX_STALE_MS
    const consistent = this.#consistent || maxStale === 0
    // One read at default consistency, as consul-template: the next (even after an error) is stale again.
    this.#consistent = false
    const o = { index: this.#index, hash: this.#hash, waitMs: this.options.waitMs, signal, consistent, pollMs: this.options.pollIntervalMs }
    const result = await dep.fetch(this.client, o)
    if (signal.aborted) return
    const lastContact = result.meta?.lastContactMs ?? 0
    if (dep.answeredBy === 'any-server' && !consistent && lastContact > maxStale) {
      // A stale answer from a server that lost the leader for longer than max stale: ask the leader.
      this.log.debug(`answer ${lastContact} ms behind the leader (max stale ${maxStale} ms); asking the leader`)
      this.#consistent = true
      return
    }
    this.log.debug('answer', answerFields(result, consistent && dep.answeredBy === 'any-server'))
    if (dep.blocking === 'index' && result.index !== undefined) {
      if (this.#hasData && result.index === this.#index) {
        // Same index: the wait timed out with nothing new. Loop again.
        return
      }
      if (result.index < this.#index) {
        // The index went backwards (agent restart, snapshot restore): start over from 0.
        this.log.info(`index went backwards (${this.#index} -> ${result.index}); resetting`)
        this.#index = 0
      } else {
        this.#index = result.index
      }
    }
    if (dep.blocking === 'hash') this.#hash = result.hash
    const same = result.digest !== undefined ? result.digest === this.#digest : isDeepStrictEqual(result.data, this.#data)
    this.#digest = result.digest
    if (this.#hasData && same) {
      // A new index with identical data (another key changed): nothing to render.
      return
    }
    this.#data = result.data
    this.#hasData = true
    this.log.debug('new data', { index: this.#index })
    this.events.onData(dep.id, result.data)
  }
}

/** The log fields of one answer: its index, what Consul said of where it came from, and whether the leader was asked. */
function answerFields(result: FetchResult<unknown>, consistent: boolean): Record<string, unknown> {
  const m: AnswerMeta = result.meta ?? {}
  const fields: Record<string, unknown> = {}
  if (result.index !== undefined) fields.index = result.index
  if (m.cache) fields.cache = m.cache
  if (m.ageS !== undefined) fields.age = `${m.ageS}s`
  if (m.backend) fields.backend = m.backend
  if (m.lastContactMs !== undefined) fields.lastContact = `${m.lastContactMs}ms`
  if (consistent) fields.consistency = 'leader'
  return fields
}
