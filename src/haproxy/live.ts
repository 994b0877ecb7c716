/**
 * What the running HAProxy holds, and the one place that changes it. After
 * each batch the runner hands over the files that changed; this module
 * decides, per file and by the version the master reports (policy.ts),
 * whether the runtime API can carry the change (maps, leaf certificates,
 * server slots) or HAProxy must reload (new listeners, CA bundles, a file with
 * no runtime form). It pushes through the master CLI to the current worker's
 * PID, so nothing lands in an old worker that is still draining; a push that
 * fails falls back to a reload. A reload is done when the master reports a new
 * worker that answers: that is the "ready" signal, and until then nothing else
 * is pushed or reloaded (one queue). It remembers the content of each file as
 * the running worker loaded or received it, which is what server changes are
 * planned against.
 */
import { readFile } from 'node:fs/promises'
import type { Logger } from '../log.ts'
import { sleep } from '../watch/backoff.ts'
import { canPush } from './policy.ts'
import { checkAnswer, pushContent, showProc, workerSender, type MasterView, type RuntimeKind } from './runtime-api.ts'
import { planServers } from './server-plan.ts'

export interface FileChange {
  file: string
  /** How HAProxy can take it at run time; undefined: only by a reload. */
  kind: RuntimeKind | undefined
}

export type ApplyOutcome = 'pushed' | 'reloaded' | 'not running'

export interface LiveOptions {
  masterSocket: string
  /** Sends HAProxy's reload signal; false when it is not running (its restart reads the files). */
  reload: () => boolean
  log: Logger
  /** How long a start or reload may take to report a new, answering worker. */
  readyTimeoutMs?: number
}

type Push = { kind: Exclude<RuntimeKind, 'servers'>; file: string; content: string } | { commands: string[]; file: string; content: string }

const SERVER_OK = /^$|^IP changed|^no need to change|^port changed/i

export class LiveHaproxy {
  #held = new Map<string, string>()
  #worker: number | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(readonly options: LiveOptions) {}

  /** After HAProxy (re)starts: waits until its worker answers, then records what it loaded. */
  started(files: string[]): Promise<void> {
    return this.#serial(async () => {
      const view = await this.#waitForWorker(undefined)
      this.#worker = view.worker
      await this.#recordFromDisk(files)
      this.options.log.info('HAProxy ready', { worker: view.worker!, version: view.version })
    })
  }

  /** Brings the running HAProxy to the files on disk: pushes what it can take, else reloads once. */
  apply(changes: FileChange[]): Promise<ApplyOutcome> {
    return this.#serial(async () => {
      let view: MasterView
      try {
        view = await showProc(this.options.masterSocket)
      } catch (err) {
        return this.#reload(`master CLI unreachable (${(err as Error).message})`, undefined)
      }
      if (view.worker === undefined || view.worker !== this.#worker) return this.#reload(`worker ${view.worker ?? 'none'} is not the one meshplate started (${this.#worker ?? 'none'})`, view)
      const plan = await planPushes(changes, this.#held, view.version)
      if ('reload' in plan) return this.#reload(plan.reload, view)
      try {
        await this.#push(plan.pushes, view.worker)
      } catch (err) {
        return this.#reload(`push failed: ${(err as Error).message}`, view)
      }
      return 'pushed'
    })
  }

  async #push(pushes: Push[], worker: number): Promise<void> {
    const send = workerSender(this.options.masterSocket, worker)
    for (const p of pushes) {
      if ('commands' in p) for (const c of p.commands) checkAnswer(c, await send(c), SERVER_OK)
      else await pushContent(send, p.kind, p.file, p.content)
      this.#held.set(p.file, p.content)
      this.options.log.info('pushed to HAProxy', { file: p.file, ...('commands' in p ? { commands: p.commands.length } : { kind: p.kind }) })
    }
  }

  async #reload(why: string, before: MasterView | undefined): Promise<ApplyOutcome> {
    const started = Date.now()
    this.options.log.info('reloading HAProxy', { why })
    if (!this.options.reload()) {
      this.options.log.warn('HAProxy is not running; it reads the files when it starts')
      return 'not running'
    }
    const view = await this.#waitForWorker(before)
    this.#worker = view.worker
    await this.#recordFromDisk([...this.#held.keys()])
    this.options.log.info('HAProxy reloaded', { worker: view.worker!, ms: Date.now() - started })
    return 'reloaded'
  }

  /** Polls the master until a worker newer than `before`'s answers; throws if the reload failed or timed out. */
  async #waitForWorker(before: MasterView | undefined): Promise<MasterView> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 15_000)
    let last = 'no answer yet'
    while (Date.now() < deadline) {
      try {
        const view = await showProc(this.options.masterSocket)
        if (before && view.failedReloads > before.failedReloads) throw new ReloadRefused(`HAProxy refused the reload; its old worker ${before.worker} keeps serving`)
        const fresh = view.worker !== undefined && (!before || (view.reloads > before.reloads && view.worker !== before.worker))
        if (fresh && /Pid: \d+/.test(await workerSender(this.options.masterSocket, view.worker!)('show info'))) return view
        last = `worker ${view.worker ?? 'none'}, ${view.reloads} reloads`
      } catch (err) {
        if (err instanceof ReloadRefused) throw err
        last = (err as Error).message
      }
      await sleep(20)
    }
    throw new Error(`HAProxy reported no new worker within ${this.options.readyTimeoutMs ?? 15_000} ms (${last})`)
  }

  async #recordFromDisk(files: string[]): Promise<void> {
    for (const file of files) {
      const content = await readFile(file, 'utf8').catch(() => undefined)
      if (content !== undefined) this.#held.set(file, content)
    }
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work)
    this.#queue = next.catch(() => undefined)
    return next
  }
}

class ReloadRefused extends Error {}

/** What to push for each change, or the first reason a reload is needed. */
async function planPushes(changes: FileChange[], held: Map<string, string>, version: string): Promise<{ pushes: Push[] } | { reload: string }> {
  const pushes: Push[] = []
  for (const { file, kind } of changes) {
    const content = await readFile(file, 'utf8')
    if (held.get(file) === content) continue
    if (kind === undefined) return { reload: `${file} changed` }
    if (!canPush(kind, version)) return { reload: `${file} (${kind}) cannot be pushed into HAProxy ${version}` }
    if (kind !== 'servers') {
      pushes.push({ kind, file, content })
      continue
    }
    const plan = planServers(held.get(file) ?? '', content)
    if ('reload' in plan) return { reload: `${file}: ${plan.reload}` }
    pushes.push({ commands: plan.commands, file, content })
  }
  return { pushes }
}
