/**
 * The intentions map is the whole authorization policy of an HTTP sidecar:
 * an L7 permission rendered wrongly is either an outage or a hole. These pin
 * what a user of Consul's service-intentions would expect: precedence (first
 * intention per source), L7 counting as deny for tcp, each matcher kind in
 * the exact line shape lua/l7.lua parses (test/lua/l7_spec.lua), and, for
 * what cannot be enforced as written, the reading that grants less with a
 * warning naming the intention and the field (never a failed map, which would
 * keep an older one).
 */
import t from 'tap'
import type { Intention } from '../../../src/dependency/intentions-match.ts'
import { readFileSync } from 'node:fs'
import { parseIntentions } from '../../../src/dependency/intentions-match.ts'
import { intentionRules, intentionTable, pct } from '../../../src/connect/intentions-map.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

/** The rows and the warnings of one render. */
const withWarnings = (list: Intention[], protocol = 'http') => {
  const warnings = new Set<string>()
  const out = collectWarnings(warnings, () => intentionRules(list, protocol).map((r) => `${r.Key} ${r.Value}`))
  return { rows: out, warnings: [...warnings] }
}

const intention = (over: Partial<Intention>): Intention => ({
  ID: '', SourceName: 'web', SourceNS: 'default', SourcePartition: 'default', SourcePeer: '', SourceType: 'consul',
  SourceSamenessGroup: '', DestinationName: 'api', Action: '', Permissions: [], Precedence: 9, Unenforced: [], ...over,
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

t.test('a `*/*` intention (any namespace, Enterprise) also matches default-namespace sources, after `default/*`', async (t) => {
  t.same(rows([
    intention({ SourceName: 'web', Action: 'allow' }),
    intention({ SourceName: '*', Action: 'allow', Precedence: 6 }),
    intention({ SourceName: '*', SourceNS: '*', Action: 'deny', Precedence: 5 }),
  ]), ['web allow', '* allow'], 'default/* decides first')
  t.same(rows([
    intention({ SourceName: 'web', Action: 'allow' }),
    intention({ SourceName: '*', SourceNS: '*', Action: 'deny', Precedence: 5 }),
  ]), ['web allow', '* deny'], 'without default/*, */* is the wildcard row: the default never decides over it')
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

t.test('a permission that cannot be read denies its whole source, with a warning naming it; other sources keep their rows', async (t) => {
  const bad = (HTTP: unknown, Action = 'allow') =>
    withWarnings([
      intention({ ID: 'f00d', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }, { Action, HTTP } as never] }),
      intention({ SourceName: 'ops', Action: 'allow' }),
    ])
  const cases: Array<[ReturnType<typeof bad>, RegExp]> = [
    [bad({ PathRegex: '(?<=x)y' }), /^intention web -> api \(f00d\) Permissions\[1\]: regex "\(\?<=x\)y" at offset 0: lookbehind/],
    [bad({ PathExact: '/a', PathPrefix: '/b' }), /PathExact and PathPrefix; at most one path match/],
    [bad({ Methods: ['get'] }), /Methods: "get" is not an HTTP method/],
    [bad({ Header: [{ Name: 'x', Exact: 'a', Prefix: 'b' }] }), /Header\[0\] needs exactly one of Present, Exact, Prefix, Suffix, Contains, Regex/],
    [bad({ Header: [{ Name: 'bad name', Present: true }] }), /Header\[0\]\.Name "bad name" is not a header name/],
    [bad({ Header: [{ Name: 'x', Regex: 'a++' }] }), /possessive/],
    [bad({ PathPrefix: '/' }, 'maybe'), /Action "maybe" is not allow or deny/],
    [bad(undefined), /Permissions\[1\]: HTTP is missing/],
  ]
  for (const [{ rows, warnings }, message] of cases) {
    t.same(rows, ['web deny', 'ops allow'], `denied whole: ${message}`)
    t.equal(warnings.length, 1)
    t.match(warnings[0], message)
    t.match(warnings[0], /; every request from web is denied$/)
  }
})

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/newer/${name}`, import.meta.url), 'utf8'))

t.test('JWT (Consul 1.16+): an allow that needs one never applies; a deny that names one applies to every request', async (t) => {
  const list = parseIntentions(fixture('intentions-match-1.16-jwt.json'), 'api')
  t.same(list.map((it) => it.Unenforced), [['JWT'], [], [], []], 'the intention-level JWT is seen, other rows carry none')
  const { rows, warnings } = withWarnings(list)
  t.same(rows, [
    // web's L4 allow needs a JWT: skipped, so `*` (deny) decides for web.
    'billing l7 3',
    '@p/billing/1 allow never',
    '@p/billing/2 deny path.prefix=/admin',
    '@p/billing/3 allow path.prefix=/',
    'ops deny',
    '* deny',
  ])
  t.match(warnings, [
    /^intention web -> api \(a1\): allow never applies: it requires JWT, which meshplate does not enforce$/,
    /^intention billing -> api \(b2\) Permissions\[0\]: allow never matches: it requires JWT/,
    /^intention billing -> api \(b2\) Permissions\[1\]: deny applies whatever its JWT says$/,
  ])
  t.same(withWarnings(list, 'tcp').rows, ['billing deny', 'ops deny', '* deny'], 'tcp: the JWT allow is skipped, L7 counts as deny')
})

t.test('header matchers of Consul 1.20.1: Contains, and IgnoreCase on Exact/Prefix/Suffix/Contains', async (t) => {
  const list = parseIntentions(fixture('intentions-match-1.20.1-headers.json'), 'api')
  const { rows, warnings } = withWarnings(list)
  t.same(rows, [
    'web l7 3',
    '@p/web/1 deny hdr=exact:0i:x-role:admin',
    '@p/web/2 deny hdr=contains:0:x-team:adm',
    '@p/web/3 allow path.prefix=/ hdr=suffix:1i:x-env:-PROD',
  ])
  t.same(warnings, [], 'all enforced: no warning')
})

t.test('sameness groups (Consul 1.16, Enterprise): never grant access; a deny may only narrow', async (t) => {
  const { rows, warnings } = withWarnings([
    intention({ SourceName: 'web', SourceSamenessGroup: 'east', Action: 'allow', ID: 's1' }),
    intention({ SourceName: 'ops', SourceSamenessGroup: 'east', Action: 'deny', ID: 's2' }),
    intention({ SourceName: 'web', Action: 'deny', Precedence: 8 }),
    intention({ SourceName: 'ops', Action: 'allow', Precedence: 8 }),
  ])
  t.same(rows, ['ops deny', 'web deny'], 'the sameness allow is skipped (web falls to its own deny); the sameness deny applies to the bare name')
  t.match(warnings, [/intention web \(sameness group east\) -> api \(s1\): allow never applies: it requires SourceSamenessGroup/, /intention ops \(sameness group east\) -> api \(s2\): deny applies to every request from ops/])
})

t.test('keys meshplate does not know, inside intention, permission, HTTP or header matcher, grant less', async (t) => {
  const { rows, warnings } = withWarnings([
    intention({ SourceName: 'a', Action: 'allow', Unenforced: ['SourceMTLSMode'] }),
    intention({ SourceName: 'b', Action: 'deny', Unenforced: ['Risk'] }),
    intention({
      SourceName: 'c',
      Permissions: [
        { Action: 'allow', HTTP: { PathPrefix: '/', QueryParam: [{ Name: 'debug', Exact: '0' }] } },
        { Action: 'deny', HTTP: { PathPrefix: '/admin', Header: [{ Name: 'x-a', Exact: 'v', Locale: 'tr' }, { Name: 'x-b', Present: true }] } },
        { Action: 'deny', HTTP: { PathPrefix: '/', Rate: 5 }, Risk: 'high' },
        { Action: 'allow', HTTP: { Methods: ['GET'] } },
      ],
    }),
  ])
  t.same(rows, [
    'b deny',
    'c l7 4',
    '@p/c/1 allow never',
    '@p/c/2 deny path.prefix=/admin hdr=present:0:x-b:',
    '@p/c/3 deny path.prefix=/',
    '@p/c/4 allow methods=GET',
  ], 'an unknown matcher is dropped from a deny (wider), an allow carrying one never matches')
  t.equal(warnings.length, 5)
  t.match(warnings.join('\n'), /Permissions\[0\]: allow never matches: it requires HTTP\.QueryParam/)
  t.match(warnings.join('\n'), /Permissions\[1\]: deny applies whatever its HTTP\.Header\[0\]\.Locale says/)
  t.match(warnings.join('\n'), /Permissions\[2\]: deny applies whatever its Risk, HTTP\.Rate says/)
  const known = parseIntentions({ api: [{ SourceName: 'w', DestinationName: 'api', Action: 'allow', Description: 'd', Meta: { a: 'b' }, CreatedAt: 'x', Hash: 'h', LegacyID: '', JWT: null, SomethingNew: {} }] }, 'api')
  t.same(known[0]!.Unenforced, [], 'informational keys, and empty values of any key, are no requirement')
})

/** An intention that allows unless it says otherwise. */
const allowing = (over: Partial<Intention>): Intention => intention({ Action: 'allow', ...over })

t.test('intentionTable keeps the first rule per source, in precedence order', async (t) => {
  const rows = intentionTable([
    allowing({ SourceName: 'api', Action: 'allow' }),
    allowing({ SourceName: 'api', Action: 'deny', Precedence: 8 }),
    allowing({ SourceName: 'billing', Action: 'deny' }),
    allowing({ SourceName: '*', Action: 'allow', Precedence: 8 }),
  ])
  t.same(rows, [
    { Source: 'api', Action: 'allow' },
    { Source: 'billing', Action: 'deny' },
    { Source: '*', Action: 'allow' },
  ])
})

t.test('intentionTable denies L7 intentions and leaves foreign sources to the agent', async (t) => {
  const rows = intentionTable([
    allowing({ SourceName: 'admin', Action: '', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/admin' } }] }),
    allowing({ SourceName: 'peered', SourcePeer: 'other-cluster' }),
    allowing({ SourceName: 'team-a', SourceNS: 'team-a' }),
    allowing({ SourceName: 'part', SourcePartition: 'eu' }),
    allowing({ SourceName: 'plain', SourceNS: '', SourcePartition: '' }),
  ])
  t.same(rows, [
    { Source: 'admin', Action: 'deny' },
    { Source: 'plain', Action: 'allow' },
  ])
  t.same(intentionTable(undefined), [])
})
