#!/usr/bin/env node
// `npm test`: makes sure the real peers are there (running scripts/provision
// when one is missing), builds, prints the Consul, HAProxy, Nomad and podman versions the run
// uses, then runs every tier with tap (Nomad's last, on its own), and the HAProxy tiers
// (its integration tests and the e2e tier but Nomad's, whose jobs run the client's own
// haproxy) again with HAProxy 3.0 (.cache/bin/haproxy-3.0), but not the container image's test, whose
// image carries its own HAProxy (Debian 13's 3.0.11 with Lua 5.4, so its one run already covers 3.0). Extra arguments go to tap, once, e.g. `npm test -- test/unit`.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
const haproxy3 = join(root, '.cache/bin/haproxy-3.0')
const missing = () =>
  !existsSync(join(root, '.cache/bin/consul')) || !existsSync(join(root, '.cache/bin/nomad')) || !existsSync(haproxy3) || !onPath('haproxy') || !onPath('lua5.3') || !onPath('lua5.4')

if (missing()) {
  console.log('# consul, nomad, haproxy, haproxy 3.0, lua5.3 or lua5.4 missing: running scripts/provision')
  const r = spawnSync('bash', [join(root, 'scripts/provision')], { stdio: 'inherit' })
  if (r.status !== 0 || missing()) {
    console.error('meshplate test: provisioning failed; run `bash scripts/provision` (needs apt and Go) and retry')
    process.exit(1)
  }
}

execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
const version = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0].trim()
console.log(`# node ${process.version}`)
console.log(`# ${version(join(root, '.cache/bin/consul'), ['version'])}`)
console.log(`# ${version('haproxy', ['-v'])}; then ${version(haproxy3, ['-v'])}`)
console.log(`# ${version(join(root, '.cache/bin/nomad'), ['version'])}`)
// Not required: without podman test/e2e/image.test.ts skips, saying so.
console.log(`# ${onPath('podman') ? version('podman', ['--version']) : 'podman not installed: the container image test will be skipped'}`)

const tap = (files, env = process.env) => spawnSync(join(root, 'node_modules/.bin/tap'), files, { cwd: root, stdio: 'inherit', env }).status ?? 1
const args = process.argv.slice(2)
if (args.length) process.exit(tap(args))
const e2e = readdirSync(join(root, 'test/e2e')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/e2e/${f}`)
const notNomad = e2e.filter((f) => !f.endsWith('/nomad.test.ts'))
const status = tap(['test/unit', 'test/lua', 'test/integration', ...notNomad])
if (status !== 0) process.exit(status)
// Nomad's tier on its own, with more than tap's 180 s a file: ~80 s here, but a CI run
// once spent over 180 s in it (its allocations wait up to 180 s each to start).
const nomadStatus = tap(['--timeout', '600', 'test/e2e/nomad.test.ts'])
if (nomadStatus !== 0) process.exit(nomadStatus)
const haproxyTiers = [
  'test/integration/haproxy-policy.test.ts',
  'test/integration/golden-haproxy.test.ts',
  'test/integration/live-haproxy.test.ts',
  ...notNomad.filter((f) => !f.endsWith('/image.test.ts')),
]
console.log(`# the HAProxy tiers again with ${version(haproxy3, ['-v'])}`)
process.exit(tap(haproxyTiers, { ...process.env, MESHPLATE_TEST_HAPROXY: haproxy3 }))
