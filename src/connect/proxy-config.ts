/**
 * The one reader of `Proxy.Config` and `Proxy.Upstreams[].Config`, as Consul's
 * `xds/config/config.go` (ParseProxyConfig) is for Envoy: each map is turned
 * into one typed object with its defaults, and the templates, `expose.ts` and
 * `discoveryChain()` read that object, never a raw key. The keys that become
 * timeouts, limits and passive health checks are worked out in
 * proxy-settings.ts (the Envoy-to-HAProxy mapping) and composed here; every
 * other key's default is in this file (docs/sidecar-settings.md: "Proxy.Config keys").
 *
 * Keys are read as settings-values.ts reads them: both spellings, numbers or
 * numeric strings. A value that cannot be used is a warning naming the key
 * and its default applies, as ParseProxyConfig warns and carries on, except
 * `server_slots`, whose bad value fails the render naming the key. That one
 * is read per upstream, when its backends are printed, so it fails
 * haproxy.cfg only, never intentions.map.
 */
import type { CompiledChain } from '../dependency/discovery-chain.ts'
import type { ProxyService, Upstream } from '../dependency/agent-service.ts'
import type { JsonObject } from '../consul/schema.ts'
import { ProxySettingsError } from '../errors.ts'
import { localSettings, upstreamSettings, type LocalSettings, type UpstreamSettings } from './proxy-settings.ts'
import { count, lookup, port, show, soft, upstreamScope, word, type Scope } from './settings-values.ts'

/** `connectProxy() | proxyConfig`: the proxy's own settings. */
export interface ProxyConfig {
  /** `protocol` as written (`tcp`, `http`, `http2`, `grpc`); default `tcp`. */
  protocol: string
  /** HAProxy's mode for it: `tcp` for tcp, `http` for every other protocol. */
  mode: 'tcp' | 'http'
  /** `bind_address`: the public listener's address; default `0.0.0.0`. */
  bindAddress: string
  /** `bind_port`: the public listener's port; default (and for 0) the registration's `Port`. */
  bindPort: number
  /** Where expose listeners bind: `bind_address`, else the registration's `Address`, else `0.0.0.0` (as Envoy). */
  exposeAddress: string
  /** `prometheus_bind_addr`, else `envoy_prometheus_bind_addr`: the exporter's `host:port`; '' for none. */
  prometheusBindAddr: string
  /** The local app's timeouts and the inbound limit (proxy-settings.ts, `localSettings`). */
  local: LocalSettings
}

/** `u | upstreamConfig(cfg, discoveryChain(u))`: one upstream's settings, with the proxy's as fallbacks. */
export interface UpstreamConfig {
  /** The upstream's own `Config.protocol`, '' for none: Consul compiles its chain with it (`OverrideProtocol`). */
  protocolOverride: string
  /** What its listener speaks: the chain's protocol unless tcp, else the override, else the proxy's. */
  protocol: string
  mode: 'tcp' | 'http'
  /** `server_slots`: the upstream's, else the proxy's, else 8 (0 counts as unset). */
  serverSlots: number
  /** Timeout, limits and passive health check (proxy-settings.ts, `upstreamSettings`). */
  settings: UpstreamSettings
}

const DEFAULT_SERVER_SLOTS = 8

/** `connectProxy() | proxyConfig`: Proxy.Config parsed, with every default; never throws. */
export function proxyConfig(proxy: ProxyService | undefined): ProxyConfig {
  const scope: Scope = { map: proxy?.Proxy.Config ?? {}, path: 'Proxy.Config' }
  const protocol = protocolOf(scope) || 'tcp'
  const bindAddress = soft(() => word(scope, 'bind_address', 'an address'))
  return Object.freeze({
    protocol,
    mode: modeOf(protocol),
    bindAddress: bindAddress ?? '0.0.0.0',
    bindPort: soft(() => port(scope, 'bind_port')) || (proxy?.Port ?? 0),
    exposeAddress: bindAddress ?? (proxy?.Address || '0.0.0.0'),
    prometheusBindAddr: soft(() => word(scope, 'prometheus_bind_addr', 'a host:port')) ?? soft(() => word(scope, 'envoy_prometheus_bind_addr', 'a host:port')) ?? '',
    local: localSettings(proxy),
  })
}

/**
 * `u | upstreamConfig(cfg, discoveryChain(u))`: the upstream's `Config`, with
 * `cfg` (the proxy's `Proxy.Config`) read for what it falls back to: the
 * protocol, `connect_timeout_ms` and `server_slots`. Throws for a bad `server_slots`.
 */
export function upstreamConfig(u: Upstream | undefined, cfg: JsonObject | undefined, chain: Pick<CompiledChain, 'Protocol'> | null | undefined): UpstreamConfig {
  const proxyScope: Scope = { map: cfg ?? {}, path: 'Proxy.Config' }
  const own = upstreamScope(u)
  const protocolOverride = upstreamProtocol(u)
  // Consul compiled the chain with the override, so its protocol has the last word unless it is tcp.
  const protocol = chain && chain.Protocol !== 'tcp' ? chain.Protocol : protocolOverride || protocolOf(proxyScope) || 'tcp'
  const mode = modeOf(protocol)
  return Object.freeze({
    protocolOverride,
    protocol,
    mode,
    serverSlots: slotCount(own) ?? slotCount(proxyScope) ?? DEFAULT_SERVER_SLOTS,
    settings: upstreamSettings(u, cfg, mode),
  })
}

/** An upstream's own `Config.protocol`, '' when it sets none (read for `discoveryChain(u)` too). */
export function upstreamProtocol(u: Upstream | undefined): string {
  return protocolOf(upstreamScope(u)) ?? ''
}

function protocolOf(scope: Scope): string | undefined {
  return soft(() => word(scope, 'protocol', 'a protocol (tcp, http, http2 or grpc)'))
}

/** tcp stays tcp; http, http2, grpc (and any other name) are HTTP, as the shipped templates always read it. */
function modeOf(protocol: string): 'tcp' | 'http' {
  return (protocol || 'tcp') === 'tcp' ? 'tcp' : 'http'
}

/** `server_slots` of one map: undefined when unset or 0; a count outside 1-1024 throws, naming the key. */
function slotCount(scope: Scope): number | undefined {
  const n = count(scope, 'server_slots')
  if (!n) return undefined
  if (n > 1024) throw new ProxySettingsError(`${lookup(scope, 'server_slots').name}: ${show(n)} is not a slot count from 1 to 1024`)
  return n
}
