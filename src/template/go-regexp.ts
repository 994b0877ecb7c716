/**
 * consul-template's `regexMatch` and `regexReplaceAll` take Go's regexp
 * syntax (RE2), and a template carried over must match the same text here.
 * This turns an RE2 expression into a JavaScript RegExp (`u` mode) or throws
 * naming what RE2 or JavaScript cannot take. It is the renderer's own: the
 * sidecar's src/connect/re2.ts writes PCRE2 for HAProxy, which reads several
 * escapes differently, and the renderer never imports the sidecar.
 *
 * What differs and is rewritten: `(?P<name>` groups, `\A` and `\z`, `\Q…\E`,
 * POSIX classes (`[[:alpha:]]`), `\pL` and script names (`\p{Greek}`), octal
 * and `\a` escapes, Go's ASCII `\s`, literal braces and `]`, and punctuation
 * escapes JavaScript refuses in `u` mode. Flags (`(?i)`, `(?s)`, `(?m)`) are
 * taken only at the very start; what RE2 refuses (lookaround, backreferences,
 * atomic groups) is refused. Replacement follows Go's `Expand` (`$1`,
 * `${name}`, `$$`; an unknown group is empty) and Go's rule that an empty
 * match right after a match is not replaced.
 */

const SYNTAX = new Set([...'^$\\.*+?()[]{}|/'])
const REPEAT = /^\{(\d+)(?:,(\d*))?\}/
const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F', digit: '0-9',
  graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ', upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
}
/** Unicode general categories, which JavaScript takes bare; any other `\p{Name}` is a script. */
const CATEGORY = /^(?:[LMNPSZC][a-z]?|L&)$/
/** Go's `\s` is ASCII: no \v and no Unicode spaces. */
const GO_SPACE = '\\t\\n\\f\\r '

/** A compiled expression: the RegExp (global, for scanning) and its group names. */
export interface GoRegexp {
  source: string
  regexp: RegExp
}

const cache = new Map<string, GoRegexp>()

/** Compiles an RE2 expression as Go would read it; throws `<filter>: …` naming what is wrong. */
export function compileGoRegexp(re: string, filter: string): GoRegexp {
  const hit = cache.get(re)
  if (hit) return hit
  const fail = (at: number, why: string): never => {
    throw new Error(`${filter}: regex ${JSON.stringify(re)} at offset ${at}: ${why}`)
  }
  const lead = /^\(\?([imsU]+)\)/.exec(re)
  const flags = lead?.[1] ?? ''
  if (flags.includes('U')) fail(0, 'the (?U) flag (ungreedy) is not supported')
  const body = translate(re, lead?.[0].length ?? 0, fail)
  let regexp: RegExp
  try {
    regexp = new RegExp(body, `gu${flags}`)
  } catch (err) {
    throw new Error(`${filter}: regex ${JSON.stringify(re)}: ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')}`)
  }
  const compiled = { source: re, regexp }
  if (cache.size >= 256) cache.delete(cache.keys().next().value!)
  cache.set(re, compiled)
  return compiled
}

/** Whether `re` matches anywhere in `text` (Go's MatchString). */
export function goMatch(re: GoRegexp, text: string): boolean {
  re.regexp.lastIndex = 0
  return re.regexp.test(text)
}

/** Go's ReplaceAllString: every match replaced by `template` expanded, an empty match abutting the last one left alone. */
export function goReplaceAll(re: GoRegexp, text: string, template: string): string {
  const rx = re.regexp
  let out = ''
  let lastEnd = 0
  let pos = 0
  while (pos <= text.length) {
    rx.lastIndex = pos
    const m = rx.exec(text)
    if (!m) break
    const start = m.index
    const end = start + m[0].length
    out += text.slice(lastEnd, start)
    if (end > lastEnd || start === 0) out += expand(template, m)
    lastEnd = end
    // Advance past the match, and always by at least one character.
    const width = (text.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1
    pos = pos + width > end ? pos + width : end
  }
  return out + text.slice(lastEnd)
}

/** Go's Regexp.Expand for one match: `$n`, `${n}`, `$name`, `${name}`, `$$`; a malformed `$` stays as it is. */
function expand(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (whole, braced?: string, bare?: string) => {
    if (whole === '$$') return '$'
    const name = (braced ?? bare)!
    const value = /^\d+$/.test(name) ? m[Number(name)] : m.groups?.[name]
    return value ?? ''
  })
}

type Fail = (at: number, why: string) => never

function translate(re: string, from: number, fail: Fail): string {
  let out = ''
  let i = from
  while (i < re.length) {
    const c = re[i]!
    if (c === '\\') {
      const [text, next] = escape(re, i, false, fail)
      out += text
      i = next
    } else if (c === '[') {
      const [text, next] = charClass(re, i, fail)
      out += text
      i = next
    } else if (c === '(' && re[i + 1] === '?') {
      const [text, next] = groupOpen(re, i, fail)
      out += text
      i = next
    } else if (c === '{') {
      const m = REPEAT.exec(re.slice(i))
      if (m && (Number(m[1]) > 1000 || Number(m[2] || 0) > 1000)) fail(i, 'repeat count over 1000')
      out += m ? m[0] : '\\{'
      i += m ? m[0].length : 1
    } else {
      out += c === '}' || c === ']' ? `\\${c}` : c
      i++
    }
  }
  return out
}

/** One escape at re[i] === '\\'; returns the JavaScript text and the next index. */
function escape(re: string, i: number, inClass: boolean, fail: Fail): [string, number] {
  const e = re[i + 1]
  if (e === undefined) fail(i, 'trailing backslash')
  const octal = /^[0-7]{1,3}/.exec(re.slice(i + 1))?.[0]
  if (octal && (octal.length > 1 || e === '0')) return [`\\u{${parseInt(octal, 8).toString(16)}}`, i + 1 + octal.length]
  if (/[1-9]/.test(e)) fail(i, `backreference \\${e} is not RE2 syntax`)
  if (e === 'x') {
    const m = /^\\x(?:\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2}))/.exec(re.slice(i))
    if (!m) fail(i, 'bad \\x escape')
    return [`\\u{${m[1] ?? m[2]}}`, i + m[0].length]
  }
  if (e === 'p' || e === 'P') return unicodeClass(re, i, fail)
  if (e === 'Q') {
    const end = re.indexOf('\\E', i + 2)
    const literal = re.slice(i + 2, end < 0 ? re.length : end)
    return [literal.replace(inClass ? /[\\^$.|?*+()[\]{}/-]/g : /[\\^$.|?*+()[\]{}/]/g, '\\$&'), end < 0 ? re.length : end + 2]
  }
  if (!inClass && e === 'A') return ['(?<![\\s\\S])', i + 2]
  if (!inClass && e === 'z') return ['(?![\\s\\S])', i + 2]
  if (e === 's') return [inClass ? GO_SPACE : `[${GO_SPACE}]`, i + 2]
  if (e === 'S' && !inClass) return [`[^${GO_SPACE}]`, i + 2]
  if (e === 'a') return ['\\x07', i + 2]
  if (/[A-Za-z]/.test(e)) {
    const known = inClass ? 'dDwWStnrfv' : 'dDwWbBtnrfv'
    if (!known.includes(e)) fail(i, `\\${e} is not RE2 syntax${inClass ? ' inside [ ]' : ''}`)
    return [`\\${e}`, i + 2]
  }
  // Go takes any escaped punctuation as itself; JavaScript's u mode only the syntax characters.
  return [SYNTAX.has(e) || (inClass && e === '-') ? `\\${e}` : `\\u{${e.codePointAt(0)!.toString(16)}}`, i + 1 + e.length]
}

/** `\pL`, `\p{Greek}`, `\P{Lu}`, `\p{^Greek}`: categories stay bare, other names are scripts. */
function unicodeClass(re: string, i: number, fail: Fail): [string, number] {
  const m = /^\\([pP])(?:\{(\^?)([A-Za-z_&]+)\}|([A-Za-z]))/.exec(re.slice(i))
  if (!m) fail(i, 'bad \\p escape')
  const negate = (m[1] === 'P') !== (m[2] === '^')
  const name = m[3] ?? m[4]!
  if (name === 'Any') return [negate ? '[^\\s\\S]' : '[\\s\\S]', i + m[0].length]
  return [`\\${negate ? 'P' : 'p'}{${CATEGORY.test(name) ? name.replace('L&', 'LC') : `Script=${name}`}}`, i + m[0].length]
}

/** A bracket expression at re[i] === '['; a leading `]` is a literal, POSIX classes become ranges. */
function charClass(re: string, i: number, fail: Fail): [string, number] {
  let out = '['
  let j = i + 1
  if (re[j] === '^') out += re[j++]
  if (re[j] === ']') (out += '\\]'), j++
  while (j < re.length && re[j] !== ']') {
    if (re[j] === '\\') {
      const [text, next] = escape(re, j, true, fail)
      out += text
      j = next
    } else if (re[j] === '[' && re[j + 1] === ':') {
      const m = /^\[:(\^?)([a-z]+):\]/.exec(re.slice(j))
      if (!m || !POSIX[m[2]!]) fail(j, 'unknown [: :] class')
      if (m[1]) fail(j, `negated class [:^${m[2]}:] is not supported`)
      out += POSIX[m[2]!]
      j += m[0].length
    } else {
      out += re[j] === '[' ? '\\[' : re[j]
      j++
    }
  }
  if (j >= re.length) fail(i, 'missing ]')
  return [out + ']', j + 1]
}

/** A group opening `(?`: non-capturing and named groups pass; flags only at the start; lookaround and the rest are refused. */
function groupOpen(re: string, i: number, fail: Fail): [string, number] {
  const rest = re.slice(i)
  if (rest.startsWith('(?:')) return ['(?:', i + 3]
  const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest)
  if (named) return [`(?<${named[1]}>`, i + named[0].length]
  if (/^\(\?[imsU-]+[:)]/.test(rest)) fail(i, 'flags are only supported at the start, as (?i), (?s) or (?m)')
  const what = /^\(\?(<=|<!|=|!|>)/.exec(rest)?.[1]
  const names: Record<string, string> = { '=': 'lookahead', '!': 'negative lookahead', '<=': 'lookbehind', '<!': 'negative lookbehind', '>': 'atomic group' }
  return fail(i, `${what ? names[what] : 'this group'} (${rest.slice(0, 4)}…) is not RE2 syntax`)
}
