/**
 * Reading the proxy settings users put in `Proxy.Config` and
 * `Proxy.Upstreams[].Config`. Those maps are opaque to Consul: a key arrives
 * as the user wrote it in the registration, or as the agent merged it from
 * `proxy-defaults` / `service-defaults`, which for some structs means
 * CamelCase field names (`PassiveHealthCheck`, `MaxConnections`) and Go
 * durations as integer nanoseconds. Each reader here accepts both spellings,
 * the value shapes Consul's own weak decoding accepts (a number or a numeric
 * string), and otherwise throws one line naming the key and what is wrong,
 * e.g. `Proxy.Config.local_request_timeout_ms: "abc" is not a number of
 * milliseconds`. A missing key (or null) is `undefined`: defaults are the
 * caller's, where they are visible (proxy-config.ts, proxy-settings.ts). A
 * wrong value is a ProxySettingsError (PROXY_CONFIG_INVALID, src/errors.ts),
 * which `soft` turns into a warning where the caller's default applies.
 */
import type { Json, JsonObject } from '../consul/schema.ts'
import { ProxySettingsError } from '../errors.ts'
import { warnOnce } from '../template/warnings.ts'

/** A config map and the path that names it in errors (`Proxy.Config`, `Proxy.Upstreams[api].Config`). */
export interface Scope {
  map: JsonObject
  path: string
}

/** An upstream's `Config`, named by its destination in errors. */
export function upstreamScope(u: { DestinationName: string; Config: JsonObject } | undefined): Scope {
  return { map: u?.Config ?? {}, path: `Proxy.Upstreams[${u?.DestinationName ?? '?'}].Config` }
}

/** `local_request_timeout_ms` -> `LocalRequestTimeoutMs`; `enforcing_consecutive_5xx` -> `EnforcingConsecutive5xx`. */
export function camelCase(snake: string): string {
  return snake.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')
}

/** The value of `key` in either spelling (snake_case first) and the spelling found, for errors. */
export function lookup(scope: Scope, key: string): { value: Json | undefined; name: string } {
  for (const name of [key, camelCase(key)]) {
    const value = scope.map[name]
    if (value !== undefined && value !== null) return { value, name: `${scope.path}.${name}` }
  }
  return { value: undefined, name: `${scope.path}.${key}` }
}

/** A nested object setting (`limits`, `passive_health_check`), or undefined when absent. */
export function objectAt(scope: Scope, key: string): Scope | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ProxySettingsError(`${name}: ${show(value)} is not an object`)
  return { map: value, path: name }
}

/** A whole number >= 0 given as a number or a numeric string; `what` completes "is not ...". */
function wholeNumber(value: Json, name: string, what: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < 0) throw new ProxySettingsError(`${name}: ${show(value)} is not ${what}`)
  return n
}

/** Milliseconds (`*_ms` keys); 0 is kept, and means "no timeout" where Envoy says so. */
export function millis(scope: Scope, key: string): number | undefined {
  const { value, name } = lookup(scope, key)
  return value === undefined ? undefined : wholeNumber(value, name, 'a number of milliseconds')
}

/** A count (connections, requests, failures). */
export function count(scope: Scope, key: string): number | undefined {
  const { value, name } = lookup(scope, key)
  return value === undefined ? undefined : wholeNumber(value, name, 'a whole number')
}

/** A percentage from 0 to 100. */
export function percent(scope: Scope, key: string): number | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined) return undefined
  const n = wholeNumber(value, name, 'a percentage from 0 to 100')
  if (n > 100) throw new ProxySettingsError(`${name}: ${show(value)} is not a percentage from 0 to 100`)
  return n
}

const GO_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }
const GO_DURATION = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/

/**
 * A Go duration as Consul decodes one: a string such as `10s`, `1m30s` or
 * `250ms`, or a number of nanoseconds (how a time.Duration field reaches the
 * map when the agent merges central config). Returned in milliseconds.
 */
export function duration(scope: Scope, key: string): number | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined) return undefined
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new ProxySettingsError(`${name}: ${show(value)} is not a duration`)
    return value / 1e6
  }
  if (typeof value !== 'string') throw new ProxySettingsError(`${name}: ${show(value)} is not a duration (e.g. "10s", "1m30s")`)
  let rest = value.trim()
  if (rest === '0') return 0
  if (rest === '') throw new ProxySettingsError(`${name}: ${show(value)} is not a duration (e.g. "10s", "1m30s")`)
  let ns = 0
  while (rest) {
    const m = GO_DURATION.exec(rest)
    if (!m) throw new ProxySettingsError(`${name}: ${show(value)} is not a duration (e.g. "10s", "1m30s")`)
    ns += Number(m[1]) * GO_UNITS_NS[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return ns / 1e6
}

/** A boolean (`true`/`false`, or the strings Consul's weak decoding takes). */
export function flag(scope: Scope, key: string): boolean | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined) return undefined
  if (typeof value === 'boolean') return value
  if (value === 'true' || value === '1' || value === 1) return true
  if (value === 'false' || value === '0' || value === 0) return false
  throw new ProxySettingsError(`${name}: ${show(value)} is not true or false`)
}

/** A port from 1 to 65535; 0 is returned as 0, which callers read as unset (as Consul does). */
export function port(scope: Scope, key: string): number | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined) return undefined
  const n = wholeNumber(value, name, 'a port')
  if (n > 65535) throw new ProxySettingsError(`${name}: ${show(value)} is not a port`)
  return n
}

/**
 * One word of text (a protocol, an address): a string without whitespace or
 * control characters, since the templates print it as one config word. An
 * empty string is unset.
 */
export function word(scope: Scope, key: string, what: string): string | undefined {
  const { value, name } = lookup(scope, key)
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string' || /[\s\0-\x1f\x7f]/.test(value)) throw new ProxySettingsError(`${name}: ${show(value)} is not ${what}`)
  return value
}

/** Reads one setting; a value that cannot be used is reported (`warnOnce`) and left out, so the caller's default applies. */
export function soft<T>(read: () => T | undefined): T | undefined {
  try {
    return read()
  } catch (err) {
    if (!(err instanceof ProxySettingsError)) throw err
    warnOnce(`${err.message}; meshplate uses the default instead`)
    return undefined
  }
}

/** A value as it appears in an error: strings quoted, objects as JSON. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}
