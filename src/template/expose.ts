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
 */
import type { ProxyService } from '../dependency/agent-service.ts'
import { haproxyQuote, ProxySettingsError, show } from './settings-values.ts'

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
}

const PROTOCOLS = new Set(['', 'http', 'http2'])

/** `connectProxy() | exposeListeners`: one plaintext listener per exposed path. */
export function exposeListeners(proxy: ProxyService | undefined): ExposeListener[] {
  if (!proxy) return []
  const cfg = proxy.Proxy.Config
  const bindAddress = typeof cfg.bind_address === 'string' && cfg.bind_address ? cfg.bind_address : proxy.Address || '0.0.0.0'
  const publicPort = typeof cfg.bind_port === 'number' ? cfg.bind_port : proxy.Port
  const seen = new Map<number, string>()
  // Snapshots recorded by an older meshplate have no Expose (snapshot data is not parsed again).
  return (proxy.Proxy.Expose?.Paths ?? []).map((p, i) => {
    const where = `Proxy.Expose.Paths[${i}]`
    if (!p.Path.startsWith('/')) throw new ProxySettingsError(`${where}.Path: ${show(p.Path)} does not start with /`)
    if (!PROTOCOLS.has(p.Protocol)) throw new ProxySettingsError(`${where}.Protocol: ${show(p.Protocol)} is not http or http2`)
    port(p.ListenerPort, `${where}.ListenerPort`)
    port(p.LocalPathPort, `${where}.LocalPathPort`)
    if (p.ListenerPort === publicPort) throw new ProxySettingsError(`${where}.ListenerPort: ${p.ListenerPort} is the public listener's port`)
    const other = seen.get(p.ListenerPort)
    if (other !== undefined) throw new ProxySettingsError(`${where}.ListenerPort: ${p.ListenerPort} is also the port of ${other}`)
    seen.set(p.ListenerPort, where)
    return {
      name: `expose_${p.ListenerPort}`,
      bind: `${hostPart(bindAddress)}:${p.ListenerPort}`,
      path: haproxyQuote(p.Path),
      server: `${hostPart(proxy.Proxy.LocalServiceAddress)}:${p.LocalPathPort}`,
      h2: p.Protocol === 'http2',
      localOnly: p.ParsedFromCheck,
    }
  })
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
