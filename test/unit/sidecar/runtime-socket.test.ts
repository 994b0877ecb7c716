/**
 * The runtime socket must stay bindable whatever the length of the sidecar's
 * folder (Nomad's task dirs are long): in the folder when the path fits
 * HAProxy's limit, else in a short private folder that is refused unless it
 * is really ours.
 */
import { chmodSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { MAX_SOCKET_PATH, runtimeSocketPath } from '../../../src/sidecar/runtime-socket.ts'

const uid = process.getuid!()

t.test('a short folder keeps its socket', async (t) => {
  t.equal(runtimeSocketPath('/run/mesh/web', uid, t.testdir({})), '/run/mesh/web/haproxy.sock')
})

t.test('a Nomad task dir under a long data_dir gets a short private folder, the same one each time', async (t) => {
  const tmp = t.testdir({})
  const dir = '/var/lib/nomad/data-of-this-client/alloc/8f3c2d1e-5b6a-4c7d-9e8f-0a1b2c3d4e5f/meshplate/local/mesh'
  t.ok(join(dir, 'haproxy.sock').length > MAX_SOCKET_PATH, 'the in-folder path would not fit')
  const socket = runtimeSocketPath(dir, uid, tmp)
  t.match(socket, new RegExp(`^${tmp}/meshplate-${uid}-[0-9a-f]{16}/haproxy\\.sock$`), 'in a folder named for this user and the sidecar folder')
  t.ok(`/tmp/meshplate-${uid}-0123456789abcdef/haproxy.sock`.length <= MAX_SOCKET_PATH, 'which fits under /tmp')
  t.equal(runtimeSocketPath(dir, uid, tmp), socket, 'stable for the same folder, so a restarted sidecar finds it')
  t.not(runtimeSocketPath(`${dir}2`, uid, tmp), socket, 'another sidecar gets another one')
  t.equal(statSync(join(socket, '..')).mode & 0o777, 0o700, 'nobody else can enter it')
})

t.test('a folder that is not ours is refused', async (t) => {
  const tmp = t.testdir({ planted: {} })
  const dir = `/${'x'.repeat(120)}`
  const folder = join(runtimeSocketPath(dir, uid, tmp), '..')
  chmodSync(folder, 0o755)
  t.throws(() => runtimeSocketPath(dir, uid, tmp), /must be a folder owned by uid \d+ with mode 0700 \(found mode 755/, 'one others can enter')
  rmSync(folder, { recursive: true })
  symlinkSync(join(tmp, 'planted'), folder)
  t.throws(() => runtimeSocketPath(dir, uid, tmp), /a symlink/, 'a symlink planted in its place')
})
