/**
 * The raw config is what the user wrote. These tests cover reading a JSON
 * config file (typos in keys are errors that name the file and the key;
 * template paths are relative to the file, not to wherever meshplate was
 * started), the `-t src:dest[:command]` flag, and how files and flags merge.
 */
import t from 'tap'
import { join } from 'node:path'
import { mergeRaw, parseTemplateFlag, readConfigFile } from '../../../src/config/raw.ts'

t.test('readConfigFile resolves template paths against the file’s folder', async (t) => {
  const dir = t.testdir({
    etc: {
      'meshplate.json': JSON.stringify({
        wait: '1s:5s',
        templates: [
          { source: 'templates/haproxy.cfg.njk', destination: '../run/haproxy.cfg', command: 'true' },
          { source: '/abs/roots.pem.njk', destination: '/abs/roots.pem', perms: '0644' },
          { source: 'only-source.njk' },
        ],
      }),
    },
  })
  const file = join(dir, 'etc', 'meshplate.json')
  const raw = readConfigFile(file)
  t.equal(raw.wait, '1s:5s')
  t.same(raw.templates, [
    { source: join(dir, 'etc/templates/haproxy.cfg.njk'), destination: join(dir, 'run/haproxy.cfg'), command: 'true' },
    { source: '/abs/roots.pem.njk', destination: '/abs/roots.pem', perms: '0644' },
    { source: join(dir, 'etc/only-source.njk'), destination: undefined },
  ])
})

t.test('readConfigFile without templates gives an empty list', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ consul: { address: 'unix:///run/consul.sock' }, logLevel: 'debug' }) })
  const raw = readConfigFile(join(dir, 'c.json'))
  t.same(raw.templates, [])
  t.equal(raw.consul?.address, 'unix:///run/consul.sock')
  t.equal(raw.logLevel, 'debug')
})

t.test('an unknown key is an error naming the file and the key', async (t) => {
  const dir = t.testdir({
    'top.json': JSON.stringify({ templates: [], waitt: '1s' }),
    'tpl.json': JSON.stringify({ templates: [{ source: 'a', destination: 'b' }, { source: 'a', dest: 'b' }] }),
  })
  const top = join(dir, 'top.json')
  t.throws(() => readConfigFile(top), { code: 'CONFIG_INVALID', message: `${top}: unknown key "waitt"` })
  const tpl = join(dir, 'tpl.json')
  t.throws(() => readConfigFile(tpl), { code: 'CONFIG_INVALID', message: `${tpl}: templates[1]: unknown key "dest"` })
})

t.test('a file that is not a JSON object is refused with its name', async (t) => {
  const dir = t.testdir({
    'broken.json': '{"templates": [',
    'array.json': '[]',
    'null.json': 'null',
    'tpl-string.json': JSON.stringify({ templates: ['a:b'] }),
    'tpl-object.json': JSON.stringify({ templates: { source: 'a', destination: 'b' } }),
  })
  for (const name of ['broken.json', 'array.json', 'null.json']) {
    const file = join(dir, name)
    t.throws(() => readConfigFile(file), { code: 'CONFIG_INVALID', message: new RegExp(`^${file.replace(/[.]/g, '\\.')}: `) }, name)
  }
  const str = join(dir, 'tpl-string.json')
  t.throws(() => readConfigFile(str), { code: 'CONFIG_INVALID', message: `${str}: templates[0] is not an object` })
  const obj = join(dir, 'tpl-object.json')
  t.throws(() => readConfigFile(obj), { code: 'CONFIG_INVALID', message: `${obj}: "templates" must be an array` })
  const missing = join(dir, 'nope.json')
  t.throws(() => readConfigFile(missing), { code: 'CONFIG_INVALID', message: new RegExp(`^${missing.replace(/[.]/g, '\\.')}: .*ENOENT`) })
})

t.test('parseTemplateFlag splits src:dest[:command]', async (t) => {
  t.same(parseTemplateFlag('in.njk:out.cfg'), { source: 'in.njk', destination: 'out.cfg', command: undefined })
  t.same(parseTemplateFlag('in.njk:out.cfg:systemctl reload haproxy'), { source: 'in.njk', destination: 'out.cfg', command: 'systemctl reload haproxy' })
  t.same(
    parseTemplateFlag('in.njk:/etc/out.cfg:sh -c "echo a:b"'),
    { source: 'in.njk', destination: '/etc/out.cfg', command: 'sh -c "echo a:b"' },
    'colons inside the command are kept',
  )
  t.same(parseTemplateFlag('in.njk:out.cfg:'), { source: 'in.njk', destination: 'out.cfg', command: undefined }, 'an empty command is no command')
})

t.test('parseTemplateFlag errors quote the flag value', async (t) => {
  t.throws(() => parseTemplateFlag('in.njk'), { code: 'CONFIG_INVALID', message: '--template "in.njk": expected src:dest[:command]' })
  t.throws(() => parseTemplateFlag(':out.cfg'), { code: 'CONFIG_INVALID', message: '--template ":out.cfg": expected src:dest[:command]' })
  t.throws(() => parseTemplateFlag('in.njk:'), { code: 'CONFIG_INVALID', message: '--template "in.njk:": missing destination' })
  t.throws(() => parseTemplateFlag('in.njk::cmd'), { code: 'CONFIG_INVALID', message: '--template "in.njk::cmd": missing destination' })
})

t.test('mergeRaw: later scalars win, undefined never erases, templates accumulate', async (t) => {
  const file = {
    wait: '1s:4s',
    logLevel: 'info',
    dry: false,
    consul: { address: '10.0.0.1:8500', token: 'from-file' },
    vars: { env: 'prod', region: 'eu' },
    exec: { command: 'haproxy -W -f cfg', reloadSignal: 'SIGUSR2' },
    templates: [{ source: 'a.njk', destination: 'a' }],
  }
  const flags = {
    logLevel: 'debug',
    wait: undefined,
    proxyId: 'web-sidecar-proxy',
    consul: { address: undefined, token: 'from-flag' },
    vars: { region: 'us' },
    exec: { command: undefined, killSignal: 'SIGINT' },
    templates: [{ source: 'b.njk', destination: 'b' }],
  }
  const merged = mergeRaw(file, flags)
  t.equal(merged.logLevel, 'debug', 'a later scalar wins')
  t.equal(merged.wait, '1s:4s', 'undefined in a later config does not erase')
  t.equal(merged.dry, false)
  t.equal(merged.proxyId, 'web-sidecar-proxy')
  t.same(merged.consul, { address: '10.0.0.1:8500', token: 'from-flag' })
  t.same(merged.vars, { env: 'prod', region: 'us' })
  t.same(merged.exec, { command: 'haproxy -W -f cfg', reloadSignal: 'SIGUSR2', killSignal: 'SIGINT' })
  t.same(merged.templates, [{ source: 'a.njk', destination: 'a' }, { source: 'b.njk', destination: 'b' }])
  t.same(file.templates, [{ source: 'a.njk', destination: 'a' }], 'inputs are not mutated')
})

t.test('mergeRaw of nothing is an empty config with no templates', async (t) => {
  t.same(mergeRaw(), { templates: [] })
  t.same(mergeRaw({}, {}), { templates: [] })
})
