// One bounded wrk run and what it printed: latency percentiles, requests/s,
// total requests, errors. wrk is started as a tracked process with a hard
// kill after its duration plus a margin, so a stuck run cannot hang the
// benchmark.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { start, stop } from './procs.mjs'

let runs = 0

const US = { us: 1e-3, ms: 1, s: 1000 }
const toMs = (v, unit) => Number(v) * US[unit]

/** Parses wrk's --latency output; latencies in ms. */
export function parseWrk(text) {
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text)
    return m ? toMs(m[1], m[2]) : NaN
  }
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)
  return {
    p50: pct(50),
    p99: pct(99),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    requests: total ? Number(total[1]) : NaN,
    errors: (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
  }
}

/** Runs wrk for `seconds` against `url`; resolves to parseWrk's fields plus the raw text. */
export async function wrk(bin, work, { url, connections, seconds, close = false }) {
  const file = join(work, `wrk-${++runs}.txt`)
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s']
  if (close) args.push('-H', 'Connection: close')
  const proc = start(bin, [...args, url], { logFile: file, niced: true })
  const killer = setTimeout(() => stop(proc, 1000), (seconds + 10) * 1000)
  const { code, signal } = await proc.exited
  clearTimeout(killer)
  const text = readFileSync(file, 'utf8')
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} ${url} failed (${code ?? signal}): ${text.slice(-500)}`)
  return { ...parseWrk(text), text }
}
