// The number formats and the Markdown table the report's files share, so that
// every table of the Dataplane section prints a missing figure the same way ("—").

/** Median of the finite values, or NaN. */
export const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (!v.length) return NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}
export const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—')
export const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—')
export const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—')

/** A Markdown table. */
export function mdTable(head, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}
