/**
 * The runner's write step: where a rendered template goes (stdout with --dry,
 * a test's writer, or an atomic write), and what happens when writing fails.
 * A failed write (folder full or read-only) leaves the last good file, and is
 * tried again on its own, 1 s doubling to 30 s, since no new Consul data may
 * come to trigger another batch. What the program reading a file adds to its
 * write and its commands is a `FileTarget`, given by the caller
 * (haproxy/target.ts), so the runner knows no program's rules.
 */
import type { Config, TemplateConfig } from '../config/resolve.ts'
import type { TaskSpec } from '../exec/commands.ts'
import type { Logger } from '../log.ts'
import { atomicWrite } from '../render/atomic-write.ts'
import type { BatchResult } from './runner.ts'

/** What the program that reads the rendered files adds to their writes and to a batch's commands. */
export interface FileTarget {
  /** Whether writing `next` over `old` at `tc` needs its check; undefined: always. */
  checkNeeded(tc: TemplateConfig): ((old: string, next: string) => boolean) | undefined
  /** The in-process command that hands a changed `tc` to its program when no apply hook does; undefined: none. */
  pushTask(tc: TemplateConfig): TaskSpec | undefined
}

/** Writes one rendered template; true if the file changed. */
export async function writeRendered(output: string, tc: TemplateConfig, config: Config, log: Logger, target?: FileTarget): Promise<boolean> {
  if (config.dry) {
    process.stdout.write(`> ${tc.destination}\n${output}`)
    return false
  }
  const checkNeeded = target?.checkNeeded(tc)
  const { changed } = await atomicWrite(output, checkNeeded ? { ...tc, checkNeeded } : tc)
  if (changed) log.info('rendered', { destination: tc.destination })
  return changed
}

/** Schedules another batch after a batch whose writes failed, backing off; resets after one that did not. */
export class WriteRetry {
  #timer: NodeJS.Timeout | undefined
  #ms = 0

  constructor(
    readonly batch: () => void,
    readonly log: Logger,
  ) {}

  after(result: BatchResult): void {
    if (!result.errors.some((e) => e.code === 'WRITE_FAILED')) {
      this.#ms = 0
      return
    }
    this.#ms = Math.min(30_000, this.#ms ? this.#ms * 2 : 1_000)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(this.batch, this.#ms)
    this.log.warn(`the last good files stay; writing again in ${this.#ms} ms`)
  }

  cancel(): void {
    clearTimeout(this.#timer)
  }
}
