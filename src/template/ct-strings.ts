/**
 * consul-template's helpers that read or cut text, as filters with its names
 * and Go's semantics (docs/consul-template.md maps every one): `parseBool`,
 * `parseInt`, `parseUint`, `parseFloat` as Go's strconv reads them (and, as
 * consul-template does, `""` as the zero value, so a render before a key
 * arrives does not fail), `split` and `splitToMap`, `trimPrefix` and
 * `trimSuffix`, and `regexMatch`/`regexReplaceAll` in Go's RE2 syntax
 * (go-regexp.ts). Input that cannot be read throws one line naming the
 * filter and the value.
 */
import { kindOf } from './ct-collections.ts'
import { compileGoRegexp, goMatch, goReplaceAll } from './go-regexp.ts'

/** The text a filter reads: strings, numbers and booleans as written; nothing is `""`. */
function text(v: unknown, filter: string): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  throw new Error(`${filter}: expects text, got ${kindOf(v)}`)
}

const BOOLS: Record<string, boolean> = { '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false }

/** Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False; `""` is false. */
export function parseBool(v: unknown): boolean {
  const s = text(v, 'parseBool')
  if (s === '') return false
  const b = BOOLS[s]
  if (b === undefined) throw new Error(`parseBool: ${JSON.stringify(s)} is not a boolean (1, t, true, 0, f, false, …)`)
  return b
}

/** A base-10 integer as Go's ParseInt/ParseUint read it, within what a JavaScript number holds exactly. */
function integer(v: unknown, filter: string, signed: boolean): number {
  const s = text(v, filter)
  if (s === '') return 0
  if (!(signed ? /^[+-]?\d+$/ : /^\d+$/).test(s)) throw new Error(`${filter}: ${JSON.stringify(s)} is not a base-10 ${signed ? 'integer' : 'unsigned integer'}`)
  const n = Number(s)
  if (!Number.isSafeInteger(n)) throw new Error(`${filter}: ${JSON.stringify(s)} is out of range (beyond ±2^53, which a template number holds exactly)`)
  return n === 0 ? 0 : n // no -0
}

const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i

/** Go's strconv.ParseFloat for decimal text (and inf, infinity, nan); `""` is 0. */
export function parseFloat(v: unknown): number {
  const s = text(v, 'parseFloat')
  if (s === '') return 0
  if (!FLOAT.test(s)) throw new Error(`parseFloat: ${JSON.stringify(s)} is not a decimal number`)
  const word = s.replace(/^[+-]/, '').toLowerCase()
  if (word === 'nan') return NaN
  const n = word.startsWith('inf') ? Infinity * (s.startsWith('-') ? -1 : 1) : Number(s)
  if (!Number.isFinite(n) && !word.startsWith('inf')) throw new Error(`parseFloat: ${JSON.stringify(s)} is out of range`)
  return n
}

/** Go's split: the text trimmed, then cut at `sep` (empty text gives an empty list). */
export function split(v: unknown, sep: unknown): string[] {
  const s = text(v, 'split').trim()
  if (s === '') return []
  if (typeof sep !== 'string') throw new Error(`split: the separator must be text, got ${kindOf(sep)}`)
  return sep === '' ? [...s] : s.split(sep)
}

/** `"a:x,b:y" | splitToMap(",", ":")`: `{a: "x", b: "y"}`; an item without `kvSep` throws. */
export function splitToMap(v: unknown, sep: unknown, kvSep: unknown): Record<string, string> {
  if (typeof sep !== 'string' || sep === '' || typeof kvSep !== 'string' || kvSep === '') throw new Error(`splitToMap: expects two non-empty separators, as splitToMap(",", ":")`)
  const out = Object.create(null) as Record<string, string>
  const s = text(v, 'splitToMap').trim()
  if (s === '') return out
  for (const item of s.split(sep)) {
    const at = item.indexOf(kvSep)
    if (at < 0) throw new Error(`splitToMap: ${JSON.stringify(item)} has no ${JSON.stringify(kvSep)}`)
    out[item.slice(0, at)] = item.slice(at + kvSep.length)
  }
  return out
}

/** `"foo.bar" | regexMatch("foo([.a-z]+)")`: whether the RE2 expression matches anywhere. */
export function regexMatch(v: unknown, re: unknown): boolean {
  if (typeof re !== 'string') throw new Error(`regexMatch: the expression must be text, got ${kindOf(re)}`)
  return goMatch(compileGoRegexp(re, 'regexMatch'), text(v, 'regexMatch'))
}

/** `"foo.bar" | regexReplaceAll("foo([.a-z]+)", "$1")`: every match replaced, `$1`/`${name}` expanded as Go does. */
export function regexReplaceAll(v: unknown, re: unknown, replacement: unknown): string {
  if (typeof re !== 'string') throw new Error(`regexReplaceAll: the expression must be text, got ${kindOf(re)}`)
  return goReplaceAll(compileGoRegexp(re, 'regexReplaceAll'), text(v, 'regexReplaceAll'), text(replacement, 'regexReplaceAll'))
}

export const stringFilters = {
  parseBool,
  /** Go's ParseInt, base 10: an optional sign and digits; `""` is 0. */
  parseInt: (v: unknown): number => integer(v, 'parseInt', true),
  /** Go's ParseUint, base 10: digits only; `""` is 0. */
  parseUint: (v: unknown): number => integer(v, 'parseUint', false),
  parseFloat,
  split,
  splitToMap,
  /** The text without `prefix` at its start, if it is there. */
  trimPrefix: (v: unknown, prefix: unknown): string => {
    const s = text(v, 'trimPrefix')
    const p = text(prefix, 'trimPrefix')
    return p && s.startsWith(p) ? s.slice(p.length) : s
  },
  /** The text without `suffix` at its end, if it is there. */
  trimSuffix: (v: unknown, suffix: unknown): string => {
    const s = text(v, 'trimSuffix')
    const p = text(suffix, 'trimSuffix')
    return p && s.endsWith(p) ? s.slice(0, -p.length) : s
  },
  regexMatch,
  regexReplaceAll,
}
