/**
 * Runs every pure-Lua spec (test/lua/*_spec.lua: one per module of lua/, i.e. authorize.lua,
 * cert.lua, decide.lua, agent.lua and l7.lua) under the real interpreters HAProxy's Lua matches
 * (5.3 in Debian 12's HAProxy 2.6, 5.4 in Debian 13's 3.0), and turns each of its TAP lines into
 * a tap assertion so a failing Lua case shows up by name in `npm test`. The specs hold the
 * cases; this wrapper only guards against a vacuous pass: every spec in the folder must have a
 * minimum here (and every minimum a spec), the plan must be met, the case count must not shrink
 * below that minimum, and the interpreter must exit 0.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** How many cases each spec generates today; lower one only when removing a case. */
const SPECS: Record<string, number> = {
  'test/lua/agent_spec.lua': 8,
  'test/lua/authorize_spec.lua': 19,
  'test/lua/cert_spec.lua': 21,
  'test/lua/decide_spec.lua': 12,
  'test/lua/l7_spec.lua': 13,
}

/** The specs on disk, which must be exactly those above: a new spec without a minimum fails here. */
const found = readdirSync(resolve(root, 'test/lua'))
  .filter((f) => f.endsWith('_spec.lua'))
  .map((f) => `test/lua/${f}`)
  .sort()
/** The spec each module of lua/ must have. */
const wanted = readdirSync(resolve(root, 'lua'))
  .filter((f) => f.endsWith('.lua'))
  .map((f) => `test/lua/${f.replace(/\.lua$/, '_spec.lua')}`)
  .sort()

t.same(found, Object.keys(SPECS).sort(), 'every test/lua/*_spec.lua has a minimum case count, and every minimum a spec')
t.same(found, wanted, 'every lua/<module>.lua has its test/lua/<module>_spec.lua')

interface TapCase {
  ok: boolean
  id: number
  name: string
  diag: string[]
}

/** Parses `1..N`, `ok N - name`, `not ok N - name` and the `  # ...` lines after a failure. */
function parseTap(out: string): { plan: number | null; cases: TapCase[] } {
  let plan: number | null = null
  const cases: TapCase[] = []
  for (const line of out.split('\n')) {
    const p = /^1\.\.(\d+)$/.exec(line)
    if (p) {
      plan = Number(p[1])
      continue
    }
    const m = /^(not )?ok (\d+) - (.*)$/.exec(line)
    if (m) {
      cases.push({ ok: !m[1], id: Number(m[2]), name: m[3] ?? '', diag: [] })
      continue
    }
    const d = /^\s+# (.*)$/.exec(line)
    if (d && cases.length > 0) cases[cases.length - 1]!.diag.push(d[1] ?? '')
  }
  return { plan, cases }
}

for (const [spec, MIN_CASES] of Object.entries(SPECS)) for (const lua of ['lua5.3', 'lua5.4']) {
  t.test(`${spec} on ${lua}`, async (t) => {
    const run = spawnSync(lua, [spec], { cwd: root, encoding: 'utf8', timeout: 170_000 })
    if (run.error) {
      t.fail(`${lua} could not run (${run.error.message}): run \`bash scripts/provision\` first`)
      return
    }
    const { plan, cases } = parseTap(run.stdout)
    for (const c of cases) {
      t.ok(c.ok, `lua ${c.id} - ${c.name}`, c.ok ? {} : { diagnostic: true, found: c.diag.join('\n') })
    }
    t.equal(plan, cases.length, 'every planned Lua case reported')
    t.ok(cases.length >= MIN_CASES, `at least ${MIN_CASES} Lua cases ran (got ${cases.length})`)
    t.equal(run.status, 0, `${lua} exits 0${run.stderr ? `; stderr: ${run.stderr.trim()}` : ''}`)
  })
}
