// The import-cost table of bench/footprint: what each package, and each of
// meshplate's command entry points, adds to a bare `node` process's resident
// memory, with V8's defaults and with the flags meshplate's shebang sets
// (NODE_FLAGS). Each figure is a fresh process that imports one thing, idles
// 300 ms and reports its VmRSS; median of `repeat` runs.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { NODE_FLAGS } from '../lib/shared.mjs'

const PROBE = `
const what = process.argv[1]
for (const m of what ? what.split('+') : []) await import(m)
await new Promise((r) => setTimeout(r, 300))
const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8')
console.log(Number(/VmRSS:\\s+(\\d+)/.exec(s)[1]) / 1024)
`

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** VmRSS in MB of a fresh node importing `what` ('' for none), with `flags`. */
function rssAfterImport(root, what, flags) {
  const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', PROBE, what], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`importing ${what}: ${r.stderr.split('\n').find(Boolean)}`)
  return Number(r.stdout.trim())
}

/** Rows: [label, importable specifier(s) joined by '+']. */
export function importRows(root) {
  const dist = (f) => join(root, 'dist', f)
  return [
    ['bare `node`', ''],
    ['undici (its index, as `import from "undici"`)', 'undici'],
    ['undici as meshplate loads it (Agent + request API)', dist('consul/undici.js')],
    ['execa', 'execa'],
    ['yargs', 'yargs'],
    ['nunjucks', 'nunjucks'],
    ['chokidar', 'chokidar'],
    ['all five packages (undici as meshplate loads it)', [dist('consul/undici.js'), 'execa', 'yargs', 'nunjucks', 'chokidar'].join('+')],
    ['meshplate `once` (dist/cli.js + dist/commands/once.js)', [dist('commands/flags.js'), 'yargs', dist('commands/once.js')].join('+')],
    ['meshplate `run` (+ dist/commands/run.js)', [dist('commands/flags.js'), 'yargs', dist('commands/run.js')].join('+')],
    ['meshplate `sidecar` (+ dist/commands/sidecar.js)', [dist('commands/flags.js'), 'yargs', dist('commands/sidecar.js')].join('+')],
  ]
}

/** Measures every row with V8's defaults and with NODE_FLAGS; returns the table's rows. */
export function measureImports(root, repeat = 3) {
  const out = []
  let bare
  for (const [label, what] of importRows(root)) {
    const plain = median(Array.from({ length: repeat }, () => rssAfterImport(root, what, [])))
    const flagged = median(Array.from({ length: repeat }, () => rssAfterImport(root, what, NODE_FLAGS)))
    bare ??= { plain, flagged }
    out.push({ label, plain, flagged, addPlain: plain - bare.plain, addFlagged: flagged - bare.flagged })
  }
  return out
}
