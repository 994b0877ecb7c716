/**
 * `meshplate haproxy-update` (hidden): pushes a certificate, CA bundle or map
 * file into a running HAProxy through its runtime API, by hand or from a
 * custom template's `command`. The sidecar preset does the same in-process
 * (`haproxyRuntime`). If HAProxy is not running it does nothing: the process
 * will read the file from disk when it starts.
 */
import { pushFile, type RuntimeKind } from '../exec/haproxy-runtime.ts'

/** Pushes each given file; resolves to the exit code. */
export async function haproxyUpdate(a: { socket: string; cert?: string; 'ca-file'?: string; map?: string }): Promise<number> {
  const pushes: Array<[RuntimeKind, string | undefined]> = [['ssl-cert', a.cert], ['ssl-ca-file', a['ca-file']], ['map', a.map]]
  for (const [kind, file] of pushes) {
    if (!file) continue
    if (!(await pushFile({ socket: a.socket, kind, file }))) {
      process.stderr.write(`haproxy-update: no HAProxy at ${a.socket}; it will read ${file} when it starts\n`)
    }
  }
  return 0
}
