/**
 * What Nomad tests do with jobs and allocations: run a job file as shipped,
 * wait for its allocations to run, reach into an allocation's network
 * namespace (curl, wrk), and read task exit states after a stop.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { NomadLab } from './nomad.ts'

export interface Alloc {
  ID: string
  TaskGroup: string
  ClientStatus: string
  TaskStates?: Record<string, { State: string; Failed: boolean; Events: Array<{ Type: string; ExitCode?: number; DisplayMessage?: string; Details?: Record<string, string> }> }>
}

/** `nomad job run -detach FILE`; throws with Nomad's output on failure. */
export function runJob(lab: NomadLab, file: string): void {
  const r = lab.cli(['job', 'run', '-detach', file])
  if (r.code !== 0) throw new Error(`nomad job run ${file}: ${r.output}`)
}

/** The job's allocations (newest first), full. */
export async function allocations(lab: NomadLab, job: string): Promise<Alloc[]> {
  const list = (await lab.api('GET', `/v1/job/${job}/allocations`)).body as Alloc[]
  return Promise.all(list.map(async (a) => (await lab.api('GET', `/v1/allocation/${a.ID}`)).body as Alloc))
}

/** Waits until every group of `job` has one allocation with all its tasks running; returns them by group. */
export async function runningAllocs(lab: NomadLab, job: string, groups: string[], timeoutMs = 120_000): Promise<Record<string, Alloc>> {
  const deadline = Date.now() + timeoutMs
  let last: Alloc[] = []
  while (Date.now() < deadline) {
    last = await allocations(lab, job)
    const byGroup: Record<string, Alloc> = {}
    for (const a of last) {
      const states = Object.values(a.TaskStates ?? {})
      if (a.ClientStatus === 'running' && states.length > 0 && states.every((s) => s.State === 'running')) byGroup[a.TaskGroup] = a
    }
    if (groups.every((g) => byGroup[g])) return byGroup
    const failed = last.find((a) => a.ClientStatus === 'failed')
    if (failed) throw new Error(`allocation ${failed.ID} (${failed.TaskGroup}) failed: ${describe(failed)}\n${taskLogs(lab, failed)}`)
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`allocations of ${job} not running after ${timeoutMs} ms: ${last.map((a) => `${a.TaskGroup}=${a.ClientStatus} ${describe(a)}`).join('; ')}`)
}

/** The task events of an allocation, one line, for failure messages. */
export function describe(a: Alloc): string {
  return Object.entries(a.TaskStates ?? {})
    .map(([task, s]) => `${task}:${s.State}[${s.Events.slice(-3).map((e) => `${e.Type}${e.DisplayMessage ? ` ${e.DisplayMessage}` : ''}`).join(', ')}]`)
    .join(' ')
}

/** The last lines of stderr of every task of `a` that failed, for failure messages. */
function taskLogs(lab: NomadLab, a: Alloc): string {
  return Object.entries(a.TaskStates ?? {})
    .filter(([, s]) => s.Failed)
    .map(([task]) => `${task} stderr:\n${lab.cli(['alloc', 'logs', '-stderr', a.ID, task]).output.split('\n').slice(-15).join('\n')}`)
    .join('\n')
}

/** Nomad names an allocation's network namespace after the allocation. */
export function netnsOf(alloc: Alloc): string {
  if (!existsSync(`/var/run/netns/${alloc.ID}`)) throw new Error(`no network namespace /var/run/netns/${alloc.ID}`)
  return alloc.ID
}

/** Runs a command inside a network namespace. */
export function inNetns(netns: string, cmd: string, args: string[], timeoutMs = 30_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', netns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs })
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** One HTTP request with curl from inside `netns`: status, headers and time, or the error. */
export function curlIn(netns: string | undefined, url: string): { status: number; headers: string; ms: number; error?: string } {
  const args = ['-sS', '-m', '3', '-D', '-', '-o', '/dev/null', '-w', '%{time_total}', url]
  const r = netns ? inNetns(netns, 'curl', args, 10_000) : (() => {
    const p = spawnSync('curl', args, { encoding: 'utf8', timeout: 10_000 })
    return { code: p.status ?? 1, stdout: p.stdout ?? '', stderr: p.stderr ?? '' }
  })()
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1] ?? 0)
  const ms = Number(r.stdout.trim().split('\n').pop()) * 1000
  return { status, headers: r.stdout, ms, error: r.code === 0 ? undefined : r.stderr.trim() }
}

export interface WrkResult {
  requests: number
  failed: number
  timeouts: number
  non2xx: number
  p50ms: number
  p99ms: number
  summary: string
}

/** A bounded wrk run (`conns` connections, `seconds` long) from inside `netns`, or from the host. */
export function wrkIn(netns: string | undefined, url: string, conns: number, seconds: number): WrkResult {
  const args = ['-t', '2', '-c', String(conns), '-d', `${seconds}s`, '--latency', url]
  const r = netns ? inNetns(netns, 'wrk', args, (seconds + 30) * 1000) : (() => {
    const p = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 })
    return { code: p.status ?? 1, stdout: p.stdout ?? '', stderr: p.stderr ?? '' }
  })()
  const out = r.stdout
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out)
    if (!m) return NaN
    return Math.round(Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]! * 1000) / 1000
  }
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const failed = errors ? Number(errors[1]) + Number(errors[2]) + Number(errors[3]) : 0
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    failed,
    timeouts: errors ? Number(errors[4]) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    p50ms: ms('50'),
    p99ms: ms('99'),
    summary: `${/(\d+) requests in/.exec(out)?.[0] ?? `no result (${r.stderr.trim()})`}, ${errors?.[0] ?? 'no socket errors'}`,
  }
}
