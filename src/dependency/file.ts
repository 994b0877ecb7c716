/**
 * `file(path)`: a local file's text (consul-template's `file.go`), re-read
 * whenever it changes. consul-template stats the file every 2 s; here a
 * chokidar watch (started with the view, closed when the view stops) wakes
 * the read at once, so an edit re-renders within its 50 ms write-settling
 * time. It keeps the view's shape: each change bumps a version that serves as
 * the blocking index, and a read at the current version waits for the next
 * change (or the view's wait). A missing or unreadable file is an error
 * naming it; the view retries a missing one within 1 s. A relative path is
 * relative to meshplate's working directory, as in consul-template.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'
import { FileReadError } from '../errors.ts'
import type { Dependency, FetchOptions, FetchResult } from './dependency.ts'

/** Reads a file, and then waits for it to change, as a blocking query waits for an index. */
export class FileDependency implements Dependency<string> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'local' as const
  readonly #abs: string
  #version = 1
  #watcher: FSWatcher | undefined
  #ready: Promise<void> | undefined
  readonly #waiters = new Set<() => void>()

  constructor(readonly path: string) {
    this.#abs = resolve(path)
    this.id = `file(${path})`
  }

  async fetch(_client: unknown, o: FetchOptions): Promise<FetchResult<string>> {
    await this.#watch(o.signal)
    if (o.index === this.#version) await this.#changed(o.waitMs, o.signal)
    const version = this.#version
    try {
      return { data: await readFile(this.#abs, 'utf8'), index: version }
    } catch (err) {
      throw new FileReadError(this.path, err)
    }
  }

  /** Starts the watch once (before the first read, so no change falls between); the view's stop closes it. */
  #watch(signal?: AbortSignal): Promise<void> {
    if (this.#ready) return this.#ready
    const watcher = watch(this.#abs, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } })
    this.#watcher = watcher
    watcher.on('all', () => {
      this.#version++
      for (const wake of this.#waiters) wake()
    })
    signal?.addEventListener('abort', () => void this.close(), { once: true })
    this.#ready = new Promise((r) => watcher.once('ready', () => r()))
    return this.#ready
  }

  /** Resolves on the next change, after `waitMs`, or when `signal` aborts. */
  #changed(waitMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolveWait) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolveWait()
      }
      const timer = setTimeout(done, waitMs)
      this.#waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** Stops watching the file. */
  async close(): Promise<void> {
    const w = this.#watcher
    this.#watcher = undefined
    this.#ready = undefined
    await w?.close()
  }
}
