/**
 * consul-template's text helpers, read as Go reads them: templates carried
 * over rely on `""` being the zero value (the first render, before a key
 * arrives), on Go's boolean spellings, and on split trimming first. Bad input
 * is one error line that names the filter and the value.
 */
import t from 'tap'
import { stringFilters as f } from '../../../src/template/ct-strings.ts'

t.test('parseBool takes Go spellings; "" is false', async (t) => {
  for (const s of ['1', 't', 'T', 'TRUE', 'true', 'True']) t.equal(f.parseBool(s), true, s)
  for (const s of ['0', 'f', 'F', 'FALSE', 'false', 'False', '', undefined]) t.equal(f.parseBool(s), false, String(s))
  t.throws(() => f.parseBool('yes'), /^parseBool: "yes" is not a boolean/)
})

t.test('parseInt and parseUint are base 10; "" is 0', async (t) => {
  t.equal(f.parseInt('-1'), -1)
  t.equal(f.parseInt('+42'), 42)
  t.equal(f.parseInt('007'), 7)
  t.equal(f.parseInt(''), 0)
  t.equal(f.parseInt(12), 12)
  t.equal(f.parseUint('1'), 1)
  t.throws(() => f.parseInt('1.5'), /^parseInt: "1.5" is not a base-10 integer/)
  t.throws(() => f.parseInt(' 1'), /parseInt/)
  t.throws(() => f.parseInt('0x10'), /parseInt/)
  t.throws(() => f.parseUint('-1'), /^parseUint: "-1" is not a base-10 unsigned integer/)
  t.throws(() => f.parseInt('99999999999999999999'), /^parseInt: .* out of range/)
  t.throws(() => f.parseInt({}), /^parseInt: expects text, got an object/)
})

t.test('parseFloat reads decimal text, inf and nan; "" is 0', async (t) => {
  t.equal(f.parseFloat('1.2'), 1.2)
  t.equal(f.parseFloat('-1e3'), -1000)
  t.equal(f.parseFloat('.5'), 0.5)
  t.equal(f.parseFloat('-Inf'), -Infinity)
  t.ok(Number.isNaN(f.parseFloat('NaN')))
  t.equal(f.parseFloat(''), 0)
  t.throws(() => f.parseFloat('1,5'), /^parseFloat: "1,5" is not a decimal number/)
  t.throws(() => f.parseFloat('1e999'), /^parseFloat: "1e999" is out of range/)
})

t.test('split trims first and gives [] for empty text; splitToMap builds an object', async (t) => {
  t.same(f.split('a,b,c', ','), ['a', 'b', 'c'])
  t.same(f.split('foo\nbar\n', '\n'), ['foo', 'bar'], "consul-template's example: the trailing newline is trimmed")
  t.same(f.split('', ','), [])
  t.same(f.split(undefined, ','), [])
  t.throws(() => f.split('a', undefined), /^split: the separator must be text/)
  t.same({ ...f.splitToMap('a:x,b:y,c:z', ',', ':') }, { a: 'x', b: 'y', c: 'z' })
  t.same({ ...f.splitToMap('url:http://x', ',', ':') }, { url: 'http://x' }, 'cut at the first separator only')
  t.same({ ...f.splitToMap('', ',', ':') }, {})
  t.throws(() => f.splitToMap('a:x,b', ',', ':'), /^splitToMap: "b" has no ":"/)
  t.throws(() => f.splitToMap('a:x', ','), /^splitToMap: expects two non-empty separators/)
})

t.test('trimPrefix and trimSuffix cut only what is there', async (t) => {
  t.equal(f.trimPrefix('hello world!!', 'hello '), 'world!!')
  t.equal(f.trimPrefix('hello', 'x'), 'hello')
  t.equal(f.trimSuffix('hello world!!', ' world!!'), 'hello')
  t.equal(f.trimSuffix('hello', ''), 'hello')
})

t.test('regexMatch and regexReplaceAll', async (t) => {
  t.equal(f.regexMatch('foo.bar', 'foo([.a-z]+)'), true)
  t.equal(f.regexMatch('foo', '^[0-9]+$'), false)
  t.equal(f.regexMatch(undefined, '^$'), true, 'nothing is empty text')
  t.equal(f.regexReplaceAll('foo.bar', 'foo([.a-z]+)', '$1'), '.bar')
  t.throws(() => f.regexMatch('a', undefined), /^regexMatch: the expression must be text/)
  t.throws(() => f.regexReplaceAll('a', '(?=a)', 'b'), /^regexReplaceAll: regex .* lookahead/)
})
