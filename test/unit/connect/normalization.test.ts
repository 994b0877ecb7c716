/**
 * Path normalisation is what keeps `/public/../admin` from passing a rule
 * that allows `/public/`, so its default must be on, and each setting of the
 * mesh entry's HTTP.Incoming.RequestNormalization must mean what it means to
 * Envoy. An unknown value is an error naming the field, never a silent off.
 */
import t from 'tap'
import { requestNormalization } from '../../../src/connect/normalization.ts'

const entry = (n: object) => ({ Kind: 'mesh', Name: 'mesh', HTTP: { Incoming: { RequestNormalization: n } } })

t.test('no mesh entry, or one without the field: normalisation on, nothing else', async (t) => {
  const defaults = { paths: true, mergeSlashes: false, escapedSlashes: 'keep', underscoreHeaders: 'allow' }
  t.same(requestNormalization(null), defaults)
  t.same(requestNormalization(undefined), defaults)
  t.same(requestNormalization({ Kind: 'mesh', Name: 'mesh', TransparentProxy: { MeshDestinationsOnly: true } }), defaults, 'Consul 1.14 entry')
})

t.test('each setting', async (t) => {
  t.equal(requestNormalization(entry({ InsecureDisablePathNormalization: true })).paths, false)
  t.equal(requestNormalization(entry({ MergeSlashes: true })).mergeSlashes, true)
  const slashes: Record<string, string> = { KEEP_UNCHANGED: 'keep', IMPLEMENTATION_SPECIFIC_DEFAULT: 'keep', REJECT_REQUEST: 'reject', UNESCAPE_AND_FORWARD: 'unescape', UNESCAPE_AND_REDIRECT: 'redirect' }
  for (const [k, v] of Object.entries(slashes)) t.equal(requestNormalization(entry({ PathWithEscapedSlashesAction: k })).escapedSlashes, v, k)
  t.equal(requestNormalization(entry({ HeadersWithUnderscoresAction: 'REJECT_REQUEST' })).underscoreHeaders, 'reject')
  t.equal(requestNormalization(entry({ HeadersWithUnderscoresAction: 'DROP_HEADER' })).underscoreHeaders, 'reject', 'refused, since HAProxy 2.6 cannot drop by pattern')
})

t.test('an unknown action names the field', async (t) => {
  t.throws(() => requestNormalization(entry({ PathWithEscapedSlashesAction: 'DECODE' })), { message: /PathWithEscapedSlashesAction "DECODE" is not one of IMPLEMENTATION_SPECIFIC_DEFAULT, KEEP_UNCHANGED, REJECT_REQUEST/ })
  t.throws(() => requestNormalization(entry({ HeadersWithUnderscoresAction: 'IGNORE' })), { message: /HeadersWithUnderscoresAction "IGNORE"/ })
})
