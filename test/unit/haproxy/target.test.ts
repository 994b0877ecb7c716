/**
 * haproxy/target.ts is what the runner and the supervisor do with an HAProxy
 * file, without knowing HAProxy: which writes skip `haproxy -c`, what a batch
 * pushes, and (in exec mode without a master CLI) the push plus the reload
 * signal. A push before HAProxy runs must be a note, not a failure, and a
 * push HAProxy refuses must be one COMMAND_FAILED line naming the file.
 * Against a real HAProxy: test/integration/live-haproxy.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { TemplateConfig } from '../../../src/config/resolve.ts'
import { runCommands } from '../../../src/exec/commands.ts'
import { haproxyChild, haproxyFiles, runtimePush } from '../../../src/haproxy/target.ts'
import { createLogger, silentLogger } from '../../../src/log.ts'

const template = (over: Partial<TemplateConfig>): TemplateConfig => ({
  source: '/t/x.njk', destination: '/d/x', perms: undefined, backup: false, command: undefined, commandTimeoutMs: 30_000,
  check: undefined, checkTimeoutMs: 30_000, reloadExec: true, haproxyRuntime: undefined, ...over,
})

const CFG = 'backend upstream_api\n  server s1 10.0.0.5:21001 weight 1\n'

t.test('a servers file skips its check only for a change the runtime API carries', async (t) => {
  const cfg = template({ destination: '/d/haproxy.cfg', haproxyRuntime: { socket: '/d/s', kind: 'servers', file: '/d/haproxy.cfg' } })
  const needed = haproxyFiles.checkNeeded(cfg)!
  t.equal(needed(CFG, CFG.replace('10.0.0.5', '10.0.0.6')), false, 'a server moved: no haproxy -c')
  t.equal(needed(CFG, CFG + 'frontend x\n'), true, 'anything else: checked')
  t.equal(haproxyFiles.checkNeeded(template({ haproxyRuntime: { socket: '/d/s', kind: 'map', file: '/d/x' } })), undefined, 'a map: always checked (if it has a check)')
  t.equal(haproxyFiles.checkNeeded(template({})), undefined)
  t.equal(haproxyFiles.pushTask(template({})), undefined, 'no haproxyRuntime: nothing to push')
  t.match(haproxyFiles.pushTask(cfg), { what: 'HAProxy runtime push of /d/haproxy.cfg (servers)' })
})

t.test('a HAProxy runtime push before HAProxy runs is skipped, not a failure', async (t) => {
  const dir = t.testdir({ 'intentions.map': 'api 1\n' })
  const out: string[] = []
  const logger = createLogger('info', 'json', (l) => out.push(l))
  const push = { socket: join(dir, 'admin.sock'), kind: 'map' as const, file: join(dir, 'intentions.map') }
  const failures = await runCommands([{ task: runtimePush(push) }, { task: runtimePush({ ...push }) }], logger)
  t.same(failures, [])
  const records = out.map((l) => JSON.parse(l))
  t.equal(records.length, 1, 'an identical push is de-duplicated')
  t.match(records[0], { level: 'info', msg: /HAProxy not running yet/, kind: 'map', file: push.file })
})

t.test('a push HAProxy refuses is one COMMAND_FAILED naming the file and HAProxy’s answer', async (t) => {
  const dir = t.testdir({ 'intentions.map': 'api 1\n' })
  // A unix socket path holds at most 107 bytes: the socket goes in a short folder of its own.
  const sockets = mkdtempSync(join(tmpdir(), 'mp-'))
  t.teardown(() => rmSync(sockets, { recursive: true, force: true }))
  const socket = join(sockets, 'admin.sock')
  const server = createServer((c) => c.end('Unknown command.\n'))
  await new Promise<void>((r) => server.listen(socket, r))
  t.teardown(() => server.close())
  const file = join(dir, 'intentions.map')
  const failures = await runCommands([{ task: runtimePush({ socket, kind: 'map', file }) }], silentLogger)
  t.equal(failures.length, 1)
  t.match(failures[0], { code: 'COMMAND_FAILED', message: `HAProxy runtime push of ${file} (map) failed: runtime API "prepare map ${file}": Unknown command.` })
})

t.test('in exec mode without a master CLI: pushes, then the reload signal for a reloadExec file', async (t) => {
  const dir = t.testdir({ 'leaf.pem': 'PEM\n' })
  let reloads = 0
  const child = { config: { haproxyMasterSocket: undefined } as never, reload: () => (reloads++, true) }
  const target = haproxyChild(child, silentLogger)
  await target.started([])
  const leaf = template({ destination: join(dir, 'leaf.pem'), reloadExec: false, haproxyRuntime: { socket: join(dir, 'admin.sock'), kind: 'ssl-cert', file: join(dir, 'leaf.pem') } })
  t.same(await target.apply([leaf]), [], 'HAProxy not running: nothing failed')
  t.equal(reloads, 0, 'a pushed file alone sends no signal')
  t.same(await target.apply([leaf, template({ reloadExec: true })]), [])
  t.equal(reloads, 1)
})
