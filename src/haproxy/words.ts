/**
 * HAProxy's own spelling of two kinds of value that every part of the sidecar's
 * config prints: a time, and a string as one config word. They live apart from the
 * Proxy.Config readers (connect/settings-values.ts) because they are HAProxy's
 * rules, not Consul's: what HAProxy's timers can hold, and which characters its
 * config parser would read as something else.
 */
import { ProxySettingsError } from '../errors.ts'

/** An HAProxy time in milliseconds; 0 (no timeout) becomes HAProxy's longest, 24 days. */
export function haproxyTime(ms: number): string {
  return ms === 0 || ms > MAX_HAPROXY_MS ? '24d' : `${Math.ceil(ms)}ms`
}

/** HAProxy's timers hold at most 2^31-1 ms (about 24.8 days). */
const MAX_HAPROXY_MS = 2_073_600_000

/**
 * A string as one double-quoted HAProxy config word: `"` and `\` escaped, and
 * `$` too, which HAProxy would otherwise expand as an environment variable.
 */
export function haproxyQuote(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new ProxySettingsError(`${JSON.stringify(text) ?? String(text)} holds a line break or NUL, which an HAProxy config line cannot`)
  return `"${text.replace(/[\\"$]/g, (c) => `\\${c}`)}"`
}
