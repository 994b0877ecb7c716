/**
 * The one place that knows HAProxy versions: which kinds of file the running
 * HAProxy can take through its runtime API, and which need a reload. Every
 * other module asks `canPush` with the version the master reports.
 *
 * - Maps and server state (address, port, weight, maintenance): pushed on every
 *   version meshplate supports (2.6 and later).
 * - Leaf certificates: reloaded on every version meshplate supports. Consul leaves
 *   have an empty subject and no DNS name, and after `set`/`commit ssl cert` of such
 *   a certificate HAProxy 2.6.12 keeps serving it but stops asking clients for
 *   theirs: `verify required` is silently gone from the bind (found here;
 *   test/integration/haproxy-policy.test.ts checks this policy against the
 *   installed HAProxy). On 2.6.12 and 3.0.11 a cert commit after a CA commit is
 *   also ignored, and a second CA commit crashes the worker (haproxy#3165).
 * - CA bundles: reloaded on every version (haproxy#3165, fixed upstream in
 *   7482b6ebf, 2025-10-22).
 * When a release with both fixes is supported, `pushableFrom` is the line to change.
 */
import type { RuntimeKind } from './runtime-api.ts'

/** The oldest HAProxy whose certificate and CA commits can be trusted, by kind: none yet. */
const pushableFrom: Partial<Record<RuntimeKind, readonly number[]>> = {}
const alwaysPushable: readonly RuntimeKind[] = ['map', 'servers']

/** True when a changed file of `kind` may be pushed into a running HAProxy of `version`. */
export function canPush(kind: RuntimeKind, version: string): boolean {
  if (alwaysPushable.includes(kind)) return true
  const from = pushableFrom[kind]
  return from !== undefined && compareVersions(parseVersion(version), from) >= 0
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
