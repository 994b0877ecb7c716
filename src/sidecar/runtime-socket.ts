/**
 * Where the sidecar's HAProxy runtime socket lives. A unix socket path holds
 * at most 107 bytes, and HAProxy binds `<path>.<pid>.tmp` first, so about 97
 * are usable. Inside Nomad the sidecar's folder is under
 * `<data_dir>/alloc/<alloc id>/<task>/local/`, which is past that limit for
 * any data_dir longer than about 20 characters. When `<dir>/haproxy.sock`
 * does not fit, the socket goes in a short private folder instead:
 * `/tmp/meshplate-<uid>-<hash of dir>/`, mode 0700, refused unless it is a
 * real folder owned by this user (no symlink, nobody else can enter). It is
 * not an abstract socket (`abns@`): those have no permissions, so any process
 * in the network namespace (the app task, in Nomad) could reach the admin API.
 */
import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError } from '../errors.ts'

/** The longest socket path HAProxy can bind: sun_path (108) minus NUL and its `.<pid>.tmp` suffix. */
export const MAX_SOCKET_PATH = 107 - '.4194304.tmp'.length

/** The runtime socket path for a sidecar folder; creates the short folder when it is used. */
export function runtimeSocketPath(dir: string, uid = process.getuid?.() ?? 0, tmp = '/tmp'): string {
  const inDir = join(resolve(dir), 'haproxy.sock')
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH) return inDir
  const hash = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)
  const short = join(tmp, `meshplate-${uid}-${hash}`)
  mkdirSync(short, { recursive: true, mode: 0o700 })
  const st = lstatSync(short)
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new ConfigError(`runtime socket folder ${short}: must be a folder owned by uid ${uid} with mode 0700 (found mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid}${st.isSymbolicLink() ? ', a symlink' : ''})`)
  }
  return join(short, 'haproxy.sock')
}

/** Removes the short private folder after HAProxy has stopped (a socket in `dir` itself stays HAProxy's). */
export function removeRuntimeSocket(dir: string, socket: string): void {
  if (dirname(socket) !== resolve(dir)) rmSync(dirname(socket), { recursive: true, force: true })
}
