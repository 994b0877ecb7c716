/**
 * The timeout, limit and health-check settings Consul users set in
 * `proxy-defaults` and `service-defaults` (or in the registration), turned
 * into the HAProxy values the shipped templates print. proxy-config.ts, the
 * one Proxy.Config reader, composes these into its typed objects (`local`,
 * `settings`); the `localSettings` and `upstreamSettings` filters stay for
 * templates that call them. Envoy is the reference: its defaults apply where a user
 * would expect them (a local request times out after 15 s, not 1 h), and
 * where HAProxy cannot do what Envoy does the difference is documented in
 * docs/sidecar-settings.md ("Proxy.Config keys" and the mapping tables after it) and chosen
 * here, in one place:
 *
 * - Timeouts. Envoy's request timeout runs from the end of the request to
 *   the end of the response; HAProxy's `timeout server` is an inactivity
 *   timeout. A silent app gets a 504 after the same time in both; a response
 *   that keeps trickling is cut by Envoy and not by HAProxy.
 * - Limits. Envoy's circuit breakers count per upstream cluster. What HAProxy
 *   counts per backend is kept per upstream here (connections of a tcp
 *   upstream, queued and in-flight requests of an HTTP one); HTTP
 *   `max_connections` is HAProxy's `maxconn`, which counts per server, so it
 *   holds per instance.
 * - Passive health checks. HAProxy ejects on consecutive errors as Envoy
 *   does (`observe`, `error-limit`, `on-error mark-down`), but only a health
 *   check brings a server back, so one TCP connect check runs per instance
 *   and its timing makes an ejection last from `base_ejection_time` to
 *   `base_ejection_time + interval`, as Envoy's sweep does.
 *
 * These are resilience settings, not security, so a value that cannot be
 * used (not a number, a limit of 0) is reported with `warnOnce` naming the
 * key and left out: its default applies, as Consul's own ParseProxyConfig
 * warns and carries on for Envoy. One typo never costs the sidecar its
 * traffic.
 */
import type { ProxyService, Upstream } from '../dependency/agent-service.ts'
import type { JsonObject } from '../consul/schema.ts'
import { ProxySettingsError } from '../errors.ts'
import { haproxyTime } from '../haproxy/words.ts'
import { warnOnce } from '../template/warnings.ts'
import { count, duration, millis, objectAt, percent, soft, upstreamScope, type Scope } from './settings-values.ts'

/** The local app and the public listener. */
export interface LocalSettings {
  /** `local_connect_timeout_ms`: `timeout connect` to the app. */
  connectTimeout: string
  /** `local_request_timeout_ms` in ms (Envoy's default 15000; 0: none). */
  requestTimeoutMs: number
  /** `local_idle_timeout_ms` in ms (Envoy's default 300000; 0: none). */
  idleTimeoutMs: number
  /** HTTP modes, backend local_app: `timeout server`, the shorter of the two above. */
  serverTimeout: string
  /** HTTP modes, public listener: `timeout client`, the idle timeout. */
  clientTimeout: string
  /** HTTP modes, backend local_app: `timeout tunnel` (upgraded connections), the idle timeout. */
  tunnelTimeout: string
  /** `max_inbound_connections`: connections above it are closed at once; 0: no limit. */
  maxInboundConnections: number
  /** How long a request waits for a free app connection when `maxInboundConnections` caps them. */
  queueTimeout: string
}

/** One upstream. */
export interface UpstreamSettings {
  /** `connect_timeout_ms` (the upstream's, else the proxy's, else 5000). */
  connectTimeout: string
  /** tcp: connections above it are closed at once (per upstream); 0: no limit. */
  maxConnections: number
  /** HTTP: requests in flight per instance (`maxconn` on each server); 0: no limit. */
  serverMaxconn: number
  /** HTTP: a request finding this many queued gets 503 at once (per upstream); 0: no limit. */
  maxPendingRequests: number
  /** HTTP: a request finding this many in flight gets 503 at once (per upstream); 0: no limit. */
  maxConcurrentRequests: number
  /** How long a request waits in the queue before a 503: Envoy's default route timeout. */
  queueTimeout: string
  /** Passive health checking, when `passive_health_check` is set and enforced. */
  ejection: Ejection | undefined
}

/** The server parameters of a passive health check. */
export interface Ejection {
  observe: 'layer4' | 'layer7'
  /** Consecutive errors that eject (`max_failures`, Envoy's default 5). */
  errorLimit: number
  /** The TCP check's `inter`, `fastinter` and `downinter` (`interval`, default 10 s). */
  inter: string
  /** Successful checks that bring an ejected server back: covers `base_ejection_time` (default 30 s). */
  rise: number
  intervalMs: number
  baseEjectionMs: number
}

const ENVOY_REQUEST_TIMEOUT_MS = 15_000
const ENVOY_IDLE_TIMEOUT_MS = 300_000
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000

/** `connectProxy() | localSettings`: the local app's timeouts and the inbound connection limit. */
export function localSettings(proxy: ProxyService | undefined): LocalSettings {
  const scope: Scope = { map: proxy?.Proxy.Config ?? {}, path: 'Proxy.Config' }
  const connect = soft(() => millis(scope, 'local_connect_timeout_ms'))
  const requestTimeoutMs = soft(() => millis(scope, 'local_request_timeout_ms')) ?? ENVOY_REQUEST_TIMEOUT_MS
  const idleTimeoutMs = soft(() => millis(scope, 'local_idle_timeout_ms')) ?? ENVOY_IDLE_TIMEOUT_MS
  const serverMs = shorterTimeout(requestTimeoutMs, idleTimeoutMs)
  return {
    // Consul treats 0 as unset here (ParseProxyConfig: `< 1` becomes 5000).
    connectTimeout: haproxyTime(connect || DEFAULT_CONNECT_TIMEOUT_MS),
    requestTimeoutMs,
    idleTimeoutMs,
    serverTimeout: haproxyTime(serverMs),
    clientTimeout: haproxyTime(idleTimeoutMs),
    tunnelTimeout: haproxyTime(idleTimeoutMs),
    maxInboundConnections: soft(() => count(scope, 'max_inbound_connections')) ?? 0,
    queueTimeout: haproxyTime(serverMs),
  }
}

/** The shorter of two timeouts where 0 means none. */
function shorterTimeout(a: number, b: number): number {
  if (a === 0) return b
  if (b === 0) return a
  return Math.min(a, b)
}

/** `u | upstreamSettings(proxyConfig, mode)`: one upstream's timeout, limits and passive health check. */
export function upstreamSettings(u: Upstream | undefined, proxyConfig: JsonObject | undefined, modeArg: unknown): UpstreamSettings {
  // A macro's output (Nunjucks SafeString) or a plain string.
  const mode = String(modeArg)
  if (mode !== 'tcp' && mode !== 'http') throw new ProxySettingsError(`upstreamSettings: mode ${JSON.stringify(mode)} is not tcp or http`)
  const scope = upstreamScope(u)
  const connect = soft(() => millis(scope, 'connect_timeout_ms')) || soft(() => millis({ map: proxyConfig ?? {}, path: 'Proxy.Config' }, 'connect_timeout_ms'))
  const limits = readLimits(scope)
  return {
    connectTimeout: haproxyTime(connect || DEFAULT_CONNECT_TIMEOUT_MS),
    maxConnections: mode === 'tcp' ? limits.maxConnections : 0,
    serverMaxconn: mode === 'http' ? limits.maxConnections : 0,
    maxPendingRequests: mode === 'http' ? limits.maxPendingRequests : 0,
    maxConcurrentRequests: mode === 'http' ? limits.maxConcurrentRequests : 0,
    queueTimeout: haproxyTime(ENVOY_REQUEST_TIMEOUT_MS),
    ejection: readEjection(scope, mode),
  }
}

/** `limits`: 0 is read as no limit, with a warning (Envoy would take it literally and refuse everything). */
function readLimits(scope: Scope): { maxConnections: number; maxPendingRequests: number; maxConcurrentRequests: number } {
  const limits = soft(() => objectAt(scope, 'limits'))
  const read = (key: string): number => {
    if (!limits) return 0
    const n = soft(() => count(limits, key))
    if (n === 0) warnOnce(`${limits.path}.${key}: 0 would refuse every request, so meshplate reads it as no limit; leave it out for no limit`)
    return n ?? 0
  }
  return { maxConnections: read('max_connections'), maxPendingRequests: read('max_pending_requests'), maxConcurrentRequests: read('max_concurrent_requests') }
}

/**
 * `passive_health_check` with Envoy's defaults for what it leaves out (Consul
 * treats 0 as unset for `interval` and `max_failures`). Not set, or
 * `enforcing_consecutive_5xx = 0`: no ejection.
 */
function readEjection(scope: Scope, mode: 'tcp' | 'http'): Ejection | undefined {
  const phc = soft(() => objectAt(scope, 'passive_health_check'))
  if (!phc) return undefined
  let intervalMs = soft(() => duration(phc, 'interval')) || 10_000
  const baseEjectionMs = soft(() => duration(phc, 'base_ejection_time')) ?? 30_000
  const errorLimit = soft(() => count(phc, 'max_failures')) || 5
  const enforcing = soft(() => percent(phc, 'enforcing_consecutive_5xx')) ?? 100
  soft(() => percent(phc, 'max_ejection_percent')) // checked; HAProxy has no cap (docs/sidecar-settings.md)
  if (intervalMs < 1) {
    warnOnce(`${phc.path}.interval: ${intervalMs}ms is below HAProxy's 1ms; checks run every 1ms`)
    intervalMs = 1
  }
  if (enforcing === 0) return undefined
  return {
    observe: mode === 'http' ? 'layer7' : 'layer4',
    errorLimit,
    inter: haproxyTime(intervalMs),
    // After mark-down the next check comes within one interval, then one per interval:
    // rise checks end the ejection between base and base + interval.
    rise: Math.ceil(baseEjectionMs / intervalMs) + 1,
    intervalMs,
    baseEjectionMs,
  }
}
