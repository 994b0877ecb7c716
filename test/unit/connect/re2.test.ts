/**
 * L7 regexes are written for Envoy (RE2, whole-string match) and run in
 * HAProxy (PCRE2, match anywhere). The anchoring and the refusal of what RE2
 * does not accept decide whether `/admin` can slip through a rule meant for
 * `/public`, so each case a user could write is pinned here; the same forms
 * are compiled by a real HAProxy in test/integration/l7-regex.test.ts.
 */
import t from 'tap'
import { anchoredPcre, translate } from '../../../src/connect/re2.ts'
import { RegexError } from '../../../src/errors.ts'

t.test('anchored as a whole-string match', async (t) => {
  t.equal(anchoredPcre('/api/.*'), '^(?:/api/.*)\\z')
  t.equal(anchoredPcre('a|b'), '^(?:a|b)\\z', 'alternation stays inside the group')
  t.equal(anchoredPcre(''), '^(?:)\\z')
})

t.test('RE2 syntax PCRE2 reads the same way passes through', async (t) => {
  for (const re of ['/v[0-9]+/items', '(?i)admin', '(?i:a)b', '(?P<ver>v\\d+)', '[[:alpha:]]+', '\\x41\\x{7f}', 'a{2,5}?', 'a*?b+?c??', '[^/]+', '\\.\\*', '\\Aa\\z', '(a)(?:b)', 'x{3}'])
    t.equal(translate(re), re.replace('(?<', '(?P<'), re)
  t.equal(translate('[]a]'), '[\\]a]', 'a leading ] is a literal, escaped for clarity')
  t.equal(translate('(?<ver>v1)'), '(?P<ver>v1)', 'RE2 named groups written as PCRE2 knows them')
})

t.test('escapes whose meaning differs are rewritten', async (t) => {
  t.equal(translate('a\\vb'), 'a\\x0Bb', 'RE2 \\v is the vertical tab only')
  t.equal(translate('\\Qa.b*\\E+'), 'a\\.b\\*+', '\\Q…\\E quoted into escapes')
})

t.test('what RE2 refuses is refused, with the reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['(?=a)', /lookahead/], ['(?!a)', /negative lookahead/], ['(?<=a)b', /lookbehind/], ['(?<!a)b', /negative lookbehind/],
    ['(?>a)', /atomic group/], ['(a)\\1', /backreference/], ['a++', /possessive/], ['a*+', /possessive/],
    ['(?R)', /recursion/], ['(?(1)a|b)', /conditional/], ['\\K', /not RE2 syntax/], ['\\Z', /not RE2 syntax/],
    ['\\C', /not RE2 syntax/], ['\\pL', /Unicode class/], ['\\P{Greek}', /Unicode class/], ['(a', /missing \)/], ['a)', /unmatched \)/], ['[a', /missing \]/], ['*a', /nothing to repeat/],
    ['a**', /bad repetition/], ['a{1001}', /over 1000/], ['a{3,2}', /bad repeat/], ['a\\', /trailing backslash/],
    ['(?#c)', /comment/], ['\\xZZ', /bad \\x/], ['\\x{263a}', /above/],
  ]
  for (const [re, why] of cases) t.throws(() => translate(re), { name: 'Error', message: why }, re)
  let err: unknown
  try {
    translate('(?=a)')
  } catch (e) {
    err = e
  }
  t.ok(err instanceof RegexError, 'a RegexError, which intentions-map.ts turns into an error naming the intention')
})
