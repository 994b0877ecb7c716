/**
 * How the public listener normalises request paths before the L7 rules (and
 * the app) see them, read from the `mesh` config entry's
 * `HTTP.Incoming.RequestNormalization` exactly as Consul hands it to Envoy.
 * Without normalisation `/public/../admin` would pass a rule that allows
 * `/public/` and reach `/admin`, so it is on unless the entry says
 * `InsecureDisablePathNormalization`. Consul releases before 1.20.1 have no
 * such field; their entries (or none at all) give the defaults.
 */
import type { Json } from '../consul/schema.ts'
import { ConnectConfigError } from '../errors.ts'

export interface RequestNormalization {
  /** Dot segments and percent-encoded unreserved characters (so `%2e`) resolved; bad escapes refused. */
  paths: boolean
  mergeSlashes: boolean
  /** `%2F` and `%5C` in a path: kept, refused (400), unescaped then forwarded, or unescaped and redirected (307). */
  escapedSlashes: 'keep' | 'reject' | 'unescape' | 'redirect'
  /** Header names with `_`: allowed, or the request refused (400). Envoy's DROP_HEADER is refused too (below). */
  underscoreHeaders: 'allow' | 'reject'
}

const SLASH_ACTIONS: Record<string, RequestNormalization['escapedSlashes']> = {
  '': 'keep',
  IMPLEMENTATION_SPECIFIC_DEFAULT: 'keep',
  KEEP_UNCHANGED: 'keep',
  REJECT_REQUEST: 'reject',
  UNESCAPE_AND_FORWARD: 'unescape',
  UNESCAPE_AND_REDIRECT: 'redirect',
}

// DROP_HEADER would need deleting headers by a name pattern, which HAProxy 2.6 cannot do;
// refusing the request instead keeps an underscore header from ever reaching the app.
const UNDERSCORE_ACTIONS: Record<string, RequestNormalization['underscoreHeaders']> = {
  '': 'allow',
  ALLOW: 'allow',
  REJECT_REQUEST: 'reject',
  DROP_HEADER: 'reject',
}

/** The normalisation a `mesh` config entry (or none: null/undefined/{}) asks for. */
export function requestNormalization(mesh: Json | undefined): RequestNormalization {
  const n = at(mesh, ['HTTP', 'Incoming', 'RequestNormalization'])
  const slashes = field(n, 'PathWithEscapedSlashesAction')
  const underscores = field(n, 'HeadersWithUnderscoresAction')
  const escapedSlashes = SLASH_ACTIONS[slashes]
  const underscoreHeaders = UNDERSCORE_ACTIONS[underscores]
  if (!escapedSlashes) throw new ConnectConfigError(`mesh config entry: HTTP.Incoming.RequestNormalization.PathWithEscapedSlashesAction ${JSON.stringify(slashes)} is not one of ${Object.keys(SLASH_ACTIONS).filter(Boolean).join(', ')}`)
  if (!underscoreHeaders) throw new ConnectConfigError(`mesh config entry: HTTP.Incoming.RequestNormalization.HeadersWithUnderscoresAction ${JSON.stringify(underscores)} is not one of ${Object.keys(UNDERSCORE_ACTIONS).filter(Boolean).join(', ')}`)
  return { paths: at(n, ['InsecureDisablePathNormalization']) !== true, mergeSlashes: at(n, ['MergeSlashes']) === true, escapedSlashes, underscoreHeaders }
}

function at(v: Json | undefined, path: string[]): Json | undefined {
  let cur = v
  for (const k of path) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined
    cur = cur[k]
  }
  return cur
}

function field(v: Json | undefined, key: string): string {
  const f = at(v, [key])
  return typeof f === 'string' ? f : ''
}
