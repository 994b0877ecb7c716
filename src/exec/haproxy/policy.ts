/**
 * The one place that knows HAProxy versions: which kinds of file the running
 * HAProxy can take through its runtime API, and which need a reload. Every
 * other module asks `canPush` with the version the master reports.
 *
 * - Maps and server state (address, port, weight, maintenance): pushed on every
 *   version meshplate supports (2.6 and later).
 * - Leaf certificates (`set`/`commit ssl cert`): pushed, because meshplate never
 *   commits a CA file. On 2.6.12 and 3.0.11 a cert commit after a CA commit is
 *   answered "Success!" and ignored, and a second CA commit crashes the worker
 *   (haproxy#3165, fixed upstream in 7482b6ebf, 2025-10-22): a worker that has
 *   seen a CA commit must not be trusted with cert commits.
 * - CA bundles: reloaded on every version, which also gives the new worker a
 *   clean slate for later cert commits. When a release with the fix is
 *   supported, `caFilePushableFrom` is the line to change.
 */
import type { RuntimeKind } from './runtime-api.ts'

/** The oldest HAProxy whose `commit ssl ca-file` can be trusted; none yet (haproxy#3165). */
const caFilePushableFrom: readonly number[] | undefined = undefined

/** True when a changed file of `kind` may be pushed into a running HAProxy of `version`. */
export function canPush(kind: RuntimeKind, version: string): boolean {
  if (kind !== 'ssl-ca-file') return true
  return caFilePushableFrom !== undefined && compareVersions(parseVersion(version), caFilePushableFrom) >= 0
}

/** "3.0.11-1+deb13u3" -> [3, 0, 11]. */
export function parseVersion(version: string): number[] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version)
  if (!m) throw new Error(`unrecognised HAProxy version "${version}"`)
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
