/**
 * Every golden haproxy.cfg (test/golden/<scenario>/, compared byte for byte by
 * test/unit/golden.test.ts) must be a config real HAProxy accepts: `haproxy -c`
 * with the HAProxy under test (MESHPLATE_TEST_HAPROXY; scripts/test.mjs runs this file
 * again with 3.0). The golden files name placeholder folders, so each check copies the
 * scenario's leaf.pem, roots.pem and intentions.map into a temporary folder, points the
 * config there and at the shipped lua/, and wants no alert and no warning.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { shippedLuaDir } from '../../src/sidecar/preset.ts'
import { binary, versionOf } from '../support/binaries.ts'
import { goldenRoot, goldenScenarios, PLACEHOLDER_DIR, PLACEHOLDER_LUA, PLACEHOLDER_ROOT } from '../support/golden.ts'

const haproxy = binary('haproxy')
t.comment(versionOf('haproxy'))

t.test('the golden scenarios are there', async (t) => {
  t.ok(goldenScenarios().length >= 8, `${goldenScenarios().length} scenarios`)
})

for (const scenario of goldenScenarios()) {
  t.test(`${scenario}: haproxy -c accepts the golden haproxy.cfg`, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), `golden-${scenario}-`))
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
    const dir = join(tmp, 'sidecar')
    mkdirSync(dir)
    for (const f of ['leaf.pem', 'roots.pem', 'intentions.map']) copyFileSync(join(goldenRoot, scenario, f), join(dir, f))
    const cfg = readFileSync(join(goldenRoot, scenario, 'haproxy.cfg'), 'utf8')
      .replaceAll(`${PLACEHOLDER_DIR}/`, `${dir}/`)
      .replaceAll(`${PLACEHOLDER_LUA}/`, `${shippedLuaDir}/`)
    t.notOk(cfg.includes(PLACEHOLDER_ROOT), 'every placeholder path pointed at a real file')
    writeFileSync(join(dir, 'haproxy.cfg'), cfg)
    // The sidecar gives authorize.lua the agent's URL; without one it warns. Nothing is dialled by -c.
    const r = spawnSync(haproxy, ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8', env: { ...process.env, MESHPLATE_AGENT_URL: 'http://127.0.0.1:1' }, timeout: 30_000 })
    const output = `${r.stdout}${r.stderr}`
    t.equal(r.status, 0, `exit 0${r.status === 0 ? '' : `: ${output}`}`)
    t.notMatch(output, /\[(ALERT|WARNING)\]/i, 'no alert, no warning')
  })
}
