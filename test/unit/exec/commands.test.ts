/**
 * After a batch, each changed template's command runs once, in order, bounded
 * by its timeout, and one broken hook does not stop the others. These tests
 * run real `node -e` commands that append to a log file in a test directory,
 * so order, de-duplication and failures are observed on disk.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommands } from '../../../src/exec/commands.ts'
import { createLogger, silentLogger } from '../../../src/log.ts'

/** A command that appends `word` to `log`. */
const append = (log: string, word: string, timeoutMs = 10_000) => ({
  argv: [process.execPath, '-e', `require('fs').appendFileSync(process.argv[1], process.argv[2] + '\\n')`, log, word],
  timeoutMs,
})
const lines = (log: string) => {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}

t.test('distinct commands run once each, in first-seen order', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const failures = await runCommands([append(log, 'reload-haproxy'), append(log, 'notify'), append(log, 'reload-haproxy'), append(log, 'metrics'), append(log, 'notify')], silentLogger)
  t.same(failures, [])
  t.same(lines(log), ['reload-haproxy', 'notify', 'metrics'])
})

t.test('the same command from two templates runs once, whatever their timeouts', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const failures = await runCommands([append(log, 'reload', 30_000), append(log, 'reload', 5_000)], silentLogger)
  t.same(failures, [])
  t.same(lines(log), ['reload'])
})

t.test('in-process tasks run in order with the commands, once per key, and fail as commands do', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const ran: string[] = []
  const task = (key: string, fail = false) => ({
    task: {
      key,
      what: `task ${key}`,
      run: async () => {
        ran.push(`${key} after ${lines(log).length} commands`)
        if (fail) throw new Error('socket refused')
      },
    },
  })
  const failures = await runCommands([append(log, 'first'), task('push-a'), task('push-a'), task('push-b', true), append(log, 'last')], silentLogger)
  t.same(ran, ['push-a after 1 commands', 'push-b after 1 commands'], 'in first-seen order, an equal key once')
  t.same(lines(log), ['first', 'last'], 'a failing task does not stop the rest')
  t.equal(failures.length, 1)
  t.match(failures[0], { code: 'COMMAND_FAILED', message: 'task push-b failed: socket refused' })
})

t.test('a failing command is reported and the rest still run', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const failing = { argv: [process.execPath, '-e', `console.error('haproxy: config invalid'); process.exit(3)`], timeoutMs: 10_000 }
  const failures = await runCommands([append(log, 'first'), failing, append(log, 'after')], silentLogger)
  t.same(lines(log), ['first', 'after'])
  t.equal(failures.length, 1)
  t.match(failures[0], { code: 'COMMAND_FAILED' })
  t.match(failures[0]!.message, /^command ".*" failed: exit 3: haproxy: config invalid$/)
})

t.test('a command over its timeout is stopped and reported', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const hang = { argv: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 300 }
  const started = Date.now()
  const failures = await runCommands([hang, append(log, 'after')], silentLogger)
  t.ok(Date.now() - started < 10_000, 'did not wait for the hung command')
  t.equal(failures.length, 1)
  t.match(failures[0]!.message, /failed: timed out after 300 ms$/)
  t.same(lines(log), ['after'])
})

t.test('a command that does not exist is reported, not thrown', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const failures = await runCommands([{ argv: ['meshplate-no-such-command', '--flag'], timeoutMs: 5_000 }, append(log, 'after')], silentLogger)
  t.equal(failures.length, 1)
  t.match(failures[0], { code: 'COMMAND_FAILED', message: /^command "meshplate-no-such-command --flag" failed: .*ENOENT/ })
  t.same(lines(log), ['after'])
})

t.test('arguments reach the command verbatim, with no shell', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  await runCommands([append(log, '$HOME; rm -rf / `id` "quoted"')], silentLogger)
  t.same(lines(log), ['$HOME; rm -rf / `id` "quoted"'])
})

t.test('each run and each failure is logged', async (t) => {
  const log = join(t.testdir({}), 'ran.log')
  const out: string[] = []
  const logger = createLogger('info', 'json', (l) => out.push(l))
  await runCommands([append(log, 'ok'), { argv: [process.execPath, '-e', 'process.exit(2)'], timeoutMs: 5_000 }], logger)
  const records = out.map((l) => JSON.parse(l))
  t.equal(records.filter((r) => r.msg === 'running command').length, 2)
  t.match(records.at(-1), { level: 'error', msg: /failed: exit 2$/ })
})

t.test('no commands, no work', async (t) => {
  t.same(await runCommands([], silentLogger), [])
})
