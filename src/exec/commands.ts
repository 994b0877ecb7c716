/**
 * Runs the commands of one batch: de-duplicated, in order, each bounded by
 * its timeout, with no shell. A failing command is reported and the rest
 * still run, so one broken hook does not starve the others. Besides argv
 * commands, a batch may hold in-process tasks (a push into HAProxy's runtime
 * API: haproxy/target.ts), run in the same order and reported the same way.
 */
import { MeshplateError } from '../errors.ts'
import type { Logger } from '../log.ts'

/** A command run in-process; the same `key` twice in a batch runs once. */
export interface TaskSpec {
  key: string
  /** How a failure names it: "<what> failed: <why>". */
  what: string
  run(log: Logger): Promise<void>
}

export type CommandSpec = { argv: string[]; timeoutMs: number } | { task: TaskSpec }

/** Runs each distinct command once, in first-seen order; returns the failures. */
export async function runCommands(commands: CommandSpec[], log: Logger): Promise<MeshplateError[]> {
  const seen = new Set<string>()
  const failures: MeshplateError[] = []
  for (const cmd of commands) {
    // The same argv is one command whatever its timeout (two templates, one reload).
    const key = 'task' in cmd ? cmd.task.key : JSON.stringify(cmd.argv)
    if (seen.has(key)) continue
    seen.add(key)
    if ('task' in cmd) {
      const failure = await runTask(cmd.task, log)
      if (failure) failures.push(failure)
      continue
    }
    const [file, ...args] = cmd.argv
    log.info('running command', { command: cmd.argv.join(' ') })
    try {
      const { execa } = await import('execa') // loaded only when a command runs (startup time, memory)
      const result = await execa(file!, args, { timeout: cmd.timeoutMs, reject: false, all: true, stdin: 'ignore' })
      if (result.exitCode === 0 && !result.timedOut) {
        if (result.all) log.debug(result.all.trim())
        continue
      }
      const why = result.timedOut ? `timed out after ${cmd.timeoutMs} ms` : result.failed && result.exitCode === undefined ? result.shortMessage : `exit ${result.exitCode}`
      failures.push(new MeshplateError('COMMAND_FAILED', `command "${cmd.argv.join(' ')}" failed: ${why}${firstLine(result.all)}`))
    } catch (err) {
      failures.push(new MeshplateError('COMMAND_FAILED', `command "${cmd.argv.join(' ')}" failed: ${(err as Error).message}`, { cause: err }))
    }
  }
  for (const f of failures) log.error(f.message)
  return failures
}

async function runTask(task: TaskSpec, log: Logger): Promise<MeshplateError | undefined> {
  try {
    await task.run(log)
    return undefined
  } catch (err) {
    return new MeshplateError('COMMAND_FAILED', `${task.what} failed: ${(err as Error).message}`, { cause: err })
  }
}

function firstLine(text: string | undefined): string {
  const line = text?.trim().split('\n').find((l) => l.trim())
  return line ? `: ${line.trim().slice(0, 300)}` : ''
}
