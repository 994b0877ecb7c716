/**
 * The sidecar preset is plain renderer config; what it promises is visible
 * in that config: the key file is 0600, every haproxy.cfg is checked with
 * `haproxy -c` before it replaces the live one, intentions reach HAProxy
 * through the runtime API without a reload, certificates by a reload, and
 * HAProxy runs master-worker with SIGUSR2 as the reload signal.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { resolveConfig } from '../../../src/config/resolve.ts'
import { haproxyEntry, shippedLuaDir, shippedTemplateDir, shippedTemplateRoot, sidecarConfig } from '../../../src/sidecar/preset.ts'

const raw = sidecarConfig({ dir: '/run/mesh/web', templateDir: shippedTemplateDir, luaDir: shippedLuaDir, haproxy: '/usr/sbin/haproxy', vars: { nbthread: '2' } })
const config = resolveConfig(raw, {})
const byName = (name: string) => config.templates.find((tc) => tc.destination === join('/run/mesh/web', name))!

t.test('four files in the sidecar folder, rendered from the shipped templates', async (t) => {
  t.same(config.templates.map((tc) => tc.destination.split('/').pop()), ['leaf.pem', 'roots.pem', 'intentions.map', 'haproxy.cfg'], 'certificates first, so the config check finds them')
  for (const tc of config.templates) t.ok(tc.source.startsWith(shippedTemplateDir), `${tc.source} is a shipped template`)
  t.equal(byName('leaf.pem').perms, 0o600, 'the private key is written 0600')
})

t.test('haproxy.cfg is checked with haproxy -c on the temp file', async (t) => {
  t.same(byName('haproxy.cfg').check, ['/usr/sbin/haproxy', '-c', '-f', '{{path}}'])
})

t.test('each file says what it is to the runtime API; live.ts decides push or reload', async (t) => {
  const kinds = Object.fromEntries(['intentions.map', 'leaf.pem', 'roots.pem', 'haproxy.cfg'].map((n) => [n, byName(n).haproxyRuntime?.kind]))
  t.same(kinds, { 'intentions.map': 'map', 'leaf.pem': 'ssl-cert', 'roots.pem': 'ssl-ca-file', 'haproxy.cfg': 'servers' })
  t.same(byName('leaf.pem').haproxyRuntime, { socket: '/run/mesh/web/haproxy.sock', kind: 'ssl-cert', file: '/run/mesh/web/leaf.pem' }, 'named as bind and server lines load it')
})

t.test('HAProxy runs master-worker under exec mode, reloaded with SIGUSR2', async (t) => {
  t.same(config.exec?.command.slice(-7), ['/usr/sbin/haproxy', '-W', '-db', '-S', '/run/mesh/web/master.sock,mode,600', '-f', '/run/mesh/web/haproxy.cfg'])
  t.equal(config.exec?.haproxyMasterSocket, '/run/mesh/web/master.sock', 'the master CLI, beside the runtime socket, mode 600')
  t.match(config.exec?.command.slice(0, 3), [/\/setpriv$/, '--pdeathsig', 'SIGTERM'], 'started through setpriv, so HAProxy dies with meshplate')
  t.equal(config.exec?.reloadSignal, 'SIGUSR2')
  t.equal(config.exec?.restarts, 5, 'a dead HAProxy is restarted, up to 5 times a minute')
  t.same(config.vars, { dir: '/run/mesh/web', luaDir: shippedLuaDir, runtimeSocket: '/run/mesh/web/haproxy.sock', nbthread: '2' }, 'templates get the folder, the Lua folder, the runtime socket and --var values')
})

t.test('a per-service override replaces the entry template only once it exists; it extends the shipped one', async (t) => {
  const overrideDir = t.testdir({})
  t.equal(haproxyEntry({ templateDir: shippedTemplateDir, overrideDir }), join(shippedTemplateDir, 'haproxy.cfg.njk'), 'no override yet: the shipped entry')
  writeFileSync(join(overrideDir, 'haproxy.cfg.njk'), '{% extends "haproxy/haproxy.cfg.njk" %}')
  t.equal(haproxyEntry({ templateDir: shippedTemplateDir, overrideDir }), join(overrideDir, 'haproxy.cfg.njk'), 'the override once written')
  const c = resolveConfig(sidecarConfig({ dir: '/run/mesh/web', templateDir: shippedTemplateDir, luaDir: shippedLuaDir, haproxy: 'haproxy', vars: {}, overrideDir }), {})
  t.same(c.templateRoots, [shippedTemplateRoot], '"haproxy/haproxy.cfg.njk" resolves to the shipped template')
})

t.test('--lua-dir is checked at start for every module authorize.lua loads', async (t) => {
  const { checkLuaDir, LUA_MODULES, shippedLuaDir } = await import('../../../src/sidecar/preset.ts')
  const { readdirSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  t.same([...LUA_MODULES].sort(), readdirSync(shippedLuaDir).filter((f) => f.endsWith('.lua')).sort(), 'the list is every shipped Lua file')
  t.doesNotThrow(() => checkLuaDir(shippedLuaDir))
  const partial = t.testdir({ 'authorize.lua': '-- only the entry file' })
  t.throws(() => checkLuaDir(partial), { code: 'CONFIG_INVALID', message: /--lua-dir .*: cert\.lua is missing \(copy the whole lua\/ folder\)/ })
  for (const name of LUA_MODULES) writeFileSync(join(partial, name), '--')
  t.doesNotThrow(() => checkLuaDir(partial), 'a folder with every module passes')
})
