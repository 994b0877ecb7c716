/**
 * `timestamp(format?)`: consul-template's clock, which formats the current
 * time in UTC with a Go layout (`time.Format`), RFC3339 by default, or prints
 * epoch seconds for "unix". Templates written for consul-template carry Go
 * layouts (`2006-01-02`), so the layout is read as Go reads it, element by
 * element: years (2006, 06), months (01, 1, Jan, January), days (02, 2, _2,
 * 002, __2), weekdays (Mon, Monday), hours (15, 03, 3), minutes (04, 4),
 * seconds (05, 5), fractions (.000 / ,000 fixed, .999 trimmed), PM/pm, and
 * zones (MST, Z07:00, -07:00, -0700, -07, Z0700, Z07, and the :00 seconds
 * forms), which in UTC print UTC, Z or +00:00. Any other text is literal.
 */

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

/** Go's RFC3339 layout, consul-template's default. */
export const RFC3339 = '2006-01-02T15:04:05Z07:00'

const pad = (n: number, width: number, fill = '0') => String(n).padStart(width, fill)

/** Zone elements, longest first; in UTC a `Z` form prints `Z`, the others +00:00 in their shape. */
const ZONES: Array<[string, string]> = [
  ['Z07:00:00', 'Z'], ['-07:00:00', '+00:00:00'], ['Z070000', 'Z'], ['-070000', '+000000'],
  ['Z07:00', 'Z'], ['-07:00', '+00:00'], ['Z0700', 'Z'], ['-0700', '+0000'], ['Z07', 'Z'], ['-07', '+00'],
]

/** The value of the element at the start of `rest`, and its length; undefined when `rest` starts with literal text. */
function element(rest: string, d: Date): [string, number] | undefined {
  const lowerNext = (n: number) => /^[a-z]/.test(rest.slice(n))
  const hour12 = d.getUTCHours() % 12 || 12
  const fixed: Array<[string, () => string]> = [
    ['January', () => MONTHS[d.getUTCMonth()]!], ['Monday', () => DAYS[d.getUTCDay()]!],
    ['2006', () => pad(d.getUTCFullYear(), 4)], ['002', () => pad(yearDay(d), 3)], ['__2', () => pad(yearDay(d), 3, ' ')],
    ['MST', () => 'UTC'], ['01', () => pad(d.getUTCMonth() + 1, 2)], ['02', () => pad(d.getUTCDate(), 2)],
    ['03', () => pad(hour12, 2)], ['04', () => pad(d.getUTCMinutes(), 2)], ['05', () => pad(d.getUTCSeconds(), 2)],
    ['06', () => pad(d.getUTCFullYear() % 100, 2)], ['15', () => pad(d.getUTCHours(), 2)], ['_2', () => pad(d.getUTCDate(), 2, ' ')],
    ['PM', () => (d.getUTCHours() >= 12 ? 'PM' : 'AM')], ['pm', () => (d.getUTCHours() >= 12 ? 'pm' : 'am')],
    ['1', () => String(d.getUTCMonth() + 1)], ['2', () => String(d.getUTCDate())], ['3', () => String(hour12)],
    ['4', () => String(d.getUTCMinutes())], ['5', () => String(d.getUTCSeconds())],
  ]
  for (const [zone, text] of ZONES) if (rest.startsWith(zone)) return [text, zone.length]
  // Go reads `Jan`/`Mon` only when no lower-case letter follows (so `Month` stays literal).
  if (rest.startsWith('Jan') && !rest.startsWith('January') && !lowerNext(3)) return [MONTHS[d.getUTCMonth()]!.slice(0, 3), 3]
  if (rest.startsWith('Mon') && !rest.startsWith('Monday') && !lowerNext(3)) return [DAYS[d.getUTCDay()]!.slice(0, 3), 3]
  const frac = /^[.,](0+|9+)(?![0-9])/.exec(rest)
  if (frac) return [fraction(d, rest[0]!, frac[1]!), frac[0].length]
  for (const [token, value] of fixed) if (rest.startsWith(token)) return [value(), token.length]
  return undefined
}

/** A fraction of a second: `.000` keeps its digits, `.999` drops trailing zeros (and the separator when none are left). */
function fraction(d: Date, sep: string, digits: string): string {
  const ms = pad(d.getUTCMilliseconds(), 3).padEnd(9, '0').slice(0, digits.length)
  if (digits[0] === '0') return `${sep}${ms}`
  const trimmed = ms.replace(/0+$/, '')
  return trimmed ? `${sep}${trimmed}` : ''
}

function yearDay(d: Date): number {
  return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1
}

/** Formats `d` in UTC with a Go layout. */
export function formatGoTime(d: Date, layout: string): string {
  let out = ''
  for (let i = 0; i < layout.length; ) {
    const el = element(layout.slice(i), d)
    if (el) {
      out += el[0]
      i += el[1]
    } else out += layout[i++]
  }
  return out
}

/** consul-template's `timestamp`: RFC3339 in UTC, epoch seconds for "unix", else the Go layout given. */
export function timestamp(format?: string, now: Date = new Date()): string {
  if (format === undefined || format === '') return formatGoTime(now, RFC3339)
  if (format === 'unix') return String(Math.floor(now.getTime() / 1000))
  return formatGoTime(now, format)
}
