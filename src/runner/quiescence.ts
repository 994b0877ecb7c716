/**
 * `--wait min:max` across all templates: one timer for the whole runner, so a
 * burst of Consul changes becomes one batch and one round of commands
 * (consul-template's per-template timers broke that, #1799 and #2030). Each
 * trigger pushes the flush back by `min`, but never past `max` after the first.
 */

export class Quiescence {
  #timer: NodeJS.Timeout | undefined
  #immediate: NodeJS.Immediate | undefined
  #firstAt = 0

  constructor(
    readonly minMs: number,
    readonly maxMs: number,
    readonly flush: () => void,
  ) {}

  /** Notes a change; fires `flush` once things have been quiet for `min` (or `max` passed). */
  trigger(): void {
    if (this.minMs === 0) {
      // No quiescence: flush on the next turn of the event loop (setTimeout(0) costs >= 1 ms).
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined
        this.flush()
      })
      return
    }
    const now = Date.now()
    if (!this.#timer) this.#firstAt = now
    clearTimeout(this.#timer)
    const deadline = this.#firstAt + Math.max(this.maxMs, this.minMs)
    const delay = Math.max(0, Math.min(this.minMs, deadline - now))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.flush()
    }, delay)
  }

  cancel(): void {
    if (this.#immediate) clearImmediate(this.#immediate)
    this.#immediate = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
