/**
 * `meshplate haproxy-update` (hidden): the command the sidecar preset runs
 * after writing a certificate, CA bundle or intentions map. It pushes the new
 * file into the running HAProxy through the runtime API, so none of these
 * changes needs a reload. If HAProxy is not running yet it does nothing: the
 * process will read the file from disk when it starts.
 */
import { readFile, stat } from 'node:fs/promises'
import { updateCaFile, updateCert, updateMap } from '../sidecar/runtime-api.ts'

/** Pushes each given file; resolves to the exit code. */
export async function haproxyUpdate(a: { socket: string; cert?: string; 'ca-file'?: string; map?: string }): Promise<number> {
  const running = await stat(a.socket).then((s) => s.isSocket(), () => false)
  if (!running) {
    process.stderr.write(`haproxy-update: ${a.socket} is not there yet; HAProxy will read the files when it starts\n`)
    return 0
  }
  try {
    if (a.cert) await updateCert(a.socket, a.cert, await readFile(a.cert, 'utf8'))
    if (a['ca-file']) await updateCaFile(a.socket, a['ca-file'], await readFile(a['ca-file'], 'utf8'))
    if (a.map) await updateMap(a.socket, a.map, await readFile(a.map, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      process.stderr.write(`haproxy-update: ${a.socket} refused the connection; HAProxy will read the files when it starts\n`)
      return 0
    }
    throw err
  }
  return 0
}
