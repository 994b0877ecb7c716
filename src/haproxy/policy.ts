/**
 * The one place that knows HAProxy versions: which kinds of file the running
 * HAProxy can take through its runtime API, and which need a reload. Every
 * other module asks `canPush` with the version the master reports.
 *
 * - Maps and server state (address, port, weight, maintenance): pushed on every
 *   version meshplate supports (2.6 and later).
 * - Leaf certificates (`set`/`commit ssl cert`): pushed from 3.0.11, reloaded
 *   before. Consul leaves have an empty subject and no DNS name; after a commit of
 *   such a certificate HAProxy 2.6.12 keeps serving it but stops asking clients for
 *   theirs: `verify required` is silently gone from the bind (found here). 3.0.11
 *   keeps verify through 50 commits under load (bench/cert-commits/run.mjs), and
 *   test/integration/haproxy-policy.test.ts checks this policy against whichever
 *   HAProxy is installed. A cert commit after a CA commit is ignored on both
 *   (haproxy#3165), which is why CA bundles are never committed: a worker that
 *   meshplate pushes leaves into has never seen a CA commit.
 * - CA bundles: reloaded on every version (haproxy#3165: the second CA commit
 *   crashes the worker; fixed upstream in 7482b6ebf, 2025-10-22, not in 3.0.11).
 * When a release with that fix is supported, `pushableFrom` is the line to change.
 */
import type { RuntimeKind } from './runtime-api.ts'

/** The oldest HAProxy whose commits of each kind can be trusted (none yet for CA files). */
const pushableFrom: Partial<Record<RuntimeKind, readonly number[]>> = { 'ssl-cert': [3, 0, 11] }
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
