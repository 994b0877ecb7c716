#!/usr/bin/env node
// `npm test`: makes sure the real peers are there (running scripts/provision
// when one is missing), builds, prints the Consul, HAProxy and Nomad versions the run
// uses, then runs every tier with tap. Extra arguments go to tap, e.g.
// `npm test -- test/unit`.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
const missing = () =>
  !existsSync(join(root, '.cache/bin/consul')) || !existsSync(join(root, '.cache/bin/nomad')) || !onPath('haproxy') || !onPath('lua5.3') || !onPath('lua5.4')

if (missing()) {
  console.log('# consul, nomad, haproxy, lua5.3 or lua5.4 missing: running scripts/provision')
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
console.log(`# ${version('haproxy', ['-v'])}`)
console.log(`# ${version(join(root, '.cache/bin/nomad'), ['version'])}`)

const args = process.argv.slice(2)
const r = spawnSync(join(root, 'node_modules/.bin/tap'), args.length ? args : ['test/unit', 'test/lua', 'test/integration', 'test/e2e'], {
  cwd: root,
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
