/**
 * Render-time warnings: a field the sidecar reads in the direction that grants less, or a
 * routing field it honours only as closely as HAProxy can, is neither an error (the rest of
 * the config is good and must still be served) nor silent. Filters and functions call
 * `warnOnce(message)` while a render runs; the message names the entry or intention and the
 * field. Rendering is synchronous, so the render in progress is one module-level slot, set by
 * Template.render around the Nunjucks call. The runner logs a warning when it first appears,
 * not at every render.
 */

let active: Set<string> | undefined

/** Records a warning for the render in progress (ignored outside a render, e.g. in a unit call). */
export function warnOnce(message: string): void {
  active?.add(message)
}

/** Runs `render` with `sink` collecting the warnings it raises. */
export function collectWarnings<T>(sink: Set<string>, render: () => T): T {
  const previous = active
  active = sink
  try {
    return render()
  } finally {
    active = previous
  }
}
