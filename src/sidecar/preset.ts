/**
 * The HAProxy Connect sidecar as plain renderer configuration: four shipped
 * templates, their destinations in one folder, what each file is to HAProxy's
 * runtime API (so haproxy/live.ts can push intentions, leaf certificates
 * and server slots without a reload), the `haproxy -c` check on every config,
 * and HAProxy master-worker, with its master CLI, under exec mode. A
 * per-service `haproxy.cfg.njk` in the override folder, when present, replaces
 * the entry template; it extends the shipped one and overrides its blocks.
 * HAProxy is started so that it dies with meshplate (die-with-parent.ts), and
 * restarted (up to 5 times a minute) when it dies on its own: its master exits
 * when a worker dies (exit-on-failure).
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RawConfig, RawTemplate } from '../config/raw.ts'
import { ConfigError } from '../errors.ts'
import { dieWithParent } from './die-with-parent.ts'
import { runtimeSocketPath } from './runtime-socket.ts'

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** The shipped templates' root: an override extends "haproxy/haproxy.cfg.njk" from here. */
export const shippedTemplateRoot = join(packageRoot, 'templates')
export const shippedTemplateDir = join(shippedTemplateRoot, 'haproxy')
export const shippedLuaDir = join(packageRoot, 'lua')

export interface SidecarOptions {
  dir: string
  templateDir: string
  luaDir: string
  haproxy: string
  vars: Record<string, string>
  /** A folder that may hold a per-service haproxy.cfg.njk (it may appear later). */
  overrideDir?: string
  /** The runtime socket, when the caller already chose it (default: runtimeSocketPath(dir)). */
  runtimeSocket?: string
}

/** The entry template for haproxy.cfg: the service's override when it exists, else the stock one. */
export function haproxyEntry(o: Pick<SidecarOptions, 'templateDir' | 'overrideDir'>): string {
  const override = o.overrideDir ? join(resolve(o.overrideDir), 'haproxy.cfg.njk') : undefined
  return override && existsSync(override) ? override : join(o.templateDir, 'haproxy.cfg.njk')
}

/** The Lua files HAProxy loads: authorize.lua, and the modules it loads from its own folder. */
export const LUA_MODULES = ['authorize.lua', 'cert.lua', 'decide.lua', 'agent.lua', 'l7.lua'] as const

/** Fails at start, naming the file, when `--lua-dir` lacks a module (HAProxy would fail later, per thread). */
export function checkLuaDir(luaDir: string): void {
  for (const name of LUA_MODULES) {
    const file = join(resolve(luaDir), name)
    if (!existsSync(file)) throw new ConfigError(`--lua-dir ${resolve(luaDir)}: ${name} is missing (copy the whole lua/ folder)`)
  }
}

/** Builds the raw config the sidecar command merges under the user's flags. */
export function sidecarConfig(o: SidecarOptions): RawConfig {
  const dir = resolve(o.dir)
  const socket = o.runtimeSocket ?? runtimeSocketPath(dir)
  const file = (name: string) => join(dir, name)
  const master = join(dirname(socket), 'master.sock')
  // Whether a kind is pushed or reloaded is decided by HAProxy version in haproxy/policy.ts.
  const runtime = (kind: string) => ({ socket, kind })
  const templates: RawTemplate[] = [
    { source: join(o.templateDir, 'leaf.pem.njk'), destination: file('leaf.pem'), perms: '0600', haproxyRuntime: runtime('ssl-cert') },
    { source: join(o.templateDir, 'roots.pem.njk'), destination: file('roots.pem'), perms: '0644', haproxyRuntime: runtime('ssl-ca-file') },
    { source: join(o.templateDir, 'intentions.map.njk'), destination: file('intentions.map'), perms: '0644', haproxyRuntime: runtime('map') },
    { source: haproxyEntry(o), destination: file('haproxy.cfg'), perms: '0644', check: [o.haproxy, '-c', '-f', '{{path}}'], haproxyRuntime: runtime('servers') },
  ]
  return {
    templates,
    templateRoots: [shippedTemplateRoot],
    vars: { dir, luaDir: resolve(o.luaDir), runtimeSocket: socket, ...o.vars },
    exec: {
      command: dieWithParent([o.haproxy, '-W', '-db', '-S', `${master},mode,600`, '-f', file('haproxy.cfg')]),
      reloadSignal: 'SIGUSR2',
      killSignal: 'SIGTERM',
      killTimeout: '10s',
      restarts: 5,
      haproxyMasterSocket: master,
    },
  }
}
