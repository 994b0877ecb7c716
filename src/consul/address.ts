/**
 * Turns CONSUL_HTTP_ADDR-style addresses into a base URL plus an optional
 * unix socket path. Consul accepts `host:port`, `http://`, `https://` and
 * `unix://path`; CONSUL_HTTP_SSL=true upgrades a bare host:port to https.
 */
import { ConfigError } from '../errors.ts'

export interface ConsulAddress {
  /** Origin requests are sent to, e.g. `http://127.0.0.1:8500`. */
  origin: string
  /** Set for `unix://` addresses; the origin is then nominal. */
  socketPath?: string
  tls: boolean
}

/** Parses one address string; throws ConfigError naming the bad value. */
export function parseConsulAddress(raw: string, forceTls = false): ConsulAddress {
  const value = raw.trim()
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length)
    if (!socketPath) throw new ConfigError(`consul address "${raw}": unix:// needs a socket path`)
    return { origin: 'http://localhost', socketPath, tls: false }
  }
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `${forceTls ? 'https' : 'http'}://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new ConfigError(`consul address "${raw}": not host:port, http://, https:// or unix://`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`consul address "${raw}": scheme ${url.protocol} is not http, https or unix`)
  }
  return { origin: url.origin, tls: url.protocol === 'https:' }
}
