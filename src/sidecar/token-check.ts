/**
 * A sidecar whose token may not read its proxy or get its leaf never serves: its views would
 * retry the 403 for ever, one warning at a time, and with no token at all the agent simply
 * hides the registration. So before anything is watched the sidecar asks the agent what needs
 * the token's rights, and when the answer is still no at the start deadline (the 30 s that
 * docs/sidecar-settings.md promises for a proxy registration inside Nomad) it fails with one line: the source in use
 * and every place a token was looked for, never the value. A 403 "ACL not found" has the
 * client re-read the token first (consul/client.ts), so a token Nomad re-minted meanwhile is
 * picked up. Anything but a 403 (agent down, proxy not registered yet) is left to the views.
 */
import type { ConsulConfig } from '../config/resolve.ts'
import type { ConsulClient } from '../consul/client.ts'
import { ConsulHttpError, errorLine, TokenError, type MeshplateError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { sleep } from '../watch/backoff.ts'

export interface TokenCheck {
  consul: ConsulConfig
  log: Logger
  signal: AbortSignal
  /** Until when (epoch ms) refusals are retried before failing. */
  deadline: number
  /** No token was found and the agent denies by default: a proxy it hides counts against the token too. */
  anonymousDenied: boolean
}

const RETRY_MS = 1_000

/** Starts the check; with no token found it asks the agent's default policy (an anonymous token may still have rights). */
export async function startTokenCheck(client: ConsulClient, consul: ConsulConfig, log: Logger, signal: AbortSignal, graceMs: number): Promise<TokenCheck> {
  const check: TokenCheck = { consul, log, signal, deadline: Date.now() + graceMs, anonymousDenied: false }
  if (consul.token) return check
  try {
    check.anonymousDenied = (await client.get('/v1/agent/connect/ca/roots', {}, { signal })).aclDefaultPolicy === 'deny' && (await aclsEnabled(client, signal))
  } catch {
    return check // an agent that does not answer is the views' concern, as before
  }
  if (check.anonymousDenied) log.warn(`the agent has ACLs on with default policy deny and no token was found; looked in ${consul.tokenPlaces}`)
  return check
}

/**
 * The default-policy header is the configured `acl.default_policy` even with ACLs off; only an
 * agent with ACLs on answers `/v1/acl/token/self` with anything but 401 "ACL support disabled".
 */
async function aclsEnabled(client: ConsulClient, signal: AbortSignal): Promise<boolean> {
  try {
    await client.get('/v1/acl/token/self', {}, { signal })
    return true
  } catch (err) {
    if (err instanceof ConsulHttpError) return err.status !== 401
    throw err
  }
}

/** Whether the agent refused the token (403: a token it does not know, or one without the rights). */
export function isTokenRefusal(err: unknown): err is ConsulHttpError {
  return err instanceof ConsulHttpError && err.status === 403
}

/** The one-line error when `err`, from the proxy lookup, is the token's fault; undefined when it is not. */
export function tokenFailure(client: ConsulClient, check: TokenCheck, err: unknown): TokenError | undefined {
  if (isTokenRefusal(err)) return refusedToken(client, check.consul, err)
  if (check.anonymousDenied && (err as MeshplateError).code === 'PROXY_NOT_FOUND') {
    return unusableToken(check.consul, `the agent has ACLs on with default policy deny, no token was found, and the anonymous token sees no proxy (${errorLine(err)})`, err)
  }
  return undefined
}

/** Reads the proxy's registration and its service's leaf until neither is refused; fails at the deadline. */
export async function checkProxyToken(client: ConsulClient, proxyId: string, check: TokenCheck): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await probe(client, proxyId, check.signal)
      return
    } catch (err) {
      if (check.signal.aborted || !isTokenRefusal(err)) return
      if (Date.now() >= check.deadline) throw refusedToken(client, check.consul, err)
      if (attempt === 1) check.log.warn(`${errorLine(err)} (token from ${client.tokenSource ?? 'none'}); retrying for ${Math.max(0, Math.round((check.deadline - Date.now()) / 1000))} s`)
      await sleep(Math.min(RETRY_MS, Math.max(0, check.deadline - Date.now())), check.signal)
    }
  }
}

function refusedToken(client: ConsulClient, consul: ConsulConfig, err: ConsulHttpError): TokenError {
  const source = client.tokenSource ?? consul.tokenSource ?? 'none'
  const which = source === 'none' ? 'no token was found, and the anonymous token was refused' : `the token from ${source} was refused`
  return unusableToken(consul, `${which}: ${err.message}`, err)
}

function unusableToken(consul: ConsulConfig, why: string, cause?: unknown): TokenError {
  return new TokenError(`no usable Consul token: ${why}; looked in ${consul.tokenPlaces}`, { cause })
}

/** GET the proxy's registration (service:read) and then its service's leaf (service:write). */
async function probe(client: ConsulClient, proxyId: string, signal: AbortSignal): Promise<void> {
  const res = await client.get(`/v1/agent/service/${encodeURIComponent(proxyId)}`, {}, { signal })
  const proxy = (res.body as { Proxy?: { DestinationServiceName?: unknown } } | null)?.Proxy
  const service = proxy?.DestinationServiceName
  if (typeof service !== 'string' || !service) return // not a connect proxy: its view will say so
  await client.get(`/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`, {}, { signal })
}
