// The hand-written HAProxy instances of the benchmark: the app (a single-thread
// HAProxy answering 1 KB from memory, cheaper than any Node server) and the
// "ideal" sidecar pair, the two hops written by hand with nothing but mTLS
// (`verify required`, the same Consul leaf and roots files the rendered sidecars
// use), `nbthread 1`, no Lua and no logging. Also reads `show info` counters
// from a stats socket.
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { start } from './procs.mjs'

export const BODY_BYTES = 1024

/** Writes the app's config and body; returns the config path. */
export function appConfig(dir, port) {
  const body = join(dir, 'body.txt')
  writeFileSync(body, `${'x'.repeat(BODY_BYTES - 1)}\n`)
  const cfg = join(dir, 'app.cfg')
  writeFileSync(cfg, [
    'global',
    '    nbthread 1',
    'defaults',
    '    mode http',
    '    timeout client 1h',
    '    timeout http-request 30s',
    '    timeout http-keep-alive 60s',
    'frontend app',
    `    bind 127.0.0.1:${port}`,
    `    http-request return status 200 content-type text/plain file ${body}`,
    '',
  ].join('\n'))
  return cfg
}

/**
 * Writes the ideal pair's two configs. `api` = {port, certDir} is the inbound hop
 * in front of the app; `web` = {port, certDir} is the upstream listener.
 */
export function idealConfigs(dir, { mode, appPort, api, web }) {
  const common = (sock) => [
    'global',
    '    nbthread 1',
    `    stats socket ${sock} mode 600 level admin`,
    'defaults',
    `    mode ${mode}`,
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    ...(mode === 'http' ? ['    timeout http-request 30s', '    timeout http-keep-alive 60s', '    http-reuse always'] : []),
  ]
  const apiCfg = join(dir, `ideal-${mode}-api.cfg`)
  const webCfg = join(dir, `ideal-${mode}-web.cfg`)
  writeFileSync(apiCfg, [
    ...common(join(dir, `i${mode[0]}a.sock`)),
    'frontend public',
    `    bind 127.0.0.1:${api.port} ssl crt ${api.certDir}/leaf.pem ca-file ${api.certDir}/roots.pem verify required`,
    '    default_backend app',
    'backend app',
    `    server app 127.0.0.1:${appPort}`,
    '',
  ].join('\n'))
  writeFileSync(webCfg, [
    ...common(join(dir, `i${mode[0]}w.sock`)),
    'frontend upstream',
    `    bind 127.0.0.1:${web.port}`,
    '    default_backend api',
    'backend api',
    `    server api 127.0.0.1:${api.port} ssl verify required ca-file ${web.certDir}/roots.pem crt ${web.certDir}/leaf.pem`,
    '',
  ].join('\n'))
  return { apiCfg, webCfg, apiSock: join(dir, `i${mode[0]}a.sock`), webSock: join(dir, `i${mode[0]}w.sock`) }
}

/** Starts `haproxy -W -db -f cfg` (master-worker, like the sidecars) as a tracked process. */
export function startHaproxy(bin, cfg, logFile) {
  return start(bin, ['-W', '-db', '-f', cfg], { logFile, niced: true })
}

/** Sends one runtime API command over a unix socket; resolves to the answer. */
export function runtime(sock, command, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    let out = ''
    const c = connect(sock)
    const timer = setTimeout(() => {
      c.destroy()
      reject(new Error(`${sock}: no answer to "${command}"`))
    }, timeoutMs)
    c.on('connect', () => c.end(`${command}\n`))
    c.on('data', (d) => (out += d))
    c.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    c.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
  })
}

/** `show info` as a name -> number/string map. */
export async function showInfo(sock) {
  const info = {}
  for (const line of (await runtime(sock, 'show info')).split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) info[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return info
}
