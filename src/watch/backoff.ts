/**
 * Jittered exponential backoff for failed Consul calls: 250 ms doubling to a
 * 60 s cap, with "full jitter" so a fleet of sidecars does not retry in step
 * after an agent restart. `run` never gives up; `once` is bounded elsewhere.
 * Two kinds of failure are capped lower (retryCapMs), so that a sidecar
 * notices within about 2 s that its agent or its registration is back.
 */
import { ConsulHttpError, ConsulUnreachableError } from '../errors.ts'

export interface Backoff {
  /** The delay before retry number `attempt` (1-based). */
  delay(attempt: number): number
}

/** Creates the default backoff; `random` is injectable for tests. */
export function exponentialBackoff(baseMs = 250, capMs = 60_000, random: () => number = Math.random): Backoff {
  return {
    delay(attempt) {
      const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1))
      return Math.round(ceiling / 2 + random() * (ceiling / 2))
    },
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** 404: the agent answered that the thing (e.g. our own registration) is not there yet. */
const NOT_FOUND_CAP_MS = 1_000
/**
 * Agent unreachable: the agent is the local one, so a refused connection costs microseconds
 * and a hung one is already bounded by the request timeout; retrying every 0.5-1 s per view
 * does not hammer it, and brings every view back within 2 s of its return.
 */
const UNREACHABLE_CAP_MS = 1_000

/** The longest delay before retrying after `err`; other errors (403, 429, 5xx) use the full backoff. */
export function retryCapMs(err: unknown): number {
  if (err instanceof ConsulHttpError && err.status === 404) return NOT_FOUND_CAP_MS
  if (err instanceof ConsulUnreachableError) return UNREACHABLE_CAP_MS
  return Infinity
}

/** `delay`, or a jittered delay within `capMs` when it is longer (so capped retries still spread). */
export function cappedDelay(delay: number, capMs: number, random: () => number = Math.random): number {
  return delay <= capMs ? delay : Math.round(capMs / 2 + random() * (capMs / 2))
}
