// The two renderers under test, started the same way: same agent, same
// quiescence (none), log level warn, an equivalent template each, and a
// clean environment (no CONSUL_HTTP_* from the caller's shell).
import { join } from 'node:path'
import { NODE_FLAGS } from '../../lib/shared.mjs'
import { start } from './procs.mjs'

function cleanEnv() {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('CONSUL_') || k.startsWith('VAULT_') || k.startsWith('NOMAD_')) delete env[k]
  return env
}

/**
 * Both tools as { key, run(tpl, out), once(tpl, out), tpl: {services, big} };
 * meshplate also has onceWithNodeFlags(flags, tpl, out) for diagnostics.
 */
export function makeTools({ root, consulTemplateBin, addr }) {
  const env = cleanEnv()
  const templates = join(root, 'bench/renderer/templates')
  const cli = join(root, 'dist/cli.js')
  const mp = (mode, tpl, out) => [...NODE_FLAGS, cli, mode, '--consul-addr', addr, '--log-level', 'warn', '-t', `${tpl}:${out}`]
  const ct = (extra, tpl, out) => ['-consul-addr', addr, '-log-level', 'warn', '-wait=0s', ...extra, '-template', `${tpl}:${out}`]
  return [
    {
      key: 'meshplate',
      run: (tpl, out) => start(process.execPath, mp('run', tpl, out), { env }),
      once: (tpl, out) => start(process.execPath, mp('once', tpl, out), { env }),
      onceWithNodeFlags: (flags, tpl, out) => start(process.execPath, [...flags, ...mp('once', tpl, out)], { env }),
      tpl: { services: join(templates, 'services.njk'), big: join(templates, 'big.njk') },
    },
    {
      key: 'consul-template',
      run: (tpl, out) => start(consulTemplateBin, ct([], tpl, out), { env, stopSignal: 'SIGINT' }),
      once: (tpl, out) => start(consulTemplateBin, ct(['-once'], tpl, out), { env, stopSignal: 'SIGINT' }),
      tpl: { services: join(templates, 'services.ctmpl'), big: join(templates, 'big.ctmpl') },
    },
  ]
}
