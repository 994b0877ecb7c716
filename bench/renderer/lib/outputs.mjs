// Sees rendered files land on disk as soon as possible: inotify (fs.watch on
// the output folder) wakes the check at once, and a ~2 ms stat poll backs it
// up while someone is waiting. Both tools write atomically (temp + rename), so
// a file read after a change of inode/size/mtime is always complete.
import { readFileSync, statSync, watch } from 'node:fs'
import { basename } from 'node:path'
import { performance } from 'node:perf_hooks'

export class OutputWatcher {
  #waiters = new Set()
  #poll = undefined
  #seen = new Map()
  /** Atomic replacements of each file name seen through inotify. */
  renames = new Map()

  constructor(dir) {
    this.fsw = watch(dir, (event, name) => {
      if (event === 'rename' && name) this.renames.set(name, (this.renames.get(name) ?? 0) + 1)
      this.#check()
    })
  }

  /** Resolves to performance.now() when `pred(content)` holds for `file`, or undefined after `timeoutMs`. */
  waitFor(file, pred, timeoutMs) {
    return new Promise((resolve) => {
      const w = { file, pred, resolve, timer: undefined }
      w.timer = setTimeout(() => this.#done(w, undefined), timeoutMs)
      this.#waiters.add(w)
      this.#poll ??= setInterval(() => this.#check(), 2)
      this.#check()
    })
  }

  /** How many times `file` was atomically replaced (inotify rename events on its name). */
  renameCount(file) {
    return this.renames.get(basename(file)) ?? 0
  }

  close() {
    this.fsw.close()
    clearInterval(this.#poll)
    for (const w of this.#waiters) this.#done(w, undefined)
  }

  #check() {
    const now = performance.now()
    for (const w of this.#waiters) {
      const content = this.#read(w.file)
      if (content !== undefined && w.pred(content)) this.#done(w, now)
    }
  }

  /** The file's content, re-read only when its inode, size or mtime changed. */
  #read(file) {
    let st
    try {
      st = statSync(file, { bigint: true })
    } catch {
      return undefined
    }
    const key = `${st.ino}:${st.size}:${st.mtimeNs}`
    const cached = this.#seen.get(file)
    if (cached?.key === key) return cached.content
    try {
      const content = readFileSync(file, 'utf8')
      this.#seen.set(file, { key, content })
      return content
    } catch {
      return undefined
    }
  }

  #done(w, value) {
    if (!this.#waiters.delete(w)) return
    clearTimeout(w.timer)
    if (this.#waiters.size === 0) {
      clearInterval(this.#poll)
      this.#poll = undefined
    }
    w.resolve(value)
  }
}
