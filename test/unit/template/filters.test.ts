/**
 * Filters shape what lands in security-sensitive files: the trust bundle and
 * hashes that version a config. A bundle that drops a root or an
 * intermediate is a real outage, so each is pinned here. (The authorization
 * table, a mesh filter, is pinned in test/unit/connect/intentions-map.test.ts.)
 */
import t from 'tap'
import type { CaRoots } from '../../../src/dependency/ca-roots.ts'
import { caBundle, filters, pemJoin } from '../../../src/template/filters.ts'

const pem = (name: string) => `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----`

t.test('pemJoin puts exactly one newline between and after blocks', async (t) => {
  t.equal(pemJoin([`${pem('A')}\n\n`, `\n${pem('B')}`]), `${pem('A')}\n${pem('B')}\n`)
  t.equal(pemJoin(pem('A')), `${pem('A')}\n`, 'a single block is accepted')
  t.equal(pemJoin([pem('A'), '', '  \n', null, undefined, 42, pem('B')]), `${pem('A')}\n${pem('B')}\n`, 'empty and non-string entries are skipped')
  t.equal(pemJoin([]), '')
  t.equal(pemJoin(undefined), '')
})

t.test('caBundle includes every root and every intermediate', async (t) => {
  const roots: CaRoots = {
    ActiveRootID: 'new',
    TrustDomain: 'td.consul',
    Roots: [
      { ID: 'old', Name: 'old', RootCert: pem('ROOT-OLD'), IntermediateCerts: [pem('INT-OLD-1'), pem('INT-OLD-2')], Active: false },
      { ID: 'new', Name: 'new', RootCert: `${pem('ROOT-NEW')}\n`, IntermediateCerts: [pem('INT-NEW')], Active: true },
    ],
  }
  const bundle = caBundle(roots)
  for (const name of ['ROOT-OLD', 'INT-OLD-1', 'INT-OLD-2', 'ROOT-NEW', 'INT-NEW']) t.ok(bundle.includes(`\n${name}\n`), `bundle has ${name}`)
  t.equal(bundle.match(/-----BEGIN CERTIFICATE-----/g)?.length, 5)
  t.equal(bundle, [pem('ROOT-OLD'), pem('INT-OLD-1'), pem('INT-OLD-2'), pem('ROOT-NEW'), pem('INT-NEW')].join('\n') + '\n')
  t.equal(caBundle(undefined), '', 'no roots yet: empty, never "undefined"')
})

t.test('base64 filters round-trip UTF-8 text', async (t) => {
  const enc = filters.base64Encode as (v: string) => string
  const dec = filters.base64Decode as (v: string) => string
  t.equal(enc('hello'), 'aGVsbG8=')
  t.equal(dec('aGVsbG8='), 'hello')
  t.equal(dec(enc('mode http\n✓ é')), 'mode http\n✓ é')
})

t.test('sha256 is the hex digest of text, and of JSON for other values', async (t) => {
  const sha = filters.sha256 as (v: unknown) => string
  t.equal(sha('hello'), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
  t.equal(sha(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.equal(sha({ a: 1 }), sha('{"a":1}'))
  t.not(sha({ a: 1 }), sha({ a: 2 }))
  t.equal(sha(undefined), sha(''), 'undefined hashes like empty text instead of throwing')
})

t.test('JSON filters', async (t) => {
  t.equal((filters.toJSON as (v: unknown) => string)({ Port: 21000, Tags: ['a'] }), '{"Port":21000,"Tags":["a"]}')
  t.equal((filters.toJSONPretty as (v: unknown) => string)({ a: 1 }), '{\n  "a": 1\n}')
  t.same((filters.parseJSON as (v: string) => unknown)('{"max_conn": 2000}'), { max_conn: 2000 })
  t.throws(() => (filters.parseJSON as (v: string) => unknown)('{oops'), /^parseJSON: /)
})

t.test("parseJSON reads an empty value as {} (a key not read yet) and names itself on bad JSON", async (t) => {
  const parse = filters.parseJSON as (v: unknown) => unknown
  t.same(parse(''), {})
  t.same(parse(undefined), {})
  t.throws(() => parse('{oops'), /^parseJSON: /)
})

t.test('base64 decoding is strict, as Go is; the URL variants use the padded URL alphabet', async (t) => {
  const f = filters as Record<string, (v: unknown) => string>
  t.throws(() => f.base64Decode!('aGVsxxbG8='), /^base64Decode: "aGVsxxbG8=" is not base64/)
  t.equal(f.base64Decode!('aGVs\nbG8='), 'hello', 'line breaks are skipped')
  t.equal(f.base64URLEncode!('testing123'), 'dGVzdGluZzEyMw==')
  t.equal(f.base64URLEncode!('??>'), 'Pz8-', 'URL alphabet')
  t.equal(f.base64URLDecode!('dGVzdGluZzEyMw=='), 'testing123')
  t.equal(f.base64URLDecode!('Pz8-'), '??>')
  t.throws(() => f.base64URLDecode!('Pz8+'), /^base64URLDecode: "Pz8\+" is not URL-safe base64/)
})

t.test("consul-template's hashes: sha256Hex, md5sum, hmacSHA256Hex", async (t) => {
  const f = filters as Record<string, (v: unknown, k?: unknown) => string>
  t.equal(f.sha256Hex!('hello'), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
  t.equal(f.md5sum!('test'), '098f6bcd4621d373cade4e832627b4f6')
  t.equal(f.hmacSHA256Hex!('somemessage', 'somekey'), '6116e95f2827172aa6ef8b22b883f6a77e966aefc129c6b8228ebd0aac74e98d', "consul-template's own test vector")
  t.throws(() => f.hmacSHA256Hex!('somemessage'), /^hmacSHA256Hex: expects a text key/)
})
