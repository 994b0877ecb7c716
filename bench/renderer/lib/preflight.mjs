// Before anything starts: the real peers must be there (or we refuse in one
// line), dist/ must be built from the current src/, and the versions and
// machine are recorded for the results.
import { accessSync, constants, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { buildDist } from '../../lib/shared.mjs'

/** Paths of consul and consul-template; exits with one line when either is missing. */
export function requirePeers(root) {
  const bins = { consul: join(root, '.cache/bin/consul'), consulTemplate: join(root, '.cache/bin/consul-template') }
  const missing = Object.entries(bins).filter(([, p]) => {
    try {
      accessSync(p, constants.X_OK)
      return false
    } catch {
      return true
    }
  })
  if (missing.length > 0) {
    console.error(`bench/renderer: ${missing.map(([, p]) => p).join(' and ')} missing; run \`bash scripts/provision --bench\` first`)
    process.exit(1)
  }
  return bins
}

/** Compiles src/ into dist/; exits with one line if tsc fails. */
export const build = (root) => buildDist(root, 'bench/renderer')

const firstLine = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0].trim()
  } catch {
    return 'unknown'
  }
}

/** The machine and versions a run is quoted with. */
export function machine(root, bins) {
  let commit = firstLine('git', ['-C', root, 'rev-parse', '--short', 'HEAD'])
  const dirty = firstLine('git', ['-C', root, 'status', '--porcelain', '--', 'src'])
  if (dirty && dirty !== 'unknown') commit += ' (src/ has uncommitted changes)'
  let meminfo = ''
  try {
    meminfo = `${Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) / 1024 / 1024)} GB RAM`
  } catch {
    meminfo = ''
  }
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    memory: meminfo,
    kernel: release(),
    node: process.version,
    consul: firstLine(bins.consul, ['version']),
    consulTemplate: firstLine(bins.consulTemplate, ['-v']).replace(/\s*\(\)$/, ''),
    commit,
    loadStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  }
}
