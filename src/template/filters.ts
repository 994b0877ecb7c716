/**
 * Filters a config author needs on top of Nunjucks' own: joining PEM blocks
 * into bundles, JSON, base64 and hashes (consul-template's names, and a
 * stable `sha256` to version a file). Each is documented in
 * docs/renderer.md's filter table, with the mesh's filters, which an
 * extension adds (connect/index.ts). consul-template's other helpers are in
 * ct-collections.ts and ct-strings.ts.
 */
import { createHash, createHmac } from 'node:crypto'
import type { CaRoots } from '../dependency/ca-roots.ts'

/** Joins PEM blocks with exactly one newline between and after them. */
export function pemJoin(blocks: unknown): string {
  const list = (Array.isArray(blocks) ? blocks : [blocks]).filter((b): b is string => typeof b === 'string' && b.trim() !== '')
  return list.map((b) => b.trim() + '\n').join('')
}

/** Every root and intermediate of caRoots() as one PEM bundle: trust them all. */
export function caBundle(roots: CaRoots | undefined): string {
  if (!roots) return ''
  return pemJoin(roots.Roots.flatMap((r) => [r.RootCert, ...r.IntermediateCerts]))
}

/** A filter: the value left of `|`, then the arguments. */
export type Filter = (value: never, ...args: never[]) => unknown

/** consul-template's parseJSON: `""` (a key not read yet) is `{}`; bad JSON throws naming the filter. */
export function parseJSON(v: unknown): unknown {
  const s = v === undefined || v === null ? '' : String(v)
  if (s === '') return {}
  try {
    return JSON.parse(s)
  } catch (err) {
    throw new Error(`parseJSON: ${(err as Error).message}`, { cause: err })
  }
}

/** Decodes padded base64 (standard or URL alphabet) as Go does: line breaks skipped, anything else invalid throws. */
function base64Decode(v: unknown, url: boolean): string {
  const filter = url ? 'base64URLDecode' : 'base64Decode'
  const s = String(v ?? '').replace(/[\r\n]/g, '')
  const alphabet = url ? /^[A-Za-z0-9_-]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/
  if (!alphabet.test(s) || s.length % 4 !== 0) throw new Error(`${filter}: ${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)} is not ${url ? 'URL-safe ' : ''}base64`)
  return Buffer.from(s, url ? 'base64url' : 'base64').toString('utf8')
}

const hex = (algorithm: string, v: unknown) => createHash(algorithm).update(String(v ?? '')).digest('hex')

export const filters: Record<string, Filter> = {
  pemJoin,
  caBundle,
  toJSON: (v: unknown) => JSON.stringify(v),
  toJSONPretty: (v: unknown) => JSON.stringify(v, null, 2),
  parseJSON,
  base64Encode: (v: string) => Buffer.from(String(v), 'utf8').toString('base64'),
  base64Decode: (v: unknown) => base64Decode(v, false),
  /** Go's URLEncoding: the URL alphabet, padded. */
  base64URLEncode: (v: unknown) => Buffer.from(String(v ?? ''), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_'),
  base64URLDecode: (v: unknown) => base64Decode(v, true),
  sha256: (v: unknown) => createHash('sha256').update(typeof v === 'string' ? v : JSON.stringify(v) ?? '').digest('hex'),
  /** consul-template's sha256Hex and md5sum: hex digests of the text. */
  sha256Hex: (v: unknown) => hex('sha256', v),
  md5sum: (v: unknown) => hex('md5', v),
  /** `message | hmacSHA256Hex(key)`: consul-template's `hmacSHA256Hex message key`. */
  hmacSHA256Hex: (message: unknown, key: unknown) => {
    if (typeof key !== 'string') throw new Error(`hmacSHA256Hex: expects a text key, as message | hmacSHA256Hex(key), got ${key === undefined ? 'none' : typeof key}`)
    return createHmac('sha256', key).update(String(message ?? '')).digest('hex')
  },
}
