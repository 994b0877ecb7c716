// What the benchmarks share: building dist/, free loopback ports for the peers they start,
// a bounded wait for a condition, and replacing one "## <Name>" section of bench/RESULTS.md
// while keeping the other benchmarks' sections intact.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

/** The V8 flags dist/cli.js's shebang gives `meshplate` (docs/performance.md: "Footprint"): benchmarks run what users run. */
export const NODE_FLAGS = ['--max-semi-space-size=1']

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` every `pollMs` until it returns something truthy (returned); throws after `timeoutMs`. */
export async function until(check, timeoutMs, what, pollMs = 100) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const v = await check()
    if (v) return v
    await sleep(pollMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Returns `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => s.address().port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

/** Replaces (or adds) the "## <name>" section of the results file, atomically. */
export function writeSection(file, name, sectionText) {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n'
  const lines = current.split('\n')
  const startAt = lines.findIndex((l) => new RegExp(`^##\\s+${name}\\b`).test(l))
  let next
  if (startAt === -1) {
    next = `${current.replace(/\n*$/, '')}\n\n${sectionText}`
  } else {
    let endAt = lines.findIndex((l, i) => i > startAt && /^##?\s/.test(l))
    if (endAt === -1) endAt = lines.length
    const before = lines.slice(0, startAt).join('\n').replace(/\n*$/, '')
    const after = lines.slice(endAt).join('\n')
    next = `${before}\n\n${sectionText}${after ? `\n${after}` : ''}`
  }
  writeFileSync(`${file}.tmp-${name}`, next.replace(/\n*$/, '\n'))
  renameSync(`${file}.tmp-${name}`, file)
}

/** Compiles src/ into dist/ (as `npm test` does); exits with one line, tagged `tag`, if tsc fails. */
export function buildDist(root, tag) {
  const r = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) {
    console.error(`${tag}: \`tsc -p tsconfig.json\` failed, cannot benchmark dist/: ${(r.stdout + r.stderr).split('\n')[0]}`)
    process.exit(1)
  }
}
