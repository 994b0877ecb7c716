/**
 * Exec mode's half of each batch: the first complete batch starts the child,
 * and every later one hands it the files that changed. With a HAProxy master
 * socket configured, the changes go to LiveHaproxy (pushed through the runtime
 * API, or one checked reload), and the batch ends only when HAProxy holds
 * them; without one, `haproxyRuntime` files are pushed to their socket and a
 * `reloadExec` file sends the reload signal, as consul-template does. A child
 * that dies on its own is restarted, at most `restarts` times in any minute,
 * after 100 ms doubling to 2 s; the files it reads are on disk, so a restarted
 * child serves the current state.
 */
import type { TemplateConfig } from '../config/resolve.ts'
import { MeshplateError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { ApplyHook } from '../runner/runner.ts'
import { sleep } from '../watch/backoff.ts'
import type { Child, ChildExit } from './child.ts'
import { runCommands } from './commands.ts'
import { LiveHaproxy, type FileChange } from './haproxy/live.ts'

export class Supervisor {
  readonly live: LiveHaproxy | undefined
  #supervising = false
  #files: string[] = []

  /** `onExit` gets the exit that ends meshplate (the child died more often than allowed). */
  constructor(
    readonly child: Child,
    readonly log: Logger,
    readonly signal: AbortSignal,
    readonly onExit: (exit: ChildExit) => void,
  ) {
    const master = child.config.haproxyMasterSocket
    this.live = master ? new LiveHaproxy({ masterSocket: master, reload: () => child.reload(), log: log.child('haproxy') }) : undefined
  }

  /** The runner's apply hook for one session's templates. */
  hook(templates: readonly TemplateConfig[]): ApplyHook {
    return async (changed) => {
      this.#files = templates.filter((t) => t.haproxyRuntime || t.reloadExec).map((t) => t.destination)
      if (!this.#supervising) return this.#start()
      if (this.live) return this.#toLive(changed)
      const errors = await runCommands(changed.flatMap((t) => (t.haproxyRuntime ? [{ push: t.haproxyRuntime }] : [])), this.log.child('command'))
      if (changed.some((t) => t.reloadExec)) this.child.reload()
      return errors
    }
  }

  async #toLive(changed: TemplateConfig[]): Promise<MeshplateError[]> {
    const changes = changed.flatMap((t): FileChange[] => {
      if (t.haproxyRuntime) return [{ file: t.destination, kind: t.haproxyRuntime.kind }]
      return t.reloadExec ? [{ file: t.destination, kind: undefined }] : []
    })
    try {
      await this.live!.apply(changes)
      return []
    } catch (err) {
      const e = new MeshplateError('COMMAND_FAILED', `HAProxy did not take the change: ${(err as Error).message}`, { cause: err })
      this.log.error(e.message)
      return [e]
    }
  }

  /** Starts the child once; resolves when it is ready (or has already died). */
  async #start(): Promise<MeshplateError[]> {
    this.#supervising = true
    let ready!: () => void
    const first = new Promise<void>((r) => (ready = r))
    void this.#supervise(ready).then((exit) => {
      ready()
      if (!this.signal.aborted) this.onExit(exit)
    })
    await first
    return []
  }

  async #supervise(ready: () => void): Promise<ChildExit> {
    const limit = this.child.config.restarts
    const recent: number[] = []
    for (;;) {
      const exited = this.child.start()
      await Promise.race([exited, this.#started()])
      ready()
      const exit = await exited
      if (this.signal.aborted) return exit
      const now = Date.now()
      while (recent.length > 0 && now - recent[0]! > 60_000) recent.shift()
      if (recent.length >= limit) {
        if (limit > 0) this.log.error(`child died ${limit + 1} times within a minute; giving up`, { code: exit.code })
        return exit
      }
      recent.push(now)
      const delay = Math.min(2_000, 100 * 2 ** (recent.length - 1))
      this.log.warn(`restarting the child in ${delay} ms`, { restart: `${recent.length} of ${limit} a minute`, code: exit.code })
      await sleep(delay, this.signal)
      if (this.signal.aborted) return exit
    }
  }

  /** Waits for HAProxy's first worker to answer (no-op without a master socket). */
  async #started(): Promise<void> {
    try {
      await this.live?.started(this.#files)
    } catch (err) {
      this.log.error(`HAProxy did not become ready: ${(err as Error).message}`)
    }
  }
}
