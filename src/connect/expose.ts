/**
 * `Proxy.Expose.Paths` as plaintext listeners, the way Consul configures
 * Envoy for them (agent/xds/listeners.go, makeExposedCheckListener): one
 * listener per path on `bind_address`, else the proxy's address, else
 * 0.0.0.0, serving only that exact path (query string aside) from the local
 * app's `LocalPathPort`, and 404 for anything else; `http2` talks h2c to the
 * app. A path the agent added for one of the service's checks
 * (`Expose.Checks`, `ParsedFromCheck`) accepts only loopback and the agent's
 * own address, since it bypasses mTLS and intentions. Listener ports must
 * not collide with each other or with the public listener.
 *
 * With `Expose.Checks`, Envoy also gets one such path per HTTP or gRPC check
 * of the service (listeners.go, parseCheckPath), which Consul 1.14 never puts
 * in the registration: `exposedChecks()` gathers them (dependency/
 * exposed-checks.ts, check-targets.ts) and they are planned here like
 * `ParsedFromCheck` paths. The app port is the one the check's definition
 * names when the agent's config files hold it, else the service's own port
 * (the agent's HTTP API does not say). A check path that cannot be served is
 * left out with a warning, never an error: the rest of the config stands.
 */
import type { ProxyService } from '../dependency/agent-service.ts'
import type { CheckTarget } from '../dependency/check-targets.ts'
import { urlPort, type ExposedCheck } from '../dependency/exposed-checks.ts'
import { ProxySettingsError } from '../errors.ts'
import { haproxyQuote } from '../haproxy/words.ts'
import { warnOnce } from '../template/warnings.ts'
import { proxyConfig } from './proxy-config.ts'
import { show } from './settings-values.ts'

/** What `exposedChecks()` gives: the checks the agent points at the sidecar, and the check targets its config files name. */
export interface ExposedChecks {
  Checks: ExposedCheck[]
  Targets: CheckTarget[]
}

export interface ExposeListener {
  /** Section name: `expose_<ListenerPort>`. */
  name: string
  /** `address:port` of the plaintext listener. */
  bind: string
  /** The exact path, as one quoted HAProxy word. */
  path: string
  /** The app's server address. */
  server: string
  /** `http2`: h2c to the app. */
  h2: boolean
  /** Only loopback and the agent may connect (a path added for a check). */
  localOnly: boolean
  /** For a check's path: which check, and where its app port comes from (a config comment); else ''. */
  source: string
}

const PROTOCOLS = new Set(['', 'http', 'http2'])

/** `connectProxy() | exposeListeners(exposedChecks())`: one plaintext listener per exposed path and per exposed check. */
export function exposeListeners(proxy: ProxyService | undefined, checks?: ExposedChecks): ExposeListener[] {
  if (!proxy) return []
  const pc = proxyConfig(proxy)
  const place: Place = { bindAddress: pc.exposeAddress, publicPort: pc.bindPort, seen: new Map() }
  const paths = pathListeners(proxy, place)
  if (!proxy.Proxy.Expose?.Checks || !checks) return paths
  return [...paths, ...checkListeners(proxy, checks, place)]
}

/** Where listeners go: their address, the public listener's port, and the ports taken so far (by whom). */
interface Place {
  bindAddress: string
  publicPort: number
  seen: Map<number, string>
}

/** `Expose.Paths`: a path that cannot be served is an error naming it. */
function pathListeners(proxy: ProxyService, place: Place): ExposeListener[] {
  // Snapshots recorded by an older meshplate have no Expose (snapshot data is not parsed again).
  return (proxy.Proxy.Expose?.Paths ?? []).map((p, i) => {
    const where = `Proxy.Expose.Paths[${i}]`
    if (!p.Path.startsWith('/')) throw new ProxySettingsError(`${where}.Path: ${show(p.Path)} does not start with /`)
    if (!PROTOCOLS.has(p.Protocol)) throw new ProxySettingsError(`${where}.Protocol: ${show(p.Protocol)} is not http or http2`)
    port(p.ListenerPort, `${where}.ListenerPort`)
    port(p.LocalPathPort, `${where}.LocalPathPort`)
    if (p.ListenerPort === place.publicPort) throw new ProxySettingsError(`${where}.ListenerPort: ${p.ListenerPort} is the public listener's port`)
    const other = place.seen.get(p.ListenerPort)
    if (other !== undefined) throw new ProxySettingsError(`${where}.ListenerPort: ${p.ListenerPort} is also the port of ${other}`)
    place.seen.set(p.ListenerPort, where)
    return listener(proxy, place, { path: p.Path, listenerPort: p.ListenerPort, appPort: p.LocalPathPort, h2: p.Protocol === 'http2', localOnly: p.ParsedFromCheck, source: '' })
  })
}

/** `Expose.Checks`: a check that cannot be served is left out with a warning. */
function checkListeners(proxy: ProxyService, checks: ExposedChecks, place: Place): ExposeListener[] {
  const planned: ExposeListener[] = []
  for (const c of checks.Checks) {
    const plan = checkPlan(proxy, c, checks.Targets)
    if (!plan) continue
    const clash = c.ExposedPort === place.publicPort ? "the public listener's port" : place.seen.get(c.ExposedPort)
    if (clash !== undefined) {
      warnOnce(`${proxy.ID}: Expose.Checks: check ${show(c.CheckID)} is not served: its ExposedPort ${c.ExposedPort} is also ${clash}`)
      continue
    }
    place.seen.set(c.ExposedPort, `check ${show(c.CheckID)}`)
    planned.push(listener(proxy, place, { path: c.Path, listenerPort: c.ExposedPort, appPort: plan.port, h2: c.Type === 'grpc', localOnly: true, source: plan.source }))
  }
  return planned
}

function listener(proxy: ProxyService, place: Place, l: { path: string; listenerPort: number; appPort: number; h2: boolean; localOnly: boolean; source: string }): ExposeListener {
  return {
    name: `expose_${l.listenerPort}`,
    bind: `${hostPart(place.bindAddress)}:${l.listenerPort}`,
    path: haproxyQuote(l.path),
    server: `${hostPart(proxy.Proxy.LocalServiceAddress)}:${l.appPort}`,
    h2: l.h2,
    localOnly: l.localOnly,
    source: l.source,
  }
}

/** The app port of one exposed check and where it comes from; undefined (warned) when it cannot be served. */
function checkPlan(proxy: ProxyService, c: ExposedCheck, targets: CheckTarget[]): { port: number; source: string } | undefined {
  // Quoted: ids and names are the user's, and this text ends up in a config comment.
  const what = `check ${show(c.CheckID)}${c.Name ? ` (${show(c.Name)})` : ''}`
  // An HTTP check that has not run since the agent pointed it at the sidecar: its path comes with a later poll.
  if (!c.Path) return undefined
  if (!c.Path.startsWith('/') || /[\0-\x1f\x7f]/.test(c.Path)) {
    warnOnce(`${proxy.ID}: Expose.Checks: ${what} is not served: its path ${show(c.Path)} cannot be matched`)
    return undefined
  }
  const serviceId = proxy.Proxy.DestinationServiceID || proxy.Proxy.DestinationServiceName
  const target = targets.find((t) => t.ServiceID === serviceId && t.CheckID === c.CheckID)
  const written = target && (c.Type === 'http' ? target.HTTP : target.GRPC)
  if (written && (c.Type === 'grpc' || httpPath(written) === c.Path)) {
    const port = targetPort(written, c.Type)
    if (port) return { port, source: `${what}: ${c.Type === 'http' ? 'HTTP' : 'GRPC'} ${show(written)}` }
    // Envoy skips such a check too (listeners.go, parseCheckPath: no port to split off).
    warnOnce(`${proxy.ID}: Expose.Checks: ${what} is not served: its target ${show(written)} names no port`)
    return undefined
  }
  const port = proxy.Proxy.LocalServicePort
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    warnOnce(`${proxy.ID}: Expose.Checks: ${what} is not served: the agent does not say its app port, and Proxy.LocalServicePort is not set`)
    return undefined
  }
  return { port, source: `${what}: the agent does not say its app port; the service's port ${port} is assumed` }
}

/** The path of an HTTP check's URL as written ('/' when it has none). */
function httpPath(url: string): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(url)
  return m ? m[1] || '/' : ''
}

/** The port of a check target: an HTTP URL's, or a gRPC `host:port[/service]`'s; 0 if it names none. */
function targetPort(written: string, type: ExposedCheck['Type']): number {
  const authority = type === 'http' ? (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(written)?.[1] ?? '') : written.split('/')[0]!
  const port = urlPort(authority)
  return port >= 1 && port <= 65535 ? port : 0
}

/** The sources a check's path accepts: loopback and the agent (Envoy's SourcePrefixRanges). */
export function exposeSources(agentAddress: string): string {
  return ['127.0.0.0/8', '::1', agentAddress].filter(Boolean).join(' ')
}

function port(n: number, where: string): void {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ProxySettingsError(`${where}: ${n} is not a port`)
}

/** An IPv6 address in brackets, as HAProxy's `bind` and `server` want it. */
function hostPart(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
}
