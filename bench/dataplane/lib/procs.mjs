// Every process the dataplane benchmark starts goes through `start()` and gets
// its own process group, so stopping it also stops what it spawned (meshplate's
// HAProxy master and worker), on success, on failure and on Ctrl-C alike, by
// that group's id and nothing broader. Also reads CPU time, memory and the
// process tree from /proc, which is how HAProxy workers are found and measured.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs'

const live = new Set()
let niceness = 0

/** Sets the nice value `start(..., { niced: true })` runs processes at (negative needs root). */
export function setNice(n) {
  niceness = n
}
let clockTicks = 100
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch {
  // keep the Linux default
}

/** Spawns a tracked process in its own group, stdout and stderr to `logFile`; `niced` runs it under `nice`. */
export function start(cmd, args, { logFile, env, cwd, niced = false } = {}) {
  const fd = openSync(logFile, 'a')
  if (niced && niceness !== 0) [cmd, args] = ['nice', ['-n', String(niceness), cmd, ...args]]
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env: env ?? process.env, cwd })
  closeSync(fd)
  proc.logFile = logFile
  proc.log = () => {
    try {
      return readFileSync(logFile, 'utf8')
    } catch {
      return ''
    }
  }
  proc.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  proc.once('error', () => {})
  live.add(proc)
  proc.exited.then(() => live.delete(proc))
  return proc
}

function killGroup(proc, signal) {
  try {
    process.kill(-proc.pid, signal)
  } catch {
    // the group is gone
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the leader is gone. */
export async function stop(proc, graceMs = 5000) {
  if (!proc) return
  if (proc.exitCode === null && proc.signalCode === null) {
    killGroup(proc, 'SIGTERM')
    const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), graceMs)
    await proc.exited
    clearTimeout(timer)
  }
  killGroup(proc, 'SIGKILL') // anything the leader left behind in its group
}

/** Stops every tracked process still running, except `keep` (stopped last by the caller). */
export async function stopAll(keep) {
  await Promise.all([...live].filter((p) => p !== keep).map((p) => stop(p)))
}

/** Last-resort synchronous kill of every tracked group, for process 'exit'. */
export function killAllNow() {
  for (const p of live) killGroup(p, 'SIGKILL')
}

function stat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return s.slice(s.lastIndexOf(')') + 2).split(' ')
}

/** utime+stime of a live process in seconds (all threads), or 0 once it is gone. */
export function cpuSeconds(pid) {
  try {
    const f = stat(pid)
    return (Number(f[11]) + Number(f[12])) / clockTicks
  } catch {
    return 0
  }
}

/** VmRSS of a live process in MB, or NaN. */
export function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) / 1024
  } catch {
    return NaN
  }
}

/** Pids whose parent is `pid`. */
export function childrenOf(pid) {
  const out = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (Number(stat(name)[1]) === pid) out.push(Number(name))
    } catch {
      // exited while we looked
    }
  }
  return out
}

/** The short command name of a pid ('' if gone). */
export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

/** HAProxy master-worker under `pid` (the master itself, or meshplate's node): {master, workers}. */
export function haproxyTree(pid) {
  const master = commOf(pid) === 'haproxy' ? pid : childrenOf(pid).find((c) => commOf(c) === 'haproxy')
  if (!master) return undefined
  const workers = childrenOf(master).filter((c) => commOf(c) === 'haproxy')
  return workers.length ? { master, workers } : undefined
}

/** Busy and total CPU time of the whole machine so far, in seconds (from /proc/stat). */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = f[3] + f[4] // idle + iowait
  return { busy: (total - idle) / clockTicks, total: total / clockTicks }
}

/** CPU time of this process plus its reaped children (wrk, once it has exited), in seconds. */
export function ownCpu() {
  const f = stat('self')
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicks
}
