/**
 * Durations as users write them (`250ms`, `5s`, `1m30s`, or a bare number of
 * seconds, as consul-template accepts) and the `--wait min[:max]` pair.
 */
import { ConfigError } from '../errors.ts'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses a duration into milliseconds; `field` names the flag or key in errors. */
export function parseDuration(value: string | number, field: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value * 1000
    throw new ConfigError(`${field}: ${value} is not a duration`)
  }
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new ConfigError(`${field}: "${value}" is not a duration (use e.g. 500ms, 5s, 1m30s)`)
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0)
}

/** Parses `min[:max]`; max defaults to 4 x min, as consul-template does. */
export function parseWait(value: string, field = '--wait'): { minMs: number; maxMs: number } {
  const [min, max, extra] = value.split(':')
  if (extra !== undefined || !min) throw new ConfigError(`${field}: "${value}" is not min[:max]`)
  const minMs = parseDuration(min, field)
  const maxMs = max ? parseDuration(max, field) : minMs * 4
  if (maxMs < minMs) throw new ConfigError(`${field}: max ${max} is below min ${min}`)
  return { minMs, maxMs }
}
