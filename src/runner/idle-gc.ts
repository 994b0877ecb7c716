/**
 * One full garbage collection when the process has gone quiet after a batch.
 * V8 grows its old generation ahead of need and collects it under pressure,
 * not when idle, so a long-running sidecar that has parsed large answers keeps
 * their garbage resident for good: in bench/footprint, 20 changes of a
 * 1,000-instance upstream left meshplate 35 MB larger. A collection a couple
 * of seconds after the last batch costs a few milliseconds of CPU and hands
 * that memory back; at most one per `minIntervalMs`, so constant churn costs
 * little. `gc()` is enabled at run time, so no launcher needs a flag for it.
 *
 * The same goes for the peak while answers arrive: by default V8 lets the old
 * generation grow to a few times what survives before collecting it, so a
 * 1,000-instance upstream peaked at about 140 MB. `preferSmallHeap` sets
 * `--optimize-for-size` in the long-running commands (run, sidecar), under
 * which V8 sizes the heap for memory (a smaller growing factor) and collects
 * sooner: the same load peaks near 94 MB. The extra collections cost CPU; with
 * the same release's cheaper renders and dedupe, CPU per 1,000-instance change
 * stayed level (bench/RESULTS.md, "Release comparison"). `once` keeps V8's
 * defaults: it exits before its heap matters.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void

/** Called once by a command that stays up; flags set this way apply from the next collection. */
export function preferSmallHeap(): void {
  setFlagsFromString('--optimize-for-size')
}

export class IdleGc {
  #timer: NodeJS.Timeout | undefined
  #last = 0

  constructor(readonly quietMs = 2_000, readonly minIntervalMs = 5_000) {}

  /** A batch ended: collect once `quietMs` pass with no further batch (and not sooner than minIntervalMs after the last). */
  after(): void {
    clearTimeout(this.#timer)
    const wait = Math.max(this.quietMs, this.#last + this.minIntervalMs - Date.now())
    this.#timer = setTimeout(() => {
      this.#last = Date.now()
      collect()
    }, wait).unref()
  }

  cancel(): void {
    clearTimeout(this.#timer)
  }
}
