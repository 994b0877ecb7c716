// Before anything starts: the real peers must be there (otherwise the run
// refuses in one line naming the provisioning script; it never installs
// anything itself), dist/ must be built from the current src/, and the
// machine and versions are recorded for the results.
import { execFileSync, spawnSync } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { buildDist } from '../../lib/shared.mjs'

const executable = (p) => {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const onPath = (name) => (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, name)).find(executable)

/** Paths of consul, haproxy and wrk; exits with one line when any is missing. */
export function requirePeers(root) {
  const cached = join(root, '.cache/bin/consul')
  const bins = {
    consul: executable(cached) ? cached : onPath('consul'),
    haproxy: onPath('haproxy') ?? (executable('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : undefined),
    wrk: onPath('wrk'),
  }
  const missing = Object.keys(bins).filter((k) => !bins[k])
  if (missing.length) {
    console.error(`bench/dataplane: ${missing.join(', ')} not found; run \`bash scripts/provision\` first`)
    process.exit(1)
  }
  return bins
}

/** Compiles src/ into dist/; exits with one line if tsc fails. */
export const build = (root) => buildDist(root, 'bench/dataplane')

const firstLine = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim() || 'unknown'
}

/** The machine and versions a run is quoted with. */
export function machine(root, bins) {
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'templates', 'lua'], { encoding: 'utf8' }).trim()
    if (dirty) commit += ' (src/, templates/ or lua/ with uncommitted changes)'
  } catch {
    // not a git checkout
  }
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    memory: mem ? `${Math.round(Number(mem[1]) / 1024 / 1024)} GB RAM` : '',
    kernel: release(),
    node: process.version,
    haproxy: firstLine(bins.haproxy, ['-v']).replace(/ - https:.*/, ''),
    consul: firstLine(bins.consul, ['version']),
    wrk: firstLine(bins.wrk, ['-v']).replace(/ Copyright.*/, ''),
    commit,
    loadStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  }
}
