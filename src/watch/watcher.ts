/**
 * A map of views, one per distinct dependency id, however many templates use
 * it (one blocking query per dependency, consul-template #830). The runner
 * tells it which dependencies are in use after each render; the watcher adds
 * and stops views to match.
 */
import type { ConsulClient } from '../consul/client.ts'
import type { Dependency } from '../dependency/dependency.ts'
import type { Logger } from '../log.ts'
import { View, defaultViewOptions, type ViewEvents, type ViewOptions } from './view.ts'

export class Watcher {
  readonly #views = new Map<string, View>()

  constructor(
    readonly client: ConsulClient,
    readonly events: ViewEvents,
    readonly log: Logger,
    readonly options: ViewOptions = defaultViewOptions,
  ) {}

  /** Starts views for new dependencies and stops views no longer in `wanted`. */
  sync(wanted: Iterable<Dependency>): void {
    const keep = new Set<string>()
    for (const dep of wanted) {
      keep.add(dep.id)
      if (this.#views.has(dep.id)) continue
      const view = new View(dep, this.client, this.events, this.log.child(`view ${dep.id}`), this.options)
      this.#views.set(dep.id, view)
      view.start()
    }
    for (const [id, view] of this.#views) {
      if (keep.has(id)) continue
      this.#views.delete(id)
      void view.stop()
    }
  }

  watching(): string[] {
    return [...this.#views.keys()]
  }

  async stop(): Promise<void> {
    const views = [...this.#views.values()]
    this.#views.clear()
    await Promise.all(views.map((v) => v.stop()))
  }
}
