/**
 * The intentions map is the whole authorization policy of an HTTP sidecar:
 * an L7 permission rendered wrongly is either an outage or a hole. These pin
 * what a user of Consul's service-intentions would expect: precedence (first
 * intention per source), L7 counting as deny for tcp, each matcher kind in
 * the exact line shape lua/l7.lua parses (test/lua/l7_spec.lua), and a clear
 * error naming the intention for what cannot be enforced as written.
 */
import t from 'tap'
import type { Intention } from '../../../src/dependency/intentions-match.ts'
import { intentionRules, IntentionRuleError, pct } from '../../../src/template/l7-rules.ts'

const intention = (over: Partial<Intention>): Intention => ({
  ID: '', SourceName: 'web', SourceNS: 'default', SourcePartition: 'default', SourcePeer: '', SourceType: 'consul',
  DestinationName: 'api', Action: '', Permissions: [], Precedence: 9, ...over,
})

const rows = (list: Intention[], protocol = 'http') => intentionRules(list, protocol).map((r) => `${r.Key} ${r.Value}`)

t.test('L4 intentions: first per source, in precedence order; other tenancies left to the agent', async (t) => {
  t.same(rows([
    intention({ SourceName: 'web', Action: 'deny' }),
    intention({ SourceName: 'web', Action: 'allow', Precedence: 8 }),
    intention({ SourceName: 'billing', SourceNS: 'team-b', Action: 'allow' }),
    intention({ SourceName: 'peer', SourcePeer: 'dc9', Action: 'allow' }),
    intention({ SourceName: '*', Action: 'allow', Precedence: 6 }),
  ]), ['web deny', '* allow'])
  t.same(rows([]), [])
  t.same(intentionRules(undefined, 'http'), [])
})

t.test('an L7 intention becomes `l7 <n>` and one line per permission, in order', async (t) => {
  const list = [intention({
    Permissions: [
      { Action: 'allow', HTTP: { PathPrefix: '/api/', Methods: ['GET', 'HEAD'] } },
      { Action: 'deny', HTTP: { PathRegex: '/admin/[a-z]+' } },
      { Action: 'allow', HTTP: { PathExact: '/health', Header: [{ Name: 'X-Role', Exact: 'ops team' }, { Name: 'x-debug', Present: true, Invert: true }] } },
    ],
  })]
  t.same(rows(list), [
    'web l7 3',
    '@p/web/1 allow path.prefix=/api/ methods=GET,HEAD',
    `@p/web/2 deny path.regex=${pct('^(?:/admin/[a-z]+)\\z')}`,
    '@p/web/3 allow path.exact=/health hdr=exact:0:x-role:ops%20team hdr=present:1:x-debug:',
  ])
  for (const line of rows(list)) t.notMatch(line.split(' ').slice(1).join(' '), /[\\#]|\s\s/, `no backslash, # or double space in the value of ${line.split(' ')[0]}`)
  t.same(rows(list, 'http2'), rows(list), 'http2 is HTTP-like')
  t.same(rows(list, 'grpc'), rows(list), 'grpc is HTTP-like')
})

t.test('for tcp destinations an L7 intention counts as deny, as Consul does', async (t) => {
  const list = [intention({ Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] })]
  t.same(rows(list, 'tcp'), ['web deny'])
  t.same(intentionRules(list, undefined).map((r) => r.Value), ['deny'], 'no protocol means tcp')
})

t.test('every header matcher kind, and values percent-encoded byte by byte', async (t) => {
  const list = [intention({
    Permissions: [{ Action: 'allow', HTTP: { Header: [
      { Name: 'a', Prefix: 'x y' }, { Name: 'b', Suffix: '#1' }, { Name: 'c', Regex: 'v[0-9]+' }, { Name: 'd', Exact: 'é' },
    ] } }],
  })]
  t.equal(rows(list)[1], `@p/web/1 allow hdr=prefix:0:a:x%20y hdr=suffix:0:b:%231 hdr=regex:0:c:${pct('^(?:v[0-9]+)\\z')} hdr=exact:0:d:%C3%A9`)
  t.equal(pct('a:b,c%'), 'a%3Ab%2Cc%25')
})

t.test('what cannot be enforced as written is an error naming the intention and field', async (t) => {
  const bad = (HTTP: unknown, Action = 'allow') =>
    () => intentionRules([intention({ ID: 'f00d', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }, { Action, HTTP } as never] })], 'http')
  t.throws(bad({ PathRegex: '(?<=x)y' }), { message: /^intention web -> api \(f00d\) Permissions\[1\]: regex "\(\?<=x\)y" at offset 0: lookbehind/ })
  t.throws(bad({ PathExact: '/a', PathPrefix: '/b' }), { message: /PathExact and PathPrefix; at most one path match/ })
  t.throws(bad({ Methods: ['get'] }), { message: /Methods: "get" is not an HTTP method/ })
  t.throws(bad({ Header: [{ Name: 'x', Exact: 'a', Prefix: 'b' }] }), { message: /Header\[0\] needs exactly one of/ })
  t.throws(bad({ Header: [{ Name: 'bad name', Present: true }] }), { message: /Header\[0\]\.Name "bad name" is not a header name/ })
  t.throws(bad({ Header: [{ Name: 'x', Regex: 'a++' }] }), { message: /possessive/ })
  t.throws(bad({ PathPrefix: '/' }, 'maybe'), { message: /Action "maybe" is not allow or deny/ })
  let err: unknown
  try {
    intentionRules([intention({ Permissions: [{ Action: 'allow' }] })], 'http')
  } catch (e) {
    err = e
  }
  t.ok(err instanceof IntentionRuleError, 'a permission without HTTP is an IntentionRuleError')
  t.match((err as Error).message, /Permissions\[0\]: HTTP is missing/)
})
