/**
 * Exec mode: one supervised child (e.g. HAProxy in master-worker mode),
 * started after the first complete render, sent the reload signal after each
 * batch that changed its files, and stopped with the kill signal and a grace
 * period before SIGKILL. What happens when it dies on its own is the
 * supervisor's call (supervisor.ts).
 */
import type { ResultPromise } from 'execa'
import type { ExecConfig } from '../config/resolve.ts'
import type { Logger } from '../log.ts'

export interface ChildExit {
  code: number
  signal: string | undefined
}

export class Child {
  #proc: ResultPromise | undefined
  #exited: Promise<ChildExit> | undefined
  #stopping = false
  #starting = false

  constructor(
    readonly config: ExecConfig,
    readonly log: Logger,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** True from the call to start() until the child exits. */
  get running(): boolean {
    return this.#starting || this.#proc !== undefined
  }

  /** Spawns the child; returns a promise settled when it exits. */
  async start(): Promise<ChildExit> {
    this.#starting = true
    const { execa } = await import('execa')
    this.#starting = false
    if (this.#stopping) return { code: 0, signal: undefined }
    const [file, ...args] = this.config.command
    this.log.info('starting child', { command: this.config.command.join(' ') })
    const proc = execa(file!, args, { stdio: 'inherit', reject: false, env: this.env, extendEnv: false, cleanup: true })
    this.#proc = proc
    this.#exited = proc.then((r) => {
      this.#proc = undefined
      const exit = { code: r.exitCode ?? (r.signal ? 128 : 1), signal: r.signal }
      if (!this.#stopping) this.log.error('child exited', { code: exit.code, signal: exit.signal ?? '-' })
      return exit
    })
    return await this.#exited
  }

  /** Sends the reload signal; false when the child is not running. */
  reload(): boolean {
    if (!this.#proc) return false
    this.log.info('reloading child', { signal: this.config.reloadSignal })
    return this.#proc.kill(this.config.reloadSignal)
  }

  /** Forwards a signal as-is. */
  signal(sig: NodeJS.Signals): void {
    this.#proc?.kill(sig)
  }

  /** Sends the kill signal, then SIGKILL after the kill timeout; resolves on exit. */
  async stop(): Promise<ChildExit | undefined> {
    this.#stopping = true
    if (!this.#proc || !this.#exited) return undefined
    const proc = this.#proc
    proc.kill(this.config.killSignal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), this.config.killTimeoutMs)
    try {
      return await this.#exited
    } finally {
      clearTimeout(timer)
    }
  }
}
