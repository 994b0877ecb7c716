/**
 * HAProxy's Lua asks the agent about sources the intentions map does not decide, with the
 * token it reads from CONSUL_HTTP_TOKEN_FILE (else CONSUL_HTTP_TOKEN) at each (re)load. It
 * must be the token meshplate chose, not whatever the task's environment holds: inside a
 * Nomad task CONSUL_HTTP_TOKEN is a read-only task-identity token. So HAProxy gets only a
 * file: the chosen source's own file when it is one (si_token, a token file), so that a
 * token Nomad re-mints reaches it at the next reload; otherwise a 0600 copy in the sidecar's
 * folder. The value never goes on a command line, into the environment or into a log.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ConsulConfig } from '../config/resolve.ts'

/** The copy's path: next to leaf.pem, which is as secret. */
export function tokenCopyPath(dir: string): string {
  return join(dir, 'consul-token')
}

export interface HaproxyTokenEnv {
  /** `env` without any token variable, plus CONSUL_HTTP_TOKEN_FILE when there is a token. */
  env: NodeJS.ProcessEnv
  /** Removes the copy, if one was written (at exit: a secret does not outlive the sidecar). */
  cleanup: () => void
}

/** Builds HAProxy's environment for the token the resolver chose. */
export function haproxyTokenEnv(env: NodeJS.ProcessEnv, consul: Pick<ConsulConfig, 'token' | 'tokenFile'>, dir: string): HaproxyTokenEnv {
  const { CONSUL_HTTP_TOKEN: _http, CONSUL_TOKEN: _ct, CONSUL_HTTP_TOKEN_FILE: _file, ...rest } = env
  const copy = tokenCopyPath(dir)
  const ours = consul.tokenFile !== copy
  const cleanup = () => ours && rmSync(copy, { force: true })
  cleanup() // a copy left by a sidecar that was killed
  if (!consul.token) return { env: rest, cleanup }
  return { env: { ...rest, CONSUL_HTTP_TOKEN_FILE: consul.tokenFile ?? writeCopy(copy, consul.token) }, cleanup }
}

function writeCopy(file: string, token: string): string {
  mkdirSync(dirname(file), { recursive: true })
  // A new file (any old one was removed), so it is 0600 from its first byte.
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' })
  return file
}
