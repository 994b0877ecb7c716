/**
 * What one render touched: the dependencies it used and the ones whose data
 * the brain did not have yet. The runner syncs the watcher to `used`, and a
 * template with anything `missing` is not written.
 */
import type { Dependency } from '../dependency/dependency.ts'
import type { Brain } from './brain.ts'

export class Tracker {
  readonly used = new Map<string, Dependency>()
  readonly missing = new Set<string>()
  /** What the render read in the safe direction or honoured only approximately (warnings.ts). */
  readonly warnings = new Set<string>()

  constructor(readonly brain: Brain) {}

  /** Records `dep` as used and returns its data, or undefined (and marks it missing). */
  read<T>(dep: Dependency<T>): T | undefined {
    this.used.set(dep.id, dep)
    if (this.brain.has(dep.id)) return this.brain.get(dep.id) as T
    this.missing.add(dep.id)
    return undefined
  }
}
