/**
 * `meshplate sidecar`: the HAProxy Connect sidecar preset on top of `run`.
 * It renders the shipped (or the user's) templates into one folder and runs
 * HAProxy master-worker as the exec child. The child gets the agent URL and
 * the chosen token's file (token-file.ts) that lua/authorize.lua needs for
 * sources the table does not decide. Before anything is watched, a token the
 * agent refuses fails the start in one line (token-check.ts).
 * With --once it only renders and checks the files, which is how CI checks a
 * service's customised templates against a recorded snapshot (--data). With
 * --override-dir, a haproxy.cfg.njk appearing, changing or leaving that folder
 * reloads the templates as SIGHUP does (a broken one keeps the running config).
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseConsulAddress } from '../consul/address.ts'
import { resolveConfig } from '../config/resolve.ts'
import { ConfigError } from '../errors.ts'
import { checkLuaDir, sidecarConfig, shippedLuaDir, shippedTemplateDir } from '../sidecar/preset.ts'
import { removeRuntimeSocket, runtimeSocketPath } from '../sidecar/runtime-socket.ts'
import { haproxyTokenEnv, type HaproxyTokenEnv } from '../sidecar/token-file.ts'
import { runWatching } from './run.ts'
import { rawFromArgs, type CliArgs } from './setup.ts'

/** Runs the sidecar until stopped; resolves to the exit code. */
export async function sidecar(args: CliArgs): Promise<number> {
  const a = args as Record<string, string | string[] | undefined>
  const target = (a['sidecar-for'] ?? a['proxy-id']) as string
  const vars: Record<string, string> = {}
  for (const kv of (a.var as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw new ConfigError(`--var "${kv}": expected key=value`)
    vars[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  const overrideDir = a['override-dir'] ? resolve(a['override-dir'] as string) : undefined
  // Made now so that it can be watched: in Nomad the app task's template writes into it later.
  if (overrideDir && !a.once) mkdirSync(overrideDir, { recursive: true })
  const dir = resolve((a.dir as string | undefined) ?? join('.meshplate', target.replace(/[^A-Za-z0-9_.-]/g, '_')))
  // Chosen once (it may make a folder), then reused by every reload and removed at exit.
  const runtimeSocket = runtimeSocketPath(dir)
  const luaDir = (a['lua-dir'] as string | undefined) ?? shippedLuaDir
  checkLuaDir(luaDir)
  const presetFor = () => sidecarConfig({
    dir,
    runtimeSocket,
    templateDir: (a['template-dir'] as string | undefined) ?? shippedTemplateDir,
    luaDir,
    haproxy: a.haproxy as string,
    vars,
    overrideDir,
  })
  // Re-evaluated on every reload, so an override that appears later becomes the entry template.
  const load = () => rawFromArgs({ ...args, template: [], config: [] }, presetFor())
  if (a.once) {
    // CI: render and check every file once (from --data or a live agent), start nothing.
    const { renderOnce } = await import('./once.ts')
    return renderOnce({ ...load(), exec: undefined })
  }
  const consul = resolveConfig(load()).consul
  const address = parseConsulAddress(consul.address, consul.tls?.force)
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  // HAProxy's Lua HTTP client dials addresses, it does not resolve names.
  if (!address.socketPath && !address.tls) childEnv.MESHPLATE_AGENT_URL = address.origin.replace('//localhost:', '//127.0.0.1:')
  let token: HaproxyTokenEnv | undefined
  try {
    // The token the resolver chose, as a file; never the value in HAProxy's environment.
    token = haproxyTokenEnv(childEnv, consul, dir)
    return await runWatching(load, token.env, overrideDir ? [overrideDir] : [], { checkToken: true })
  } finally {
    token?.cleanup()
    removeRuntimeSocket(dir, runtimeSocket)
  }
}
