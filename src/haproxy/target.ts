/**
 * The one entry for "a rendered file changed" when the file is HAProxy's (a
 * template with `haproxyRuntime`, an exec child with `haproxyMasterSocket`):
 * - the write: a haproxy.cfg change that only server lines make needs no
 *   `haproxy -c` (server-plan.ts);
 * - without exec mode: the file is pushed to its socket after the batch;
 * - in exec mode with a master CLI: live.ts pushes it into the current worker,
 *   or reloads once, and says when HAProxy holds it;
 * - in exec mode without one: the file is pushed to its socket, and a
 *   `reloadExec` file sends the reload signal, as consul-template does.
 * The runner and the supervisor know no HAProxy: src/commands/ hands them these.
 */
import type { RuntimePush, TemplateConfig } from '../config/resolve.ts'
import { MeshplateError } from '../errors.ts'
import type { Child } from '../exec/child.ts'
import { runCommands, type TaskSpec } from '../exec/commands.ts'
import type { ChildTarget } from '../exec/supervisor.ts'
import type { Logger } from '../log.ts'
import type { FileTarget } from '../runner/write.ts'
import { LiveHaproxy, type FileChange } from './live.ts'
import { pushFile } from './runtime-api.ts'
import { serverOnlyChange } from './server-plan.ts'

/** The runner's side: the check a servers-only change skips, and the push after a batch. */
export const haproxyFiles: FileTarget = {
  checkNeeded: (tc) => (tc.haproxyRuntime?.kind === 'servers' ? (old, next) => !serverOnlyChange(old, next) : undefined),
  pushTask: (tc) => (tc.haproxyRuntime ? runtimePush(tc.haproxyRuntime) : undefined),
}

/** Pushes one file into the HAProxy behind its socket; skipped (and said so) while HAProxy is not running. */
export function runtimePush(p: RuntimePush): TaskSpec {
  return {
    key: JSON.stringify(p),
    what: `HAProxy runtime push of ${p.file} (${p.kind})`,
    run: async (log) => {
      const pushed = await pushFile(p)
      log.info(pushed ? 'pushed to HAProxy runtime API' : 'HAProxy not running yet; it reads the file at start', { kind: p.kind, file: p.file })
    },
  }
}

/** The supervisor's side: how each batch's changes reach the HAProxy it runs. */
export function haproxyChild(child: Pick<Child, 'config' | 'reload'>, log: Logger): ChildTarget {
  const master = child.config.haproxyMasterSocket
  if (!master) {
    return {
      started: async () => {},
      apply: async (changed) => {
        const errors = await runCommands(changed.flatMap((t) => (t.haproxyRuntime ? [{ task: runtimePush(t.haproxyRuntime) }] : [])), log.child('command'))
        if (changed.some((t) => t.reloadExec)) child.reload()
        return errors
      },
    }
  }
  const live = new LiveHaproxy({ masterSocket: master, reload: () => child.reload(), log: log.child('haproxy') })
  return {
    started: async (templates) => {
      try {
        await live.started(templates.filter((t) => t.haproxyRuntime || t.reloadExec).map((t) => t.destination))
      } catch (err) {
        log.error(`HAProxy did not become ready: ${(err as Error).message}`)
      }
    },
    apply: (changed) => toLive(live, changed, log),
  }
}

/** Hands a batch's changed files to LiveHaproxy; a failure is one COMMAND_FAILED, logged. */
async function toLive(live: LiveHaproxy, changed: TemplateConfig[], log: Logger): Promise<MeshplateError[]> {
  const changes = changed.flatMap((t): FileChange[] => {
    if (t.haproxyRuntime) return [{ file: t.destination, kind: t.haproxyRuntime.kind }]
    return t.reloadExec ? [{ file: t.destination, kind: undefined }] : []
  })
  try {
    await live.apply(changes)
    return []
  } catch (err) {
    const e = new MeshplateError('COMMAND_FAILED', `HAProxy did not take the change: ${(err as Error).message}`, { cause: err })
    log.error(e.message)
    return [e]
  }
}
