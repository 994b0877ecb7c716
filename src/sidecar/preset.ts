/**
 * The HAProxy Connect sidecar as plain renderer configuration: four shipped
 * templates, their destinations in one folder, the runtime-API push that
 * spares a reload for intention changes, the `haproxy -c`
 * check on every config, and HAProxy master-worker under exec mode.
 */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RawConfig, RawTemplate } from '../config/raw.ts'

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const shippedTemplateDir = join(packageRoot, 'templates/haproxy')
export const shippedLuaDir = join(packageRoot, 'lua')

export interface SidecarOptions {
  dir: string
  templateDir: string
  luaDir: string
  haproxy: string
  vars: Record<string, string>
}

/** Builds the raw config the sidecar command merges under the user's flags. */
export function sidecarConfig(o: SidecarOptions): RawConfig {
  const dir = resolve(o.dir)
  const socket = join(dir, 'haproxy.sock')
  const file = (name: string) => join(dir, name)
  const templates: RawTemplate[] = [
    // Certificates reload HAProxy (seamlessly) rather than use `set/commit ssl cert|ca-file`:
    // HAProxy 2.6.12 ignores cert commits after a CA commit and then crashes on the next CA
    // commit (haproxy#3165; README, "Certificate rotation").
    { source: join(o.templateDir, 'leaf.pem.njk'), destination: file('leaf.pem'), perms: '0600' },
    { source: join(o.templateDir, 'roots.pem.njk'), destination: file('roots.pem'), perms: '0644' },
    { source: join(o.templateDir, 'intentions.map.njk'), destination: file('intentions.map'), perms: '0644', reloadExec: false, haproxyRuntime: { socket, kind: 'map' } },
    { source: join(o.templateDir, 'haproxy.cfg.njk'), destination: file('haproxy.cfg'), perms: '0644', check: [o.haproxy, '-c', '-f', '{{path}}'] },
  ]
  return {
    templates,
    vars: { dir, luaDir: resolve(o.luaDir), ...o.vars },
    exec: { command: [o.haproxy, '-W', '-db', '-f', file('haproxy.cfg')], reloadSignal: 'SIGUSR2', killSignal: 'SIGTERM', killTimeout: '10s' },
  }
}
