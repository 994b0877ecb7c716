/**
 * Jittered exponential backoff for failed Consul calls: 250 ms doubling to a
 * 60 s cap, with "full jitter" so a fleet of sidecars does not retry in step
 * after an agent restart. `run` never gives up; `once` is bounded elsewhere.
 */

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
