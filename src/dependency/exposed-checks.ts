/**
 * `exposedChecks()`, first half: the HTTP and gRPC checks of the proxy's
 * service that the agent points at the sidecar (`Proxy.Expose.Checks`), from
 * `GET /v1/agent/checks`. Envoy gets a listener for each from the agent's
 * internal cache (agent/xds/listeners.go, parseCheckPath: path and app port
 * from the check's own URL, listener port from the URL the agent rewrote).
 * Consul 1.14's HTTP API has no such list: the proxy's registration holds no
 * path for them, and `Definition` is empty for a check registered with the
 * agent. What it does give, per check: `ExposedPort` (the listener port),
 * `Type`, and `Output`, which for an HTTP check names the URL it last called:
 * `HTTP GET http://127.0.0.1:21500/health: 200 OK Output: ...` for an answer,
 * `Get "http://127.0.0.1:21500/health": dial tcp ...` for a failure
 * (agent/checks/check.go; Go's url.Error). A URL on `ExposedPort` is the
 * rewritten one, so its path is the exposed path; until the check has run
 * once, the path is unknown. A gRPC check's path is fixed, as in Envoy. The
 * endpoint does not block, so it is polled.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optNum, optStr, str } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

/** The path Consul exposes for every gRPC check (the standard health service's Check method). */
export const GRPC_HEALTH_PATH = '/grpc.health.v1.Health/Check'

/** One check the agent points at the sidecar's `ExposedPort`. */
export interface ExposedCheck {
  CheckID: string
  Name: string
  Type: 'http' | 'grpc'
  /** The sidecar's plaintext listener port the agent gave the check (from 21500). */
  ExposedPort: number
  /** The exact path to serve; '' for an HTTP check that has not yet named a URL on ExposedPort. */
  Path: string
}

/** The HTTP and gRPC checks of `serviceId` that have an `ExposedPort`, from an agent checks body. */
export function parseExposedChecks(body: unknown, serviceId: string): ExposedCheck[] {
  const out: ExposedCheck[] = []
  for (const [key, value] of Object.entries(obj(body, 'checks'))) {
    const c = obj(value, key)
    const type = optStr(c.Type, `${key}.Type`)
    const port = optNum(c.ExposedPort, `${key}.ExposedPort`)
    if (optStr(c.ServiceID, `${key}.ServiceID`) !== serviceId || port <= 0) continue
    if (type !== 'http' && type !== 'grpc') continue
    const output = optStr(c.Output, `${key}.Output`)
    out.push({
      CheckID: str(c.CheckID, `${key}.CheckID`),
      Name: optStr(c.Name, `${key}.Name`),
      Type: type,
      ExposedPort: port,
      Path: type === 'grpc' ? GRPC_HEALTH_PATH : pathOn(outputUrl(output), port),
    })
  }
  return out.sort((a, b) => (a.CheckID < b.CheckID ? -1 : a.CheckID > b.CheckID ? 1 : 0))
}

/** The URL an HTTP check's Output names: `HTTP <METHOD> <url>: ...` or `<Method> "<url>": ...`; '' if none. */
export function outputUrl(output: string): string {
  const m = /^HTTP \S+ (\S+): |^[A-Z][a-z]* "([^"\\]+)": /.exec(output)
  return m ? (m[1] ?? m[2] ?? '') : ''
}

/** The raw path of `url` ('/' if it has none) when its port is `port`; else ''. */
export function pathOn(url: string, port: number): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)([^?#]*)/.exec(url)
  if (!m || urlPort(m[1]!) !== port) return ''
  return m[2] || '/'
}

/** The explicit port of a URL authority (`user@host:port`, `[v6]:port`); 0 if none. */
export function urlPort(authority: string): number {
  const m = /:(\d{1,5})$/.exec(authority)
  return m && !/^\[[^\]]*$/.test(authority.slice(0, m.index)) ? Number(m[1]) : 0
}

/** Polls `GET /v1/agent/checks` for the checks of one service the agent exposes through the sidecar. */
export class ExposedChecksDependency implements Dependency<ExposedCheck[]> {
  readonly id: string
  readonly blocking = 'poll' as const
  readonly answeredBy = 'agent' as const
  readonly #serviceId: string
  constructor(serviceId: string) {
    this.#serviceId = serviceId
    this.id = `agent.exposedChecks(${serviceId})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<ExposedCheck[]>> {
    const path = '/v1/agent/checks'
    const res = await client.get(path, {}, { signal: o.signal })
    // No digest: Output changes at every run, the parsed list rarely; the View compares the list.
    return { data: validate(`GET ${path}`, res.body, (b) => parseExposedChecks(b, this.#serviceId)) }
  }
}
