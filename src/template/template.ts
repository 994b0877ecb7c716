/**
 * One template file: compiled once per content, rendered against the brain.
 * A render returns the output plus what it used and what was missing; errors
 * become one-line TemplateErrors with the file and line (Nunjucks reports
 * runtime lines 0-based and compile lines 1-based; both are fixed up here).
 * A render error keeps the code of the MeshplateError a function or filter
 * threw (a bad Proxy.Config key is PROXY_CONFIG_INVALID), and is
 * TEMPLATE_RUNTIME otherwise.
 */
import { readFileSync } from 'node:fs'
import nunjucks from 'nunjucks'
import type { Dependency } from '../dependency/dependency.ts'
import { MeshplateError, TemplateError } from '../errors.ts'
import type { Brain } from './brain.ts'
import { refreshIncludes } from './environment.ts'
import type { RenderScope } from './functions.ts'
import { Tracker } from './tracker.ts'
import { collectWarnings } from './warnings.ts'

export interface RenderResult {
  /** Undefined when data was missing: the file must not be written. */
  output: string | undefined
  used: Map<string, Dependency>
  missing: Set<string>
  warnings: Set<string>
}

export class Template {
  #compiled: nunjucks.Template | undefined
  #source: string | undefined

  constructor(
    readonly file: string,
    readonly env: nunjucks.Environment,
    readonly scope: RenderScope,
  ) {}

  /** (Re)reads and compiles the file; throws TEMPLATE_SYNTAX with file:line. */
  load(): void {
    let source: string
    try {
      source = readFileSync(this.file, 'utf8')
    } catch (err) {
      throw new TemplateError('TEMPLATE_SYNTAX', this.file, undefined, `cannot read template: ${(err as Error).message}`, { cause: err })
    }
    if (source === this.#source && this.#compiled) return
    try {
      this.#compiled = new nunjucks.Template(source, this.env, this.file, true)
      this.#source = source
    } catch (err) {
      throw toTemplateError('TEMPLATE_SYNTAX', this.file, err, 0)
    }
  }

  /**
   * Renders against `brain`. Missing data is reported, not thrown. `checkIncludes: false` when
   * the caller has just run refreshIncludes on this environment (the runner, once per batch).
   */
  render(brain: Brain, checkIncludes = true): RenderResult {
    if (!this.#compiled) this.load()
    if (checkIncludes) refreshIncludes(this.env)
    const tracker = new Tracker(brain)
    this.scope.tracker = tracker
    let output: string | undefined
    try {
      output = collectWarnings(tracker.warnings, () => this.#compiled!.render({}))
    } catch (err) {
      // A template that touched missing data may fail on the empty values; that is "missing", not an error.
      if (tracker.missing.size === 0) throw toTemplateError('TEMPLATE_RUNTIME', this.file, err, 1)
    } finally {
      this.scope.tracker = undefined
    }
    return { output: tracker.missing.size > 0 ? undefined : output, used: tracker.used, missing: tracker.missing, warnings: tracker.warnings }
  }
}

function toTemplateError(code: 'TEMPLATE_SYNTAX' | 'TEMPLATE_RUNTIME', file: string, err: unknown, lineOffset: number): TemplateError {
  const message = err instanceof Error ? err.message : String(err)
  const line = lineOf(err, message, lineOffset)
  const detail = message.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('(')).pop() ?? message
  // Nunjucks wraps what a function or filter threw, prefixed with its name, and keeps it as `cause`.
  const thrown = (err as { cause?: unknown } | undefined)?.cause
  if (thrown instanceof MeshplateError) {
    const named = `${thrown.name}: `
    return new TemplateError(thrown.code, file, line, detail.startsWith(named) ? detail.slice(named.length) : detail, { cause: err })
  }
  return new TemplateError(code, file, line, detail.replace(/^Error: /, ''), { cause: err })
}

/** Nunjucks' position of the error; runtime lines are 0-based, and 0:0 means "not known". */
function lineOf(err: unknown, message: string, lineOffset: number): number | undefined {
  const { lineno, colno } = (err ?? {}) as { lineno?: unknown; colno?: unknown }
  if (typeof lineno === 'number' && (lineno > 0 || (typeof colno === 'number' && colno > 0))) return lineno + lineOffset
  const match = /\[Line (\d+), Column \d+\]/.exec(message)
  return match ? Number(match[1]) + lineOffset : undefined
}
