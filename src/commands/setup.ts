/**
 * What `run`, `once` and `sidecar` share: resolve the config, build the
 * logger, the Consul client (or a brain from --data), find the proxy, load
 * and compile every template (so a syntax error fails before any watch), and
 * hand back a Runner ready to start. For the sidecar it also checks, within
 * the start grace, that the token can read the proxy and get its leaf.
 * This is where the two halves meet: every command's templates get the
 * mesh's functions and filters (connect/) on top of the engine's, and its
 * runner HAProxy's file rules (haproxy/target.ts), as the docs promise for
 * `run` and `once` as much as for the sidecar.
 */
import { dirname } from 'node:path'
import type { Config } from '../config/resolve.ts'
import { mergeRaw, parseTemplateFlag, readConfigFile, type RawConfig } from '../config/raw.ts'
import { connectExtension } from '../connect/index.ts'
import { ConsulClient } from '../consul/client.ts'
import { findProxyId } from '../dependency/find-proxy.ts'
import { errorLine, MeshplateError } from '../errors.ts'
import { SlotTable } from '../haproxy/slots.ts'
import { haproxyFiles } from '../haproxy/target.ts'
import { createLogger, type Logger } from '../log.ts'
import { Runner } from '../runner/runner.ts'
import { checkProxyToken, startTokenCheck, tokenFailure, type TokenCheck } from '../sidecar/token-check.ts'
import { Brain } from '../template/brain.ts'
import { createEnvironment } from '../template/environment.ts'
import type { RenderScope } from '../template/functions.ts'
import { Template } from '../template/template.ts'
import { exponentialBackoff, sleep } from '../watch/backoff.ts'

export interface CliArgs {
  config?: string[]
  template?: string[]
  [flag: string]: unknown
}

export interface Session {
  config: Config
  log: Logger
  runner: Runner
  client: ConsulClient | undefined
  proxyId: string | undefined
  templates: Template[]
  /** Server slot assignments, handed to the next session on SIGHUP so no instance moves. */
  slots: SlotTable
}

/** Builds the raw config from config files, then flags (flags win). */
export function rawFromArgs(args: CliArgs, extra: RawConfig = {}): RawConfig {
  const files = (args.config ?? []).map(readConfigFile)
  const a = args as Record<string, string | boolean | undefined>
  const flags: RawConfig = {
    consul: {
      address: a['consul-addr'] as string | undefined,
      token: a['consul-token'] as string | undefined,
      tokenFile: a['consul-token-file'] as string | undefined,
    },
    proxyId: a['proxy-id'] as string | undefined,
    sidecarFor: a['sidecar-for'] as string | undefined,
    wait: a.wait as string | undefined,
    timeout: a.timeout as string | undefined,
    dry: a.dry as boolean | undefined,
    data: a.data as string | undefined,
    record: a.record as string | undefined,
    logLevel: a['log-level'] as string | undefined,
    logFormat: a['log-format'] as string | undefined,
    exec: {
      command: a.exec as string | undefined,
      reloadSignal: a['exec-reload-signal'] as string | undefined,
      killSignal: a['exec-kill-signal'] as string | undefined,
      killTimeout: a['exec-kill-timeout'] as string | undefined,
    },
    templates: (args.template ?? []).map(parseTemplateFlag),
  }
  return mergeRaw(...files, extra, flags)
}

export interface SetupOptions {
  /** The sidecar: fail within the start grace, in one line, when the token cannot read the proxy or get its leaf. */
  checkToken?: boolean
}

/** Resolves everything needed to render; `signal` bounds the proxy lookup. */
export async function setup(config: Config, signal: AbortSignal, slots = new SlotTable(), options: SetupOptions = {}): Promise<Session> {
  const log = createLogger(config.log.level, config.log.format)
  let brain = new Brain()
  let client: ConsulClient | undefined
  let proxyId = config.proxyId
  if (config.dataFile) {
    const snap = Brain.fromSnapshotFile(config.dataFile)
    brain = snap.brain
    proxyId ??= snap.proxyId
  } else {
    const { address, addressSource, tokenSource } = config.consul
    // The token's source, never its value.
    log.info('consul agent', { address, from: addressSource, tokenFrom: tokenSource })
    client = new ConsulClient(config.consul)
    try {
      const check = options.checkToken ? await startTokenCheck(client, config.consul, log, signal, NOMAD_PROXY_GRACE_MS) : undefined
      if (config.sidecarFor) proxyId = await waitForProxy(client, config.sidecarFor, log, signal, check)
      if (check && proxyId) await checkProxyToken(client, proxyId, check)
    } catch (err) {
      await client.close()
      throw err
    }
  }
  const scope: RenderScope = { tracker: undefined, proxyId, env: process.env }
  const folders = [...new Set([...config.templates.map((t) => dirname(t.source)), ...config.templateRoots])]
  const env = createEnvironment(scope, folders, config.vars, [connectExtension({ slots })])
  const templates = config.templates.map((t) => new Template(t.source, env, scope))
  for (const t of templates) t.load()
  const runner = new Runner({ config, templates, brain, log, client, files: haproxyFiles })
  return { config, log, runner, client, proxyId, templates, slots }
}

/**
 * Nomad registers an allocation's services before it starts the sidecar task, so inside an
 * allocation a proxy still missing after this long is a wrong service name, not a race.
 */
const NOMAD_PROXY_GRACE_MS = 30_000

async function waitForProxy(client: ConsulClient, target: string, log: Logger, signal: AbortSignal, check?: TokenCheck): Promise<string> {
  const backoff = exponentialBackoff(250, 5_000)
  const allocId = process.env.NOMAD_ALLOC_ID || undefined
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      const id = await findProxyId(client, target, allocId, signal)
      log.info('found proxy', { id, for: target })
      return id
    } catch (err) {
      if (signal.aborted) throw new MeshplateError('PROXY_NOT_FOUND', `gave up looking for the proxy of "${target}": ${errorLine(err)}`)
      const tokenFault = check && tokenFailure(client, check, err)
      if (tokenFault && Date.now() >= check.deadline) throw tokenFault
      const wrongName = allocId && (err as MeshplateError).code === 'PROXY_NOT_FOUND' && Date.now() - started > NOMAD_PROXY_GRACE_MS
      if (wrongName) throw err
      // The token's fault is given up on at the deadline, not one backoff step after it.
      const delay = tokenFault ? Math.min(backoff.delay(attempt), Math.max(0, check.deadline - Date.now())) : backoff.delay(attempt)
      log.warn(`${errorLine(err)}; retry in ${delay} ms`)
      await sleep(delay, signal)
    }
  }
}
