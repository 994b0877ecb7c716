/**
 * `meshplate run` against a real Consul agent: instances appearing and
 * disappearing, an agent killed and restarted mid-run, a failing check,
 * exec mode's one reload per batch, and the ACL errors a real agent gives.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../support/binaries.ts'
import { startConsul } from '../support/consul.ts'
import { eventually, exitsWith, meshplate, meshplateOnce } from '../support/process.ts'

const tpl = (name: string) => join(repoRoot, 'test/fixtures/templates', name)
const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

t.test('upstream instances appear and disappear in run mode', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.registerWithSidecar({ name: 'web', port: 9000, sidecarPort: 21000, upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] })
  const out = join(t.testdir(), 'proxy.txt')
  const run = meshplate(['run', '--consul-addr', consul.addr, '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${out}`])
  t.teardown(() => run.stop())
  await eventually(() => read(out).includes('instances=0'), 10_000, 'first render with no api instance')
  await consul.registerWithSidecar({ id: 'api-1', name: 'api', port: 9001, sidecarPort: 21001 })
  await consul.registerWithSidecar({ id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002 })
  await eventually(() => read(out).includes('instances=2'), 10_000, 'two api instances')
  t.match(read(out), 'instance=127.0.0.1:21001')
  t.match(read(out), 'instance=127.0.0.1:21002')
  await consul.deregister('api-1-sidecar-proxy')
  await eventually(() => read(out).includes('instances=1'), 10_000, 'api-1 gone')
  t.notMatch(read(out), '21001', 'the removed instance is no longer rendered')
})

t.test('an agent killed and restarted mid-run: no blank file, and a render soon after it returns', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  const register = (port: number) =>
    consul.registerWithSidecar({ name: 'web', port: 9000, sidecarPort: 21000, upstreams: [{ DestinationName: 'api', LocalBindPort: port }] })
  await register(9191)
  const out = join(t.testdir(), 'proxy.txt')
  const run = meshplate(['run', '--consul-addr', consul.addr, '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${out}`])
  t.teardown(() => run.stop())
  await eventually(() => read(out).includes('bind=127.0.0.1:9191'), 10_000, 'first render')
  const before = read(out)
  await consul.kill()
  await new Promise((r) => setTimeout(r, 3000))
  t.equal(read(out), before, 'the file is untouched while the agent is down')
  await consul.start()
  // The dev agent lost its state; an orchestrator re-registers, here with a new upstream port.
  t.equal(read(out), before, 'the file is untouched while the registration is missing (404)')
  await register(9292)
  const back = Date.now()
  await eventually(() => read(out).includes('bind=127.0.0.1:9292'), 70_000, 'render after the agent returns')
  t.comment(`re-rendered ${Date.now() - back} ms after re-registration`)
  t.notMatch(read(out), /^\s*$/, 'never blank')
  t.equal(run.proc.exitCode, null, 'run mode kept going')
})

t.test('once against a dead agent exits non-zero within --timeout and leaves the file alone', async (t) => {
  const dir = t.testdir({ 'out.txt': 'previous good render\n' })
  const r = await meshplateOnce(['once', '--consul-addr', '127.0.0.1:1', '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${dir}/out.txt`, '--timeout', '2s'])
  t.not(r.code, 0, 'non-zero exit')
  t.ok(r.ms < 8_000, `gave up in bounded time (${r.ms} ms for --timeout 2s)`)
  t.match(r.output, /missing data: agent\.service\(web-sidecar-proxy\) \(consul GET \/v1\/agent\/service\/web-sidecar-proxy: .*ECONNREFUSED/)
  t.match(r.output, /ECONNREFUSED.* \(agent 127\.0\.0\.1:1 from --consul-addr or config\)/, 'the error names the address and where it came from')
  t.equal(readFileSync(`${dir}/out.txt`, 'utf8'), 'previous good render\n', 'destination untouched')
  const fromEnv = await meshplateOnce(['once', '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${dir}/out.txt`, '--timeout', '1s'], { CONSUL_HTTP_ADDR: '127.0.0.1:2' })
  t.match(fromEnv.output, /\(agent 127\.0\.0\.1:2 from env CONSUL_HTTP_ADDR\)/, 'an address from the environment says so')
})

t.test('a failing check keeps the old file and runs no command', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.api('PUT', '/v1/kv/app/value', 'good-1')
  const dir = t.testdir({ 'kv.njk': 'value={{ key("app/value") }}\n' })
  const ran = join(dir, 'ran.log')
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      templates: [{
        source: 'kv.njk',
        destination: 'out.txt',
        check: ['node', '-e', 'process.exit(require("fs").readFileSync(process.argv[1], "utf8").includes("BAD") ? 3 : 0)', '{{path}}'],
        command: ['node', '-e', `require("fs").appendFileSync(${JSON.stringify(ran)}, "ran\\n")`],
      }],
    }),
  )
  const run = meshplate(['run', '--consul-addr', consul.addr, '-c', join(dir, 'config.json')])
  t.teardown(() => run.stop())
  await eventually(() => read(ran) === 'ran\n', 10_000, 'first render and its command')
  t.equal(read(join(dir, 'out.txt')), 'value=good-1\n')
  await consul.api('PUT', '/v1/kv/app/value', 'BAD')
  await eventually(() => /check .* failed, file kept/.test(run.output()), 10_000, 'the check failure to be logged')
  t.equal(read(join(dir, 'out.txt')), 'value=good-1\n', 'old file kept')
  t.equal(read(ran), 'ran\n', 'no command ran for the rejected render')
  await consul.api('PUT', '/v1/kv/app/value', 'good-2')
  await eventually(() => read(join(dir, 'out.txt')) === 'value=good-2\n', 10_000, 'the next good render')
  await eventually(() => read(ran) === 'ran\nran\n', 10_000, 'its command')
})

t.test('exec mode: one reload signal per batch, however many templates changed', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  for (const k of ['a', 'b', 'c']) await consul.api('PUT', `/v1/kv/batch/${k}`, `${k}0`)
  const dir = t.testdir({ 'one.njk': '{{ key("batch/a") }} {{ key("batch/b") }}\n', 'two.njk': '{{ key("batch/c") }}\n' })
  const childLog = join(dir, 'child.log')
  const run = meshplate([
    'run', '--consul-addr', consul.addr, '--wait', '700ms:3s',
    '-t', `${dir}/one.njk:${dir}/one.txt`, '-t', `${dir}/two.njk:${dir}/two.txt`,
    '--exec', `node ${join(repoRoot, 'test/fixtures/child.mjs')} ${childLog}`,
  ])
  t.teardown(() => run.stop())
  await eventually(() => read(childLog) === 'start\n', 10_000, 'child started after the first complete render')
  for (const k of ['a', 'b', 'c']) await consul.api('PUT', `/v1/kv/batch/${k}`, `${k}1`)
  await eventually(() => read(join(dir, 'two.txt')) === 'c1\n' && read(join(dir, 'one.txt')) === 'a1 b1\n', 10_000, 'both files re-rendered')
  await eventually(() => read(childLog).includes('HUP'), 5_000, 'the reload signal')
  await new Promise((r) => setTimeout(r, 1500))
  t.equal(read(childLog), 'start\nHUP\n', 'exactly one reload for the batch')
  const exit = await run.stop('SIGTERM')
  t.equal(exit.code, 0, 'meshplate exits 0 on SIGTERM')
  t.equal(read(childLog), 'start\nHUP\nTERM\n', 'SIGTERM forwarded to the child')
})

t.test('exec mode: if the child dies, meshplate exits with its code', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.api('PUT', '/v1/kv/k', 'v')
  const dir = t.testdir({ 'k.njk': '{{ key("k") }}' })
  const childLog = join(dir, 'child.log')
  const run = meshplate(['run', '--consul-addr', consul.addr, '-t', `${dir}/k.njk:${dir}/k.txt`, '--exec', `node ${join(repoRoot, 'test/fixtures/child.mjs')} ${childLog} 42`])
  t.teardown(() => run.stop())
  await eventually(() => read(childLog) === 'start\n', 10_000, 'child started')
  const { execFileSync } = await import('node:child_process')
  execFileSync('pkill', ['-USR1', '-f', `child.mjs ${childLog}`])
  const exit = await run.exited
  t.equal(exit.code, 42, "meshplate exits with the child's code")
})

t.test('exec.restarts: a child that dies is restarted, a batch during the back-off starts no second one, and the limit ends meshplate', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.api('PUT', '/v1/kv/k', 'v1')
  const dir = t.testdir({ 'k.njk': '{{ key("k") }}' })
  const childLog = join(dir, 'child.log')
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    templates: [{ source: 'k.njk', destination: 'k.txt' }],
    exec: { command: ['node', join(repoRoot, 'test/fixtures/child.mjs'), childLog, '42'], restarts: 2 },
  }))
  const run = meshplate(['run', '--consul-addr', consul.addr, '-c', join(dir, 'config.json')])
  t.teardown(() => run.stop())
  const { execFileSync } = await import('node:child_process')
  const starts = () => read(childLog).split('\n').filter((l) => l === 'start').length
  const kill = () => execFileSync('pkill', ['-USR1', '-f', `child.mjs ${childLog}`])
  await eventually(() => starts() === 1, 10_000, 'child started')
  kill()
  await consul.api('PUT', '/v1/kv/k', 'v2') // a batch while the child is down
  await eventually(() => starts() === 2, 10_000, 'child restarted')
  await eventually(() => read(join(dir, 'k.txt')) === 'v2', 10_000, 'the batch rendered')
  await new Promise((r) => setTimeout(r, 500))
  t.equal(execFileSync('pgrep', ['-fc', `child.mjs ${childLog}`], { encoding: 'utf8' }).trim(), '1', 'exactly one child runs')
  kill()
  await eventually(() => starts() === 3, 10_000, 'restarted again')
  kill()
  const exit = await run.exited
  t.equal(exit.code, 42, "after 2 restarts in a minute meshplate exits with the child's code")
  t.equal(starts(), 3, 'started once plus 2 restarts')
})

t.test('ACL errors from a real agent reach the user, and the token never does', async (t) => {
  const consul = await startConsul({
    hcl: ['acl { enabled = true\n default_policy = "deny"\n tokens { initial_management = "root-secret-token" } }'],
    token: 'root-secret-token',
  })
  t.teardown(() => consul.stop())
  const dir = t.testdir({ 'k.njk': '{{ key("app/x") }}' })
  const unknown = await meshplateOnce(['once', '--consul-addr', consul.addr, '--consul-token', 'not-a-real-token-0000', '-t', `${dir}/k.njk:${dir}/k.txt`, '--timeout', '2s'])
  t.not(unknown.code, 0)
  t.match(unknown.output, /403 ACL not found/)
  t.notMatch(unknown.output, 'not-a-real-token-0000', 'the token is not logged')

  const created = await consul.api('PUT', '/v1/acl/token', { Description: 'no policies' })
  t.equal(created.status, 200, 'token created')
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, created.body.SecretID + '\n')
  const denied = await meshplateOnce(['once', '--consul-addr', consul.addr, '--consul-token-file', tokenFile, '-t', `${dir}/k.njk:${dir}/k2.txt`, '--timeout', '2s'])
  t.not(denied.code, 0)
  t.match(denied.output, /403 Permission denied/)
  t.notMatch(denied.output, created.body.SecretID, 'the token is not logged')

  // Inside a Nomad allocation: the sidecar's Service Identity token, with no token flag or env.
  await consul.api('PUT', '/v1/kv/app/x', 'from-kv')
  const policy = await consul.api('PUT', '/v1/acl/policy', { Name: 'read-app', Rules: 'key_prefix "app/" { policy = "read" }' })
  t.equal(policy.status, 200, 'policy created')
  const reader = await consul.api('PUT', '/v1/acl/token', { Description: 'si', Policies: [{ Name: 'read-app' }] })
  const secrets = join(dir, 'secrets')
  mkdirSync(secrets)
  writeFileSync(join(secrets, 'si_token'), `${reader.body.SecretID}\n`)
  const env = { NOMAD_SECRETS_DIR: secrets }
  const withSi = await meshplateOnce(['once', '--consul-addr', consul.addr, '-t', `${dir}/k.njk:${dir}/k3.txt`, '--timeout', '5s'], env)
  exitsWith(t, withSi, 0, '${NOMAD_SECRETS_DIR}/si_token is used when no token is given')
  t.equal(readFileSync(join(dir, 'k3.txt'), 'utf8'), 'from-kv', 'rendered with the token\'s rights')
  t.notMatch(withSi.output, reader.body.SecretID, 'the token is not logged')
})

t.test('run re-renders when a template is edited, keeps the last good one on a broken edit, and re-reads config on SIGHUP', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.api('PUT', '/v1/kv/greeting', 'hello')
  const dir = t.testdir({ 'g.njk': 'v1 {{ key("greeting") }}\n' })
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ templates: [{ source: 'g.njk', destination: 'g.txt' }] }))
  const run = meshplate(['run', '--consul-addr', consul.addr, '-c', join(dir, 'config.json')])
  t.teardown(() => run.stop())
  const out = join(dir, 'g.txt')
  await eventually(() => read(out) === 'v1 hello\n', 10_000, 'first render')
  writeFileSync(join(dir, 'g.njk'), 'v2 {{ key("greeting") }}\n')
  await eventually(() => read(out) === 'v2 hello\n', 10_000, 're-render after the edit')
  writeFileSync(join(dir, 'g.njk'), 'v3 {% if %}\n')
  await eventually(() => /g\.njk:1: unexpected token/.test(run.output()), 10_000, 'the syntax error to be logged')
  t.equal(read(out), 'v2 hello\n', 'a broken edit keeps the last good render')
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ templates: [{ source: 'g.njk', destination: 'g.txt' }, { source: 'h.njk', destination: 'h.txt' }] }))
  writeFileSync(join(dir, 'g.njk'), 'v4 {{ key("greeting") }}\n')
  writeFileSync(join(dir, 'h.njk'), 'h {{ key("greeting") }}\n')
  run.proc.kill('SIGHUP')
  await eventually(() => read(join(dir, 'h.txt')) === 'h hello\n', 10_000, 'the template added by SIGHUP')
  t.equal(read(out), 'v4 hello\n')
  t.equal(run.proc.exitCode, null, 'still running')
})
