/**
 * The renderer's memory: the latest data of every dependency, by id
 * (consul-template's `template/brain.go`). Views write it, template functions
 * read it, and nothing in between fetches. It also loads and saves the
 * snapshots behind `--data` and `--record`, so CI can render offline.
 */
import { readFileSync } from 'node:fs'
import { MeshplateError } from '../errors.ts'

export interface Snapshot {
  meshplateSnapshot: 1
  proxyId?: string
  data: Record<string, unknown>
}

export class Brain {
  readonly #data = new Map<string, unknown>()

  set(id: string, data: unknown): void {
    this.#data.set(id, data)
  }

  has(id: string): boolean {
    return this.#data.has(id)
  }

  get(id: string): unknown {
    return this.#data.get(id)
  }

  forget(id: string): void {
    this.#data.delete(id)
  }

  /** The data of the given ids (or all) as a snapshot object. */
  snapshot(ids?: Iterable<string>, proxyId?: string): Snapshot {
    const data: Record<string, unknown> = {}
    for (const id of ids ?? this.#data.keys()) if (this.#data.has(id)) data[id] = this.#data.get(id)
    return { meshplateSnapshot: 1, ...(proxyId ? { proxyId } : {}), data }
  }

  /** Builds a brain from a snapshot file written by `--record`. */
  static fromSnapshotFile(file: string): { brain: Brain; proxyId?: string } {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new MeshplateError('SNAPSHOT_INVALID', `${file}: ${(err as Error).message}`, { cause: err })
    }
    const snap = parsed as Partial<Snapshot>
    if (!snap || snap.meshplateSnapshot !== 1 || typeof snap.data !== 'object' || snap.data === null) {
      throw new MeshplateError('SNAPSHOT_INVALID', `${file}: not a meshplate snapshot (expected {"meshplateSnapshot": 1, "data": {...}})`)
    }
    const brain = new Brain()
    for (const [id, value] of Object.entries(snap.data)) brain.set(id, value)
    return { brain, proxyId: typeof snap.proxyId === 'string' ? snap.proxyId : undefined }
  }
}
