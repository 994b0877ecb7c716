/**
 * HAProxy must not outlive a meshplate killed with SIGKILL: an orphaned
 * master keeps the ports, and the next meshplate in the same folder cannot
 * bind them. Node cannot set PR_SET_PDEATHSIG on a child, so HAProxy is
 * started through util-linux's `setpriv --pdeathsig SIGTERM`, which sets it
 * and execs HAProxy (same PID, so signals still reach HAProxy directly). The
 * kernel then sends the master SIGTERM when meshplate dies; the master stops
 * its workers and exits. The setting survives the master's re-exec on reload.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** Prefixes `argv` with setpriv's parent-death signal when setpriv is on the PATH (util-linux); else returns it unchanged. */
export function dieWithParent(argv: string[], path = process.env.PATH ?? ''): string[] {
  const setpriv = path.split(':').filter(Boolean).map((dir) => join(dir, 'setpriv')).find((p) => existsSync(p))
  return setpriv ? [setpriv, '--pdeathsig', 'SIGTERM', ...argv] : argv
}
