/**
 * Runs the built CLI (dist/cli.js) as a real process, the way users do, and
 * gives tests its output, its exit and a bounded `eventually` to poll for an
 * effect on disk or on the network.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'
import { binary, cliPath } from './binaries.ts'

export interface Running {
  proc: ChildProcess
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `meshplate <args>`. */
export function meshplate(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Running {
  // A sidecar runs the HAProxy under test (MESHPLATE_TEST_HAPROXY), unless the test names one.
  if (args[0] === 'sidecar' && !args.includes('--haproxy')) args = [...args, '--haproxy', binary('haproxy')]
  const proc = spawn(process.execPath, ['--max-semi-space-size=1', cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  )
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

/** Runs `meshplate <args>` to completion. */
export async function meshplateOnce(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = meshplate(args, env)
  const started = Date.now()
  const exit = await r.exited
  return { ...exit, output: r.output(), ms: Date.now() - started }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

/** Asserts an exit code, showing the process output only when it is wrong. */
export function exitsWith(t: Test, r: { code: number | null; output: string }, code: number, what = `exits ${code}`): void {
  if (r.code !== code) t.comment(r.output.slice(-3000))
  t.equal(r.code, code, what)
}
