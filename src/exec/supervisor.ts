/**
 * Exec mode's half of each batch: the first complete batch starts the child,
 * and every later one hands it the files that changed, through its
 * `ChildTarget`. The default sends the reload signal when a `reloadExec` file
 * changed, as consul-template does; HAProxy's (haproxy/target.ts, given by
 * commands/run.ts) pushes what the runtime API can take or reloads once, and
 * the batch ends only when HAProxy holds the change. A child that dies on its
 * own is restarted, at most `restarts` times in any minute, after 100 ms
 * doubling to 2 s; the files it reads are on disk, so a restarted child
 * serves the current state.
 */
import type { TemplateConfig } from '../config/resolve.ts'
import { errorLine, type MeshplateError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { ApplyHook } from '../runner/runner.ts'
import { sleep } from '../watch/backoff.ts'
import type { Child, ChildExit } from './child.ts'

/** How the files changed in a batch reach the running child. */
export interface ChildTarget {
  /** After the child (re)starts: resolves when it can take changes. `templates` are the session's. */
  started(templates: readonly TemplateConfig[]): Promise<void>
  /** Hands the files changed in one batch to the running child; the failures, already logged. */
  apply(changed: TemplateConfig[]): Promise<MeshplateError[]>
}

/** The reload signal after a batch that changed a `reloadExec` file. */
export function signalTarget(child: Pick<Child, 'reload'>): ChildTarget {
  return {
    started: async () => {},
    apply: async (changed) => {
      if (changed.some((t) => t.reloadExec)) child.reload()
      return []
    },
  }
}

export class Supervisor {
  #supervising = false
  #templates: readonly TemplateConfig[] = []

  /** `onExit` gets the exit that ends meshplate (the child died more often than allowed). */
  constructor(
    readonly child: Child,
    readonly log: Logger,
    readonly signal: AbortSignal,
    readonly onExit: (exit: ChildExit) => void,
    readonly target: ChildTarget = signalTarget(child),
  ) {}

  /** The runner's apply hook for one session's templates. */
  hook(templates: readonly TemplateConfig[]): ApplyHook {
    return async (changed) => {
      this.#templates = templates
      if (!this.#supervising) return this.#start()
      return this.target.apply(changed)
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

  /** Waits until the started child can take changes (HAProxy: its first worker answers). */
  async #started(): Promise<void> {
    try {
      await this.target.started(this.#templates)
    } catch (err) {
      this.log.error(`the child did not become ready: ${errorLine(err)}`)
    }
  }
}
