/**
 * Filters a config author needs on top of Nunjucks' own: joining PEM blocks
 * into bundles, JSON and base64 helpers, and a stable hash to version a file.
 * Each is documented in docs/renderer.md's filter table, with the mesh's
 * filters, which an extension adds (connect/index.ts).
 */
import { createHash } from 'node:crypto'
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

export const filters: Record<string, Filter> = {
  pemJoin,
  caBundle,
  toJSON: (v: unknown) => JSON.stringify(v),
  toJSONPretty: (v: unknown) => JSON.stringify(v, null, 2),
  parseJSON: (v: string) => JSON.parse(v),
  base64Encode: (v: string) => Buffer.from(String(v), 'utf8').toString('base64'),
  base64Decode: (v: string) => Buffer.from(String(v), 'base64').toString('utf8'),
  sha256: (v: unknown) => createHash('sha256').update(typeof v === 'string' ? v : JSON.stringify(v) ?? '').digest('hex'),
}
