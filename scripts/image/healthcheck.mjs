#!/usr/bin/env node
// The container image's HEALTHCHECK (scripts/image/Dockerfile). A sidecar is healthy when the
// HAProxy that meshplate supervises serves: its master (found through its `-S <socket>`
// argument, so any --dir works) lists a current worker, and that worker answers `show info`
// through the master CLI. That only happens once meshplate has rendered every file from
// Consul and HAProxy has loaded them; it stops being true when HAProxy dies or hangs. It
// uses meshplate's own runtime API client, and lives at the same place relative to dist/ in
// the image (/opt/meshplate/scripts/image/) as in the repository. Exit 0 healthy, 1 not,
// with one line saying why.
import { readdirSync, readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { runtimeCommand, showProc } from '../../dist/haproxy/runtime-api.js'

/** The master CLI sockets of the HAProxy processes running here, from their `-S` argument. */
function masterSockets() {
  const sockets = new Set()
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let argv
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue // exited while we looked
    }
    const at = argv.indexOf('-S')
    if (basename(argv[0] ?? '').startsWith('haproxy') && at > 0 && argv[at + 1]) sockets.add(argv[at + 1].split(',')[0])
  }
  return [...sockets]
}

/** Asks one master for its current worker, then that worker for `show info`; resolves to a verdict line. */
async function probe(socket) {
  const view = await showProc(socket, 2_000)
  if (!view.worker) return { ok: false, line: `HAProxy master ${socket} has no current worker` }
  const info = await runtimeCommand(socket, `@!${view.worker} show info`, undefined, 2_000)
  if (!new RegExp(`^Pid: ${view.worker}$`, 'm').test(info)) return { ok: false, line: `HAProxy worker ${view.worker} did not answer "show info"` }
  return { ok: true, line: `HAProxy ${view.version} worker ${view.worker} answers (${socket})` }
}

async function main() {
  const sockets = masterSockets()
  if (sockets.length === 0) {
    console.log('unhealthy: no HAProxy running (meshplate has not rendered a complete config yet, or HAProxy is down)')
    return 1
  }
  const verdicts = await Promise.all(sockets.map((s) => probe(s).catch((err) => ({ ok: false, line: `${s}: ${err.message}` }))))
  const good = verdicts.find((v) => v.ok)
  console.log(good ? `healthy: ${good.line}` : `unhealthy: ${verdicts.map((v) => v.line).join('; ')}`)
  return good ? 0 : 1
}

process.exitCode = await main()
