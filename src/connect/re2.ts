/**
 * Regular expressions in L7 intentions are RE2 (Envoy's engine) and must
 * match the whole path or header value; HAProxy evaluates them with PCRE2,
 * which matches anywhere and knows constructs RE2 refuses. This file turns an
 * RE2 expression into the anchored PCRE2 one HAProxy runs, or throws naming
 * what is wrong. RE2's syntax is the contract: whatever Envoy would refuse
 * (lookaround, backreferences, possessive or atomic groups, recursion,
 * conditionals, verbs) is refused here too, so the two engines only ever see
 * the common subset. The few escapes whose meaning differs are rewritten:
 * RE2's `\v` is the vertical tab (PCRE2: any vertical space); `\C` and the
 * Unicode classes `\p`/`\P` are refused, because HAProxy's engine runs
 * without UTF-8 mode: it matches bytes, so `.` is one byte, not one character
 * (the same for ASCII, and paths are percent-encoded ASCII). Anchoring is
 * `^(?:…)\z`, because PCRE2's `$` also matches before a final newline.
 */
import { RegexError } from '../errors.ts'

/** RE2 escapes with the same meaning in PCRE2 (besides escaped punctuation, octal and hex). */
const SAME_ESCAPES = new Set(['a', 'f', 't', 'n', 'r', 'A', 'b', 'B', 'z', 'd', 'D', 's', 'S', 'w', 'W', 'x', 'Q', 'E', '0'])
const GROUP_FLAGS = /^\(\?[imsU-]*(?::|\))/
const NAMED_GROUP = /^\(\?P?<[A-Za-z_][A-Za-z0-9_]*>/
const REPEAT = /^\{(\d+)(,(\d*))?\}/

/** The anchored PCRE2 form of an RE2 `regex` that must match the whole subject. */
export function anchoredPcre(regex: string): string {
  return `^(?:${translate(regex)})\\z`
}

/** Checks RE2 syntax and rewrites the escapes PCRE2 reads differently. */
export function translate(re: string): string {
  let out = ''
  let depth = 0
  let canRepeat = false
  let i = 0
  while (i < re.length) {
    const c = re[i]!
    if (c === '\\') {
      const [text, next] = escape(re, i, false)
      out += text
      i = next
      canRepeat = true
    } else if (c === '[') {
      const [text, next] = charClass(re, i)
      out += text
      i = next
      canRepeat = true
    } else if (c === '(') {
      const [text, next] = groupOpen(re, i)
      out += text
      i = next
      if (text.endsWith(')')) continue // a flag setting like (?i): nothing to repeat
      depth++
      canRepeat = false
    } else if (c === ')') {
      if (depth === 0) fail(re, i, 'unmatched )')
      depth--
      out += c
      i++
      canRepeat = true
    } else if (c === '*' || c === '+' || c === '?' || (c === '{' && REPEAT.test(re.slice(i)))) {
      if (!canRepeat) fail(re, i, `nothing to repeat before ${c}`)
      const [text, next] = quantifier(re, i)
      out += text
      i = next
      canRepeat = false
    } else {
      out += c
      i++
      canRepeat = c !== '|' && c !== '^' && c !== '$'
    }
  }
  if (depth > 0) fail(re, re.length, 'missing )')
  return out
}

function fail(re: string, at: number, why: string): never {
  throw new RegexError(`regex ${JSON.stringify(re)} at offset ${at}: ${why} (L7 regexes are RE2, matched by HAProxy's PCRE2)`)
}

/** One escape at re[i] === '\\'; returns the PCRE2 text and the next index. */
function escape(re: string, i: number, inClass: boolean): [string, number] {
  const e = re[i + 1]
  if (e === undefined) fail(re, i, 'trailing backslash')
  if (/[1-9]/.test(e)) fail(re, i, `backreference \\${e} is not RE2 syntax`)
  if (e === 'v') return ['\\x0B', i + 2]
  if (e === 'x') {
    const m = /^\\x(\{[0-9A-Fa-f]{1,6}\}|[0-9A-Fa-f]{2})/.exec(re.slice(i))
    if (!m) fail(re, i, 'bad \\x escape')
    if (parseInt(m[1]!.replace(/[{}]/g, ''), 16) > 0xff) fail(re, i, `${m[0]} is above \\xFF (HAProxy matches bytes, not UTF-8 characters)`)
    return [m[0], i + m[0].length]
  }
  // HAProxy compiles without UTF-8 mode, so a Unicode class would test bytes, not characters.
  if (e === 'p' || e === 'P') fail(re, i, `Unicode class \\${e} is not supported (HAProxy matches bytes, not UTF-8 characters)`)
  if (e === 'Q') {
    const end = re.indexOf('\\E', i + 2)
    const literal = re.slice(i + 2, end < 0 ? re.length : end)
    return [literal.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&'), end < 0 ? re.length : end + 2]
  }
  if (/[A-Za-z]/.test(e)) {
    if (!SAME_ESCAPES.has(e) || (inClass && /[AbBzQE]/.test(e))) fail(re, i, `\\${e} is not RE2 syntax HAProxy reads the same way`)
    return [`\\${e}`, i + 2]
  }
  return [`\\${e}`, i + 2]
}

/** A bracket expression at re[i] === '['; POSIX classes like [:alpha:] pass through. */
function charClass(re: string, i: number): [string, number] {
  let out = '['
  let j = i + 1
  if (re[j] === '^') out += re[j++]
  if (re[j] === ']') out += '\\]', j++ // a leading ] is a literal
  while (j < re.length && re[j] !== ']') {
    if (re[j] === '\\') {
      const [text, next] = escape(re, j, true)
      out += text
      j = next
    } else if (re[j] === '[' && re[j + 1] === ':') {
      const end = re.indexOf(':]', j + 2)
      if (end < 0) fail(re, j, 'unterminated [: :] class')
      out += re.slice(j, end + 2)
      j = end + 2
    } else {
      out += re[j] === '[' ? '\\[' : re[j]
      j++
    }
  }
  if (j >= re.length) fail(re, i, 'missing ]')
  return [out + ']', j + 1]
}

/** A group opening at re[i] === '(': capturing, non-capturing, named or flags. */
function groupOpen(re: string, i: number): [string, number] {
  const rest = re.slice(i)
  if (!rest.startsWith('(?')) return ['(', i + 1]
  const flags = GROUP_FLAGS.exec(rest)
  if (flags) return [flags[0], i + flags[0].length]
  const named = NAMED_GROUP.exec(rest)
  if (named) return [named[0].replace('(?<', '(?P<'), i + named[0].length]
  const what = /^\(\?(=|!|<=|<!|>|\||#|R|\d|&|\(|C|P=|P>)/.exec(rest)?.[1]
  const names: Record<string, string> = { '=': 'lookahead', '!': 'negative lookahead', '<=': 'lookbehind', '<!': 'negative lookbehind', '>': 'atomic group', '|': 'branch reset', '#': 'comment', R: 'recursion', '&': 'subroutine', '(': 'conditional', C: 'callout', 'P=': 'named backreference', 'P>': 'subroutine' }
  fail(re, i, `${what ? (names[what] ?? 'recursion') : 'this group'} (${rest.slice(0, 4)}…) is not RE2 syntax`)
}

/** A quantifier at re[i]; RE2 allows one lazy `?` after it, never a possessive `+`, and counts up to 1000. */
function quantifier(re: string, i: number): [string, number] {
  let j = i + 1
  let text = re[i]!
  if (re[i] === '{') {
    const m = REPEAT.exec(re.slice(i))!
    const max = m[3] ? Number(m[3]) : Number(m[1])
    if (Number(m[1]) > 1000 || max > 1000) fail(re, i, 'repeat count over 1000')
    if (m[3] && Number(m[3]) < Number(m[1])) fail(re, i, `bad repeat ${m[0]}`)
    text = m[0]
    j = i + m[0].length
  }
  if (re[j] === '?') return [text + '?', j + 1]
  if (re[j] === '+') fail(re, j, 'possessive quantifier is not RE2 syntax')
  if (re[j] === '*' || (re[j] === '{' && REPEAT.test(re.slice(j)))) fail(re, j, `bad repetition ${re.slice(i, j + 1)}`)
  return [text, j]
}
