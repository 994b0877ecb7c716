/**
 * The CI path for customised sidecar templates: record a snapshot from a real
 * agent once, then render and `haproxy -c` the user's template copies offline
 * with `meshplate sidecar --once --data`. A broken copy fails with the
 * rendered file and line; nothing is written in its place.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../support/binaries.ts'
import { startConsul } from '../support/consul.ts'
import { exitsWith, meshplateOnce } from '../support/process.ts'

t.test('sidecar --once renders and checks user templates from a recorded snapshot', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.registerWithSidecar({ name: 'api', port: 9001, sidecarPort: 21001, proxyConfig: { protocol: 'http' } })
  await consul.registerWithSidecar({ name: 'web', port: 9000, sidecarPort: 21000, proxyConfig: { protocol: 'http' }, upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] })
  const dir = mkdtempSync(join(tmpdir(), 'ci-'))
  const snap = join(dir, 'web.snapshot.json')
  const recorded = await meshplateOnce(['sidecar', '--sidecar-for', 'web', '--consul-addr', consul.addr, '--once', '--record', snap, '--dir', join(dir, 'live')])
  exitsWith(t, recorded, 0, 'recorded a snapshot from the live agent')
  await consul.stop()

  const mine = join(dir, 'my-templates')
  cpSync(join(repoRoot, 'templates/haproxy'), mine, { recursive: true })
  const cfg = join(mine, 'haproxy.cfg.njk')
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('option dontlognull', 'option dontlognull\n    maxconn 5000'))
  const good = await meshplateOnce(['sidecar', '--proxy-id', 'web-sidecar-proxy', '--once', '--data', snap, '--template-dir', mine, '--dir', join(dir, 'good')])
  exitsWith(t, good, 0, 'a valid customisation renders and passes haproxy -c')
  t.match(readFileSync(join(dir, 'good/haproxy.cfg'), 'utf8'), /maxconn 5000/, 'the customisation is in the rendered config')
  t.match(readFileSync(join(dir, 'good/haproxy.cfg'), 'utf8'), /server \S+ 127\.0\.0\.1:21001 ssl verify required/, 'recorded upstream instance rendered offline')

  // The copy's own macros are used: imports are relative to the template that imports them.
  const macro = join(mine, 'macros/upstream.njk')
  writeFileSync(macro, readFileSync(macro, 'utf8').replace('    option dontlog-normal', '    option dontlog-normal\n    # my upstream macro'))
  const macroRun = await meshplateOnce(['sidecar', '--proxy-id', 'web-sidecar-proxy', '--once', '--data', snap, '--template-dir', mine, '--dir', join(dir, 'macro')])
  exitsWith(t, macroRun, 0, 'a copy with an edited macro renders')
  t.match(readFileSync(join(dir, 'macro/haproxy.cfg'), 'utf8'), /# my upstream macro/, "the copy's macro, not the shipped one, was used")

  // A per-service override extends the shipped outline, whose macros come from the shipped folder.
  const override = join(dir, 'override')
  mkdirSync(override)
  writeFileSync(join(override, 'haproxy.cfg.njk'), '{% extends "haproxy/haproxy.cfg.njk" %}\n{% block inbound_extra %}\n    http-response set-header X-Override yes\n{% endblock %}\n')
  const overridden = await meshplateOnce(['sidecar', '--proxy-id', 'web-sidecar-proxy', '--once', '--data', snap, '--override-dir', override, '--dir', join(dir, 'overridden')])
  exitsWith(t, overridden, 0, 'an override extending the shipped template renders')
  const out = readFileSync(join(dir, 'overridden/haproxy.cfg'), 'utf8')
  t.match(out, /X-Override yes/, 'the override block is in')
  t.match(out, /http-request return status 403 content-type text\/plain string "RBAC: access denied"/, "the shipped macros are in (the parent's relative imports resolved from the shipped folder)")

  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('maxconn 5000', 'maxconnections 5000'))
  const bad = await meshplateOnce(['sidecar', '--proxy-id', 'web-sidecar-proxy', '--once', '--data', snap, '--template-dir', mine, '--dir', join(dir, 'bad')])
  t.equal(bad.code, 1, 'a broken customisation exits 1')
  t.match(bad.output, /bad\/haproxy\.cfg: check "\S*haproxy\S* -c -f \{\{path\}\}" failed, file kept: \[ALERT\].*haproxy\.cfg:\d+\]/, 'the error names the rendered file and line')
  t.notOk(existsSync(join(dir, 'bad/haproxy.cfg')), 'no haproxy.cfg written for the broken render')

  writeFileSync(cfg, '{% if %}\n')
  const syntax = await meshplateOnce(['sidecar', '--proxy-id', 'web-sidecar-proxy', '--once', '--data', snap, '--template-dir', mine, '--dir', join(dir, 'syntax')])
  t.not(syntax.code, 0)
  t.match(syntax.output, /meshplate: \S+haproxy\.cfg\.njk:1: unexpected token/, 'a template syntax error names template:line in one line')
})
