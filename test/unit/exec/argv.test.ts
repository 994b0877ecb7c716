/**
 * Commands in config are argv lists and never meet a shell, but users still
 * write them as one string (`"systemctl reload haproxy"`). The splitter must
 * follow the quoting users expect, expand nothing, and refuse what it cannot
 * split, naming the config field.
 */
import t from 'tap'
import { splitArgs, toArgv } from '../../../src/exec/argv.ts'

t.test('splits on any whitespace', async (t) => {
  t.same(splitArgs('systemctl reload haproxy'), ['systemctl', 'reload', 'haproxy'])
  t.same(splitArgs('  haproxy\t-c   -f\n/etc/haproxy.cfg  '), ['haproxy', '-c', '-f', '/etc/haproxy.cfg'])
})

t.test('quotes group words; adjacent parts join into one word', async (t) => {
  t.same(splitArgs(`sh -c 'echo "$HOME" > /tmp/x'`), ['sh', '-c', 'echo "$HOME" > /tmp/x'])
  t.same(splitArgs('logger "reloaded web sidecar"'), ['logger', 'reloaded web sidecar'])
  t.same(splitArgs(`a"b c"'d e'f`), ['ab cd ef'])
  t.same(splitArgs(`cmd '' ""`), ['cmd', '', ''], 'empty quoted words are kept')
})

t.test('backslash escapes outside quotes and inside double quotes only', async (t) => {
  t.same(splitArgs('touch my\\ file'), ['touch', 'my file'])
  t.same(splitArgs('echo "say \\"hi\\""'), ['echo', 'say "hi"'])
  t.same(splitArgs(`echo 'C:\\path\\n'`), ['echo', 'C:\\path\\n'], 'single quotes are literal')
  t.same(splitArgs('echo trailing\\'), ['echo', 'trailing\\'], 'a trailing backslash is kept')
})

t.test('nothing is expanded', async (t) => {
  t.same(splitArgs('echo $HOME ~ *.cfg `id` $(id) a;b | c'), ['echo', '$HOME', '~', '*.cfg', '`id`', '$(id)', 'a;b', '|', 'c'])
})

t.test('unterminated quotes and empty commands name the field', async (t) => {
  t.throws(() => splitArgs(`echo 'oops`, 'templates[2].command'), { code: 'CONFIG_INVALID', message: `templates[2].command: unterminated ' quote in "echo 'oops"` })
  t.throws(() => splitArgs('echo "oops', '--exec'), { code: 'CONFIG_INVALID', message: '--exec: unterminated " quote in "echo "oops"' })
  t.throws(() => splitArgs('   ', 'templates[0].check'), { code: 'CONFIG_INVALID', message: 'templates[0].check: empty command' })
  t.throws(() => splitArgs(''), { code: 'CONFIG_INVALID', message: 'command: empty command' })
})

t.test('toArgv takes a string or a non-empty array of strings', async (t) => {
  t.same(toArgv('haproxy -c -f "{{path}}"', 'check'), ['haproxy', '-c', '-f', '{{path}}'])
  const list = ['haproxy', '-W', '-f', 'my file.cfg']
  const argv = toArgv(list, 'exec')
  t.same(argv, list, 'an array is used as is, without splitting')
  list.push('mutated')
  t.same(argv, ['haproxy', '-W', '-f', 'my file.cfg'], 'and copied')
  for (const bad of [[], ['ok', 3], 42, null, { cmd: 'x' }]) {
    t.throws(() => toArgv(bad, 'templates[1].command'), { code: 'CONFIG_INVALID', message: 'templates[1].command: expected a command string or a non-empty array of strings' }, JSON.stringify(bad))
  }
})
