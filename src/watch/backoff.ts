/**
 * Jittered exponential backoff for failed Consul calls: 250 ms doubling to a
 * 60 s cap, with "full jitter" so a fleet of sidecars does not retry in step
 * after an agent restart. `run` never gives up; `once` is bounded elsewhere.
 * Three kinds of failure are capped lower (retryCapMs), so that a sidecar
 * notices within about 2 s that its agent or its registration is back, and
 * within about 4 s that the agent's servers are: a retry of a cached query is
 * also what makes the agent fetch again, since its own refresh backs off to
 * a minute and more after a server outage (agent/cache/cache.go backOffWait).
 */
import { ConsulHttpError, ConsulUnreachableError, FileReadError } from '../errors.ts'

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

/**
 * The agent is up but its servers are not (restarting, no leader yet, the agent not joined):
 * the agent answers these itself, without a server's work, so retrying every 2-4 s per view
 * costs the servers nothing while they are away, and each sidecar's first retry after their
 * return falls at a random point of a 4 s window (no burst from a node's sidecars).
 */
const SERVERS_AWAY_CAP_MS = 4_000
/** Consul's words for "no server answered" (structs.ErrNoServers, ErrNoLeader, a failed RPC). */
const SERVERS_AWAY = /No known Consul servers|No cluster leader|rpc error getting client|rpc error making call: (EOF|.*connection refused|.*i\/o timeout)/

/** The longest delay before retrying after `err`; other errors (403, 429, other 5xx) use the full backoff. */
export function retryCapMs(err: unknown): number {
  if (err instanceof ConsulHttpError && err.status === 404) return NOT_FOUND_CAP_MS
  // A file a template reads that is not there yet: a stat costs nothing.
  if (err instanceof FileReadError && err.missing) return NOT_FOUND_CAP_MS
  if (err instanceof ConsulUnreachableError) return UNREACHABLE_CAP_MS
  if (err instanceof ConsulHttpError && err.status >= 500 && SERVERS_AWAY.test(err.body)) return SERVERS_AWAY_CAP_MS
  return Infinity
}

/** `delay`, or a jittered delay within `capMs` when it is longer (so capped retries still spread). */
export function cappedDelay(delay: number, capMs: number, random: () => number = Math.random): number {
  return delay <= capMs ? delay : Math.round(capMs / 2 + random() * (capMs / 2))
}
