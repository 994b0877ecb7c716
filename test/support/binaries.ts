/**
 * Where the real peers live. Consul is built by scripts/provision into
 * .cache/bin; HAProxy and lua5.3 come from Debian (MESHPLATE_TEST_HAPROXY names
 * another HAProxy, e.g. the 3.0 build in .cache/bin). A missing binary fails the
 * test at once with the one command that fixes it.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const cliPath = join(repoRoot, 'dist/cli.js')

/** Absolute path of a peer binary, or throws with the provisioning command. */
export function binary(name: 'consul' | 'haproxy' | 'lua5.3' | 'consul-template' | 'nomad'): string {
  // scripts/test.mjs runs the HAProxy tiers a second time with HAProxy 3.0 this way.
  if (name === 'haproxy' && process.env.MESHPLATE_TEST_HAPROXY) return process.env.MESHPLATE_TEST_HAPROXY
  const cached = join(repoRoot, '.cache/bin', name)
  if (existsSync(cached)) return cached
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, name)
    if (dir && existsSync(p)) return p
  }
  throw new Error(`${name} not found: run \`bash scripts/provision\` first`)
}

/** The peer's first version line, for the test log. */
export function versionOf(name: 'consul' | 'haproxy'): string {
  const args = name === 'haproxy' ? ['-v'] : ['version']
  return execFileSync(binary(name), args, { encoding: 'utf8' }).split('\n')[0]!.trim()
}
