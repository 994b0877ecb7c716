/**
 * Filters a config author needs on top of Nunjucks' own: joining PEM blocks
 * into bundles, JSON and base64 helpers, and a stable hash to version a file.
 * Each is documented in docs/renderer.md's filter table.
 */
import { createHash } from 'node:crypto'
import type { CaRoots } from '../dependency/ca-roots.ts'
import type { Intention } from '../dependency/intentions-match.ts'
import { intentionRules } from './l7-rules.ts'
import { requestNormalization } from './normalization.ts'
import { accessLogs } from './access-logs.ts'
import { exposeListeners, exposeSources } from './expose.ts'
import { localSettings, upstreamSettings } from './proxy-settings.ts'
import { upstreamPlan } from './chain-plan.ts'

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

export interface TableRow {
  Source: string
  Action: 'allow' | 'deny'
}

/**
 * The authorization table of a sidecar: intentions (already in precedence
 * order) reduced to the first rule per source name. L7 intentions count as
 * deny, as Consul's authorize endpoint does; sources in other namespaces,
 * partitions or peers are left to the agent. It is intentionRules' tcp table.
 */
export function intentionTable(intentions: Intention[] | undefined): TableRow[] {
  return intentionRules(intentions, 'tcp').map((r) => ({ Source: r.Key, Action: r.Value === 'allow' ? 'allow' : 'deny' }))
}

export const filters: Record<string, (value: never, ...args: never[]) => unknown> = {
  pemJoin,
  caBundle,
  intentionTable,
  intentionRules,
  requestNormalization,
  localSettings,
  upstreamSettings,
  upstreamPlan,
  exposeListeners,
  exposeSources,
  accessLogs,
  toJSON: (v: unknown) => JSON.stringify(v),
  toJSONPretty: (v: unknown) => JSON.stringify(v, null, 2),
  parseJSON: (v: string) => JSON.parse(v),
  base64Encode: (v: string) => Buffer.from(String(v), 'utf8').toString('base64'),
  base64Decode: (v: string) => Buffer.from(String(v), 'base64').toString('utf8'),
  sha256: (v: unknown) => createHash('sha256').update(typeof v === 'string' ? v : JSON.stringify(v) ?? '').digest('hex'),
}
