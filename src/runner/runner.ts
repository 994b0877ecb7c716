/**
 * The loop that ties the stages together: views feed the brain, a quiet
 * period (or the first data) triggers a batch, a batch renders every
 * template, writes the complete ones atomically and then runs the commands of
 * the changed ones, once each, then hands the changed files to the apply hook
 * (exec mode: the child and HAProxy, exec/supervisor.ts) and awaits it, so the
 * next batch writes nothing before this one has been taken. Batches never
 * overlap. Commands wait for the first pass in which every template rendered
 * (consul-template #1229).
 */
import { EventEmitter } from 'node:events'
import type { Config, TemplateConfig } from '../config/resolve.ts'
import type { ConsulClient } from '../consul/client.ts'
import type { Dependency } from '../dependency/dependency.ts'
import { MeshplateError } from '../errors.ts'
import { runCommands, type CommandSpec } from '../exec/commands.ts'
import type { Logger } from '../log.ts'
import type { Brain } from '../template/brain.ts'
import { refreshIncludes } from '../template/environment.ts'
import type { Template } from '../template/template.ts'
import { Watcher } from '../watch/watcher.ts'
import type { ViewOptions } from '../watch/view.ts'
import { IdleGc } from './idle-gc.ts'
import { Quiescence } from './quiescence.ts'
import { WriteRetry, writeRendered, type FileTarget } from './write.ts'

export interface BatchResult {
  /** Every template rendered with all its data. */
  complete: boolean
  changed: TemplateConfig[]
  missing: Set<string>
  errors: MeshplateError[]
  /** A template marked reloadExec changed in this batch. */
  reloadExec: boolean
}

export interface RunnerDeps {
  config: Config
  templates: Template[]
  brain: Brain
  log: Logger
  /** Absent with --data: the brain is all there is. */
  client?: ConsulClient
  viewOptions?: ViewOptions
  write?: (content: string, t: TemplateConfig) => Promise<boolean>
  /** The program reading the files (HAProxy: haproxy/target.ts): when a write skips its check, what a change pushes. */
  files?: FileTarget
}

/** Brings whatever runs (the exec child) up to date with the files changed since the last call. */
export type ApplyHook = (changed: TemplateConfig[]) => Promise<MeshplateError[]>

export class Runner extends EventEmitter<{ batch: [BatchResult]; viewError: [string, unknown] }> {
  readonly watcher: Watcher | undefined
  readonly lastErrors = new Map<string, unknown>()
  #used = new Map<string, Dependency>()
  #quiet: Quiescence
  #everComplete = false
  #pending: CommandSpec[] = []
  #apply: ApplyHook | undefined
  #writeRetry: WriteRetry
  #unapplied = new Set<TemplateConfig>()
  #appliedOnce = false
  #running: Promise<BatchResult> | undefined
  #again = false
  #stopped = false
  #idleGc = new IdleGc()
  #warned = new Set<string>()

  constructor(readonly deps: RunnerDeps) {
    super()
    const { config, client, log } = deps
    this.#quiet = new Quiescence(config.wait.minMs, config.wait.maxMs, () => void this.batch())
    this.#writeRetry = new WriteRetry(() => void this.batch(), log)
    const events = {
      onData: (id: string, data: unknown) => {
        deps.brain.set(id, data)
        this.lastErrors.delete(id)
        // Until everything has rendered once, render as soon as data arrives.
        if (this.#everComplete) this.#quiet.trigger()
        else setImmediate(() => void this.batch())
      },
      onError: (id: string, err: unknown) => {
        this.lastErrors.set(id, err)
        this.emit('viewError', id, err)
      },
    }
    this.watcher = client ? new Watcher(client, events, log, deps.viewOptions) : undefined
  }

  /** Renders every template; writes, then runs commands. Coalesces concurrent calls. */
  batch(): Promise<BatchResult> {
    if (this.#stopped) return Promise.resolve({ complete: false, changed: [], missing: new Set(), errors: [], reloadExec: false })
    if (this.#running) {
      this.#again = true
      return this.#running
    }
    this.#running = this.#batch().finally(() => {
      this.#running = undefined
      if (this.#again) {
        this.#again = false
        void this.batch()
      }
    })
    return this.#running
  }

  async #batch(): Promise<BatchResult> {
    const { templates, config, log } = this.deps
    const result: BatchResult = { complete: true, changed: [], missing: new Set(), errors: [], reloadExec: false }
    const used = new Map<string, Dependency>()
    // Render everything first, with no await in between, so one batch sees one state of the brain.
    const outputs: Array<[TemplateConfig, string]> = []
    const warnings = new Set<string>()
    // Included files are checked once per batch, not once per template (0.2 ms each in the sidecar).
    for (const env of new Set(templates.map((t) => t.env))) refreshIncludes(env)
    for (const [i, template] of templates.entries()) {
      try {
        const r = template.render(this.deps.brain, false)
        for (const [id, dep] of r.used) used.set(id, dep)
        r.warnings.forEach((w) => warnings.add(w))
        if (r.output !== undefined) outputs.push([config.templates[i]!, r.output])
        else {
          result.complete = false
          r.missing.forEach((m) => result.missing.add(m))
        }
      } catch (err) {
        this.#fail(result, err)
      }
    }
    this.#logNewWarnings(warnings)
    const write = this.deps.write ?? ((o: string, t: TemplateConfig) => writeRendered(o, t, config, log, this.deps.files))
    for (const [tc, output] of outputs) {
      try {
        if (await write(output, tc)) result.changed.push(tc)
      } catch (err) {
        this.#fail(result, err)
      }
    }
    this.#used = used
    if (!this.#stopped) this.watcher?.sync(used.values())
    for (const tc of result.changed) {
      const task = this.#apply ? undefined : this.deps.files?.pushTask(tc)
      if (this.#apply) this.#unapplied.add(tc)
      else if (task) this.#pending.push({ task })
      if (tc.command) this.#pending.push({ argv: tc.command, timeoutMs: tc.commandTimeoutMs })
      if (tc.reloadExec) result.reloadExec = true
    }
    if (result.complete) this.#everComplete = true
    if (this.#everComplete && this.#pending.length > 0) {
      const commands = this.#pending
      this.#pending = []
      result.errors.push(...(await runCommands(commands, log.child('command'))))
    }
    // Awaited inside the batch: the next batch writes nothing until the child has taken this one.
    if (this.#apply && this.#everComplete && !this.#stopped && (this.#unapplied.size > 0 || !this.#appliedOnce)) {
      const changed = [...this.#unapplied]
      this.#unapplied.clear()
      this.#appliedOnce = true
      result.errors.push(...(await this.#apply(changed)))
    }
    if (!this.#stopped) this.#writeRetry.after(result)
    if (!this.#stopped) this.#idleGc.after()
    this.emit('batch', result)
    return result
  }

  /** Logs each warning when it first appears; one that goes away and comes back is logged again. */
  #logNewWarnings(warnings: Set<string>): void {
    for (const w of warnings) if (!this.#warned.has(w)) this.deps.log.warn(w)
    this.#warned = warnings
  }

  #fail(result: BatchResult, err: unknown): void {
    result.complete = false
    const e = err instanceof MeshplateError ? err : new MeshplateError('WRITE_FAILED', String(err), { cause: err })
    result.errors.push(e)
    this.deps.log.error(e.message)
  }

  /**
   * Hands the changed files of each batch to `hook` instead of pushing them: from the first
   * complete batch on (then even if nothing changed), once per batch, after the commands.
   */
  applyWith(hook: ApplyHook): void {
    this.#apply = hook
  }

  /** Ids of the dependencies the last batch used. */
  usedIds(): string[] {
    return [...this.#used.keys()]
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#quiet.cancel()
    this.#writeRetry.cancel()
    this.#idleGc.cancel()
    await this.#running
    await this.watcher?.stop()
  }
}
