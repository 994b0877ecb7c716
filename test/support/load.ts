/**
 * Bounded load for change-under-traffic tests: a few loops sending requests
 * back to back, over keep-alive HTTP connections (how a real client pool
 * meets a reload) or over a new TCP connection each. Every failure is counted
 * by kind (status, reset, timeout), and the loops stop at `stop()`, at the
 * deadline, or after `maxRequests`, whichever comes first.
 */
import { Agent, request } from 'node:http'
import { tcpRoundTrip } from './traffic.ts'

export interface LoadStats {
  ok: number
  failed: number
  /** Failures by kind, e.g. "status 503", "ECONNRESET", "timeout". */
  kinds: Record<string, number>
  /** The first word of each answer body (which instance answered). */
  answeredBy: Set<string>
}

export interface LoadOptions {
  port: number
  mode: 'http-keepalive' | 'tcp'
  concurrency?: number
  deadlineMs?: number
  maxRequests?: number
  /** The HTTP path requested (default /load). */
  path?: string
}

export interface Load {
  stats: LoadStats
  stop(): Promise<LoadStats>
}

/** Starts the loops; `stop()` resolves once every loop has finished its request. */
export function startLoad(o: LoadOptions): Load {
  const stats: LoadStats = { ok: 0, failed: 0, kinds: {}, answeredBy: new Set() }
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 4 })
  const deadline = Date.now() + (o.deadlineMs ?? 180_000)
  const max = o.maxRequests ?? 2_000_000
  let running = true
  const record = (result: { ok: true; body: string } | { ok: false; kind: string }) => {
    if (result.ok) {
      stats.ok++
      stats.answeredBy.add(result.body.split(/\s/)[0]!)
    } else {
      stats.failed++
      stats.kinds[result.kind] = (stats.kinds[result.kind] ?? 0) + 1
    }
  }
  const loop = async () => {
    while (running && Date.now() < deadline && stats.ok + stats.failed < max) {
      if (o.mode === 'tcp') {
        const r = await tcpRoundTrip(o.port, 'ping\n')
        record(r.ok ? { ok: true, body: r.body } : { ok: false, kind: r.error })
      } else record(await keepAliveGet(agent, o.port, o.path ?? '/load'))
    }
  }
  const loops = Array.from({ length: o.concurrency ?? 4 }, loop)
  return {
    stats,
    async stop() {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return stats
    },
  }
}

function keepAliveGet(agent: Agent, port: number, path: string): Promise<{ ok: true; body: string } | { ok: false; kind: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 5_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, body } : { ok: false, kind: `status ${res.statusCode}` }))
      res.on('error', (e) => resolve({ ok: false, kind: (e as NodeJS.ErrnoException).code ?? e.message }))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
    req.on('error', (e) => resolve({ ok: false, kind: (e as NodeJS.ErrnoException).code ?? e.message }))
    req.end()
  })
}
