// Small statistics and formatting helpers: the benchmark reports medians
// (robust on a noisy 2-core machine) with a p90 beside them, and ratios.

/** The median of a list of numbers (undefined when empty). */
export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return undefined
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** The q-quantile (0..1) by nearest rank. */
export function quantile(xs, q) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return undefined
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
}

/** A number with a sensible number of digits for a table cell. */
export function fmt(x, unit = '') {
  if (x === undefined || !Number.isFinite(x)) return 'n/a'
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2
  return `${x.toFixed(digits)}${unit}`
}

/** `a / b` as "1.23x", or n/a. */
export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a'
}

/** Median with p90 for a latency list, e.g. "12.3 ms (p90 20.1)". */
export function medP90(xs, unit = ' ms') {
  return `${fmt(median(xs), unit)} (p90 ${fmt(quantile(xs, 0.9))})`
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
