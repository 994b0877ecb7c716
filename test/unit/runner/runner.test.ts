/**
 * The runner's batch contract, with real templates and a recording writer
 * instead of a disk: a batch writes only complete templates, commands wait
 * for the first pass in which every template rendered, run once per distinct
 * command after the writes, and only for templates that changed.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { connectExtension } from '../../../src/connect/index.ts'
import { resolveConfig } from '../../../src/config/resolve.ts'
import { SlotTable } from '../../../src/haproxy/slots.ts'
import { silentLogger, type Logger } from '../../../src/log.ts'
import { Runner } from '../../../src/runner/runner.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createEnvironment } from '../../../src/template/environment.ts'
import type { RenderScope } from '../../../src/template/functions.ts'
import { Template } from '../../../src/template/template.ts'

function setup(t: Test, templates: Record<string, string>, command?: (log: string) => string[], logger: Logger = silentLogger) {
  const dir = t.testdir(templates)
  const log = join(dir, 'commands.log')
  writeFileSync(log, '')
  const config = resolveConfig({
    templates: Object.keys(templates).map((name) => ({ source: join(dir, name), destination: join(dir, `${name}.out`), command: command?.(log) })),
  }, {})
  const scope: RenderScope = { tracker: undefined, proxyId: undefined, env: {} }
  const env = createEnvironment(scope, [dir], {}, [connectExtension({ slots: new SlotTable() })])
  const brain = new Brain()
  const written: string[] = []
  const last = new Map<string, string>()
  const runner = new Runner({
    config,
    brain,
    log: logger,
    templates: config.templates.map((tc) => new Template(tc.source, env, scope)),
    write: async (content, tc) => {
      if (last.get(tc.destination) === content) return false
      last.set(tc.destination, content)
      written.push(`${tc.destination.split('/').pop()}=${content.trim()}`)
      return true
    },
  })
  return { runner, brain, written, commands: () => readFileSync(log, 'utf8') }
}

const appendCmd = (log: string) => ['node', '-e', `require("fs").appendFileSync(${JSON.stringify(log)}, "ran\\n")`]

t.test('a template with missing data is not written, and commands wait until every template rendered', async (t) => {
  const { runner, brain, written, commands } = setup(t, { 'a.njk': 'a={{ key("a") }}', 'b.njk': 'b={{ key("b") }}' }, appendCmd)
  brain.set('kv.get(a)', { Exists: true, Value: '1' })
  const first = await runner.batch()
  t.equal(first.complete, false)
  t.same([...first.missing], ['kv.get(b)'], 'names what is missing')
  t.same(written, ['a.njk.out=a=1'], 'the complete template is written')
  t.equal(commands(), '', 'no command before every template has rendered (consul-template #1229)')
  brain.set('kv.get(b)', { Exists: true, Value: '2' })
  const second = await runner.batch()
  t.equal(second.complete, true)
  t.equal(commands(), 'ran\n', 'the shared command ran once for both templates')
})

t.test('commands run only for templates that changed, once per distinct command', async (t) => {
  const { runner, brain, commands } = setup(t, { 'a.njk': 'a={{ key("a") }}', 'b.njk': 'b={{ key("b") }}' }, appendCmd)
  brain.set('kv.get(a)', { Exists: true, Value: '1' })
  brain.set('kv.get(b)', { Exists: true, Value: '1' })
  await runner.batch()
  t.equal(commands(), 'ran\n')
  const unchanged = await runner.batch()
  t.same(unchanged.changed, [], 'nothing changed')
  t.equal(commands(), 'ran\n', 'no command without a change')
  brain.set('kv.get(a)', { Exists: true, Value: '2' })
  const one = await runner.batch()
  t.equal(one.changed.length, 1)
  t.equal(commands(), 'ran\nran\n')
})

t.test('the watcher-less runner reports the dependencies a batch used', async (t) => {
  const { runner, brain } = setup(t, { 'a.njk': '{{ key("x") }} {{ keyOrDefault("y", "d") }}' })
  brain.set('kv.get(x)', { Exists: true, Value: '1' })
  brain.set('kv.get(y)', { Exists: false, Value: '' })
  await runner.batch()
  t.same(runner.usedIds().sort(), ['kv.get(x)', 'kv.get(y)'])
})

t.test('calls during a batch coalesce into one more batch, never two at once', async (t) => {
  const { runner, brain } = setup(t, { 'a.njk': '{{ key("a") }}' })
  brain.set('kv.get(a)', { Exists: true, Value: '1' })
  let batches = 0
  runner.on('batch', () => batches++)
  await Promise.all([runner.batch(), runner.batch(), runner.batch()])
  await new Promise((r) => setTimeout(r, 100))
  t.equal(batches, 2, 'the running batch plus one re-run for the calls made meanwhile')
  await runner.stop()
  const after = await runner.batch()
  t.equal(after.complete, false, 'a stopped runner renders nothing')
  t.equal(batches, 2)
})

t.test('a warning raised while rendering is logged when it first appears, not at every batch', async (t) => {
  const warned: string[] = []
  const logger: Logger = { ...silentLogger, warn: (m: string) => void warned.push(m), child: () => logger }
  const template = `{% set it = { SourceName: 'web', DestinationName: 'api', ID: 'x1', SourceNS: '', SourcePartition: '', SourcePeer: '',
    SourceSamenessGroup: '', Action: key('action'), Permissions: [], Unenforced: ['JWT'] } %}{{ [it] | intentionRules('http') | dump }}`
  const { runner, brain, written } = setup(t, { 'map.njk': template }, undefined, logger)
  brain.set('kv.get(action)', { Exists: true, Value: 'allow' })
  await runner.batch()
  t.same(written, ['map.njk.out=[]'], 'the JWT allow is left out of the rows')
  t.same(warned, ['intention web -> api (x1): allow never applies: it requires JWT, which meshplate does not enforce'])
  brain.set('kv.get(other)', { Exists: true, Value: '' })
  await runner.batch()
  t.equal(warned.length, 1, 'the same warning is not logged again')
  brain.set('kv.get(action)', { Exists: true, Value: 'deny' })
  await runner.batch()
  t.match(warned[1], /deny applies to every request from web, whatever its JWT says/)
  brain.set('kv.get(action)', { Exists: true, Value: 'allow' })
  await runner.batch()
  t.equal(warned.length, 3, 'a warning that went away and came back is logged again')
})
