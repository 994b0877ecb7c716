/**
 * regexMatch and regexReplaceAll promise Go's regexp: a template carried over
 * from consul-template must match and replace the same text. These pin the
 * places where JavaScript reads RE2 differently (named groups, \A and \z,
 * POSIX classes, literal braces, Go's `$1x` expansion, Go's empty-match rule),
 * and that what RE2 refuses is refused with a line naming the filter.
 */
import t from 'tap'
import { compileGoRegexp, goMatch, goReplaceAll } from '../../../src/template/go-regexp.ts'

const match = (re: string, s: string) => goMatch(compileGoRegexp(re, 'regexMatch'), s)
const replace = (re: string, s: string, tpl: string) => goReplaceAll(compileGoRegexp(re, 'regexReplaceAll'), s, tpl)

t.test('replacement expands $n, ${name} and $$ as Go does; unknown groups are empty', async (t) => {
  t.equal(replace('foo([.a-z]+)', 'foo.bar', '$1'), '.bar', "consul-template's documented example")
  t.equal(replace('\\w', 'foo', 'x'), 'xxx')
  t.equal(replace('(?P<first>a)(b)', 'ab', '${first}-${2}-$$'), 'a-b-$')
  t.equal(replace('(a)', 'a', '$1x'), '', '$1x is the group named "1x", which does not exist')
  t.equal(replace('(a)', 'a', '${1}x'), 'ax')
  t.equal(replace('(a)', 'a', '$9|$nope'), '|')
  t.equal(replace('a', 'a', '$!'), '$!', 'a malformed $ stays')
})

t.test("an empty match right after a match is not replaced (Go's rule, not JavaScript's)", async (t) => {
  t.equal(replace('a*', 'baaac', '-'), '-b-c-')
  t.equal(replace('x*', 'abc', '-'), '-a-b-c-')
  t.equal(replace('', '😀a', '.'), '.😀.a.', 'an empty match advances a whole character')
})

t.test('RE2 syntax JavaScript reads differently is rewritten', async (t) => {
  t.ok(match('(?i)^hello$', 'HeLLo'), 'leading flags')
  t.ok(match('(?s)a.b', 'a\nb'))
  t.ok(match('\\Afoo\\z', 'foo'))
  t.notOk(match('foo\\z', 'foo\n'), '\\z is the very end')
  t.ok(match('^[[:alpha:]][[:digit:]]+$', 'a12'), 'POSIX classes')
  t.ok(match('^\\pL\\p{Greek}+$', 'éαβ'), 'one-letter categories and script names')
  t.ok(match('^\\Qa.b*\\E$', 'a.b*'), '\\Q…\\E is literal')
  t.notOk(match('^\\Qa.b\\E$', 'axb'))
  t.ok(match('^a{b}c$', 'a{b}c'), 'a brace that is no repeat is a literal')
  t.ok(match('^x\\#\\:\\-$', 'x#:-'), 'escaped punctuation is itself')
  t.ok(match('^\\101$', 'A'), 'octal escape')
  t.ok(match('^\\x{1F600}$', '😀'))
  t.notOk(match('^\\s$', '\v'), "Go's \\s has no vertical tab")
  t.ok(match('a]', 'a]'), 'a lone ] is a literal')
  t.ok(match('^[]a]+$', ']a'), 'a leading ] in a class is a literal')
})

t.test('what RE2 refuses is refused, naming the filter and the offset', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['a(?=b)', /regexMatch: regex "a\(\?=b\)" at offset 1: lookahead/],
    ['(?<!a)b', /negative lookbehind/],
    ['(a)\\1', /backreference \\1 is not RE2 syntax/],
    ['a(?i)b', /flags are only supported at the start/],
    ['(?U)a+', /ungreedy/],
    ['[[:^alpha:]]', /negated class/],
    ['a{1001}', /repeat count over 1000/],
    ['\\e', /\\e is not RE2 syntax/],
    ['(a', /regexMatch: regex "\(a": /],
  ]
  for (const [re, message] of cases) t.throws(() => match(re, 'ab'), message, re)
})
