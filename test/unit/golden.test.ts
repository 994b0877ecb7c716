/**
 * Golden files of the shipped sidecar templates: haproxy.cfg, intentions.map, leaf.pem and
 * roots.pem as `meshplate sidecar --once --data` renders them from each recorded snapshot in
 * test/golden/<scenario>/ (tcp, http with L7 intentions, a service-router, a service-splitter,
 * resolver failover, Expose paths and checks, access logs, limits and passive health checks),
 * compared byte for byte, with no Consul and no HAProxy. A change to what the templates print
 * fails here with a unified diff; a refactor must keep every file byte-identical.
 *
 * After an intended change, rewrite the golden files and review the diff this prints:
 *   MESHPLATE_UPDATE_GOLDEN=1 npx tap test/unit/golden.test.ts
 * (`MESHPLATE_UPDATE_GOLDEN=1 npm test -- test/unit/golden.test.ts` does the same after a build).
 * New or changed scenarios are recorded from a real Consul by scripts/record-golden.mjs.
 * The integration tier runs `haproxy -c` on each golden haproxy.cfg
 * (test/integration/golden-haproxy.test.ts).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { GOLDEN_FILES, goldenRoot, goldenScenarios, PLACEHOLDER_ROOT, renderScenario, type GoldenFile } from '../support/golden.ts'

const UPDATE = process.env.MESHPLATE_UPDATE_GOLDEN === '1'
const EXPECTED = ['access-logs', 'expose', 'failover', 'http-l7', 'limits', 'router', 'splitter', 'tcp']

/** `diff -u` of the golden file against the rendered text, labelled so it reads as a patch. */
function unifiedDiff(goldenFile: string, rendered: string, label: string): string {
  const scratch = mkdtempSync(join(tmpdir(), 'golden-diff-'))
  try {
    const now = join(scratch, 'rendered')
    writeFileSync(now, rendered)
    const r = spawnSync('diff', ['-u', '--label', `a/${label}`, '--label', `b/${label}`, existsSync(goldenFile) ? goldenFile : '/dev/null', now], { encoding: 'utf8' })
    return r.stdout || r.error?.message || '(no diff output)'
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

t.test('every scenario has its snapshot', async (t) => {
  t.same(goldenScenarios(), EXPECTED)
})

const renders = new Map<string, Record<GoldenFile, string>>()
for (const scenario of EXPECTED) {
  t.test(scenario, async (t) => {
    const out = await renderScenario(scenario)
    renders.set(scenario, out)
    for (const f of GOLDEN_FILES) {
      const file = join(goldenRoot, scenario, f)
      const rendered = Buffer.from(out[f], 'utf8')
      const golden = existsSync(file) ? readFileSync(file) : undefined
      if (golden && golden.equals(rendered)) {
        t.pass(`${scenario}/${f}: byte-identical (${rendered.length} bytes)`)
        continue
      }
      const diff = unifiedDiff(file, out[f], `test/golden/${scenario}/${f}`)
      if (UPDATE) {
        writeFileSync(file, rendered)
        t.comment(`updated test/golden/${scenario}/${f}:\n${diff}`)
        t.pass(`${scenario}/${f}: updated`)
      } else {
        t.fail(`${scenario}/${f} differs from the golden file; if intended: MESHPLATE_UPDATE_GOLDEN=1 npx tap test/unit/golden.test.ts`, { diff })
      }
    }
    t.notMatch(out['haproxy.cfg'], /\/(?:tmp|home|work|root|Users)\//, 'no path of this machine in the config')
    t.match(out['haproxy.cfg'], `${PLACEHOLDER_ROOT}/sidecar/leaf.pem`, 'files named under the placeholder folder')
  })
}

t.test('the render is the same again, from another working directory', async (t) => {
  const cwd = process.cwd()
  const elsewhere = mkdtempSync(join(tmpdir(), 'golden-cwd-'))
  process.chdir(elsewhere)
  t.teardown(() => {
    process.chdir(cwd)
    rmSync(elsewhere, { recursive: true, force: true })
  })
  for (const scenario of EXPECTED) {
    const first = renders.get(scenario)
    if (!first) continue // its own test failed already
    t.same(await renderScenario(scenario), first, `${scenario}: identical second render from ${elsewhere}`)
  }
})
