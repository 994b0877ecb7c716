/**
 * An L7 regex is written for Envoy (RE2, whole-string match), checked and
 * anchored by src/connect/re2.ts, and compiled at request time by HAProxy's
 * own engine through the Lua `Regex` class, exactly as lua/authorize.lua does.
 * This runs a real HAProxy (the system's 2.6 and, when built, 3.0) with a Lua
 * service that compiles each anchored expression and matches subjects, so a
 * form the checker lets through but HAProxy refuses, or one that matches a
 * different set of strings than RE2's full match, fails here by name.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { anchoredPcre } from '../../src/connect/re2.ts'
import { binary, repoRoot } from '../support/binaries.ts'
import { freePort } from '../support/ports.ts'
import { eventually } from '../support/process.ts'

/** RE2 expression, subjects it must fully match, subjects it must not. */
const CORPUS: Array<[string, string[], string[]]> = [
  ['/api/v[0-9]+/items', ['/api/v2/items', '/api/v10/items'], ['/api/v2/items/1', 'x/api/v2/items', '/api/vx/items']],
  ['/a|/b', ['/a', '/b'], ['/a/x', 'x/b', '/ab']],
  ['(?i)/Admin.*', ['/admin', '/ADMIN/x'], ['/x/admin']],
  ['(?P<v>v\\d+)\\.(?<minor>\\d+)', ['v1.2'], ['v1.2.3', 'v1x2']],
  ['[[:alpha:]]+-\\w+', ['abc-d_1'], ['1bc-d', 'abc-']],
  ['a\\vb', ['a\u000bb'], ['a\nb']],
  ['\\x41\\x{62}', ['Ab'], ['ab']],
  ['\\Qa.b\\E+', ['a.bbb'], ['axb']],
  ['x{2,3}?', ['xx', 'xxx'], ['x', 'xxxx']],
  ['[^/]+', ['segment'], ['two/segments', '']],
  ['', [''], ['a']],
  ['Bearer [A-Za-z0-9._-]+', ['Bearer abc.def'], ['Bearer ', 'bearer abc', 'Bearer abc def']],
]

const LUA = `
core.register_service("re", "http", function(applet)
  local out = {}
  local body = applet:receive()
  for line in body:gmatch("[^\\n]+") do
    local re, subject = line:match("^(.-)\\t(.*)$")
    re, subject = re:gsub("%%0A", "\\n"), subject:gsub("%%0B", "\\v"):gsub("%%0A", "\\n")
    local ok, compiled, r = pcall(Regex.new, re, true)
    if not ok or not compiled then out[#out + 1] = "refused " .. tostring(r or compiled)
    else out[#out + 1] = r:exec(subject) and "match" or "nomatch" end
  end
  local reply = table.concat(out, "\\n") .. "\\n"
  applet:set_status(200)
  applet:add_header("content-length", #reply)
  applet:start_response()
  applet:send(reply)
end)
`

function post(port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve(text))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const haproxies = [binary('haproxy'), join(repoRoot, '.cache/bin/haproxy-3.0')].filter((b, i, all) => existsSync(b) && all.indexOf(b) === i)

for (const haproxy of haproxies) {
  t.test(`HAProxy ${haproxy}: anchored RE2 forms compile through Lua's Regex and full-match`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-re-'))
    const port = await freePort()
    writeFileSync(join(dir, 're.lua'), LUA)
    writeFileSync(join(dir, 'h.cfg'), [
      'global', `    lua-load ${join(dir, 're.lua')}`,
      'defaults', '    mode http', '    timeout client 5s', '    timeout server 5s', '    timeout connect 5s',
      'frontend f', `    bind 127.0.0.1:${port}`, '    option http-buffer-request', '    http-request use-service lua.re', '',
    ].join('\n'))
    const proc = spawn(haproxy, ['-db', '-f', join(dir, 'h.cfg')], { stdio: 'ignore' })
    t.teardown(() => {
      proc.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    })
    const cases = CORPUS.flatMap(([re, yes, no]) => [...yes.map((s) => ({ re, s, want: 'match' })), ...no.map((s) => ({ re, s, want: 'nomatch' }))])
    const enc = (s: string) => s.replace(/\n/g, '%0A').replace(/\u000b/g, '%0B')
    const body = cases.map((c) => `${enc(anchoredPcre(c.re))}\t${enc(c.s)}`).join('\n') + '\n'
    const answer = await eventually(() => post(port, body).catch(() => undefined), 5_000, 'the Lua service')
    const got = answer.trimEnd().split('\n')
    t.equal(got.length, cases.length, 'one answer per case')
    cases.forEach((c, i) => t.equal(got[i], c.want, `${JSON.stringify(c.re)} on ${JSON.stringify(c.s)}`))
    // And the engine refuses what it cannot take, which is what authorize.lua turns into a deny.
    const refused = await post(port, `${anchoredPcre('x')}(\tx\n`)
    t.match(refused, /^refused .*(missing|parenthes)/i, 'a broken expression is refused, with the reason')
  })
}
