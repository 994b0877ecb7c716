// Every process the benchmark starts goes through `start()` and is tracked
// here, so the agent and both renderers are stopped on success, on failure
// and on Ctrl-C alike. Also reads CPU time and memory from /proc.
import { spawn, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const live = new Set()
let clockTicks = 100
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch {
  // keep the Linux default
}

/**
 * Spawns a tracked process; `proc.tail()` gives its last output for error messages.
 * `stopSignal` is what stops it gracefully (consul-template only exits on SIGINT,
 * its default kill_signal: it forwards SIGTERM to a child it would supervise).
 */
export function start(cmd, args, { stopSignal = 'SIGTERM', ...options } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  proc.stopSignal = stopSignal
  let tail = ''
  const keep = (d) => {
    tail = (tail + d).slice(-4000)
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  proc.tail = () => tail
  proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  proc.once('error', (err) => keep(`spawn error: ${err.message}\n`))
  live.add(proc)
  proc.exited.then(() => live.delete(proc))
  return proc
}

/** Its stop signal, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stop(proc, graceMs = 3000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  proc.kill(proc.stopSignal)
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
}

/** Stops every tracked process still running. */
export async function stopAll() {
  await Promise.all([...live].map((p) => stop(p)))
}

/** Last-resort synchronous kill, for process 'exit'. */
export function killAllNow() {
  for (const p of live) {
    try {
      p.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** utime+stime of a live process in seconds (all threads), or undefined. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return undefined
  }
}

/** VmRSS and VmHWM (peak) of a live process in MB, or undefined. */
export function memoryMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
    const rss = kb('VmRSS') / 1024
    const hwm = kb('VmHWM') / 1024
    // A zombie (exited, not yet reaped) has no Vm* lines.
    return Number.isFinite(rss) && Number.isFinite(hwm) ? { rss, hwm } : undefined
  } catch {
    return undefined
  }
}
