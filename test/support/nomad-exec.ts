/**
 * What the exec example needs on the client: meshplate installed where the
 * job expects it (/opt/meshplate inside the chroot) and the client's
 * chroot_env, taken from nomad/client-exec.hcl as shipped with only the
 * install folder's host path swapped for a staged copy of this checkout
 * (hard links: dist, templates, lua and the production node_modules).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { repoRoot } from './binaries.ts'

/** Stages an install of this checkout under `base`; returns its folder. */
export function stageInstall(base: string): string {
  const dir = join(base, 'opt-meshplate')
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  for (const part of ['package.json', 'dist', 'templates', 'lua']) execFileSync('cp', ['-al', join(repoRoot, part), dir])
  const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot, encoding: 'utf8' })
  const top = new Set<string>()
  for (const path of prod.split('\n').filter((p) => p.includes('/node_modules/'))) {
    const rel = relative(join(repoRoot, 'node_modules'), path).split('/')
    top.add(rel[0]!.startsWith('@') ? `${rel[0]}/${rel[1]}` : rel[0]!)
  }
  for (const pkg of top) {
    mkdirSync(dirname(join(dir, 'node_modules', pkg)), { recursive: true })
    execFileSync('cp', ['-al', join(repoRoot, 'node_modules', pkg), join(dir, 'node_modules', pkg)])
  }
  return dir
}

/** The chroot_env block of nomad/client-exec.hcl, with /opt/meshplate taken from `installDir`. */
export function shippedChrootEnv(installDir: string): string {
  const hcl = readFileSync(join(repoRoot, 'nomad/client-exec.hcl'), 'utf8')
  const block = /chroot_env \{[^}]*\}/.exec(hcl)?.[0]
  if (!block || !block.includes('"/opt/meshplate" = "/opt/meshplate"')) throw new Error('nomad/client-exec.hcl has no chroot_env mapping /opt/meshplate')
  return block.replace('"/opt/meshplate" = "/opt/meshplate"', `"${installDir}" = "/opt/meshplate"`)
}
