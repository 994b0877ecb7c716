// Types of consul.mjs, for the TypeScript side (test/support/consul.ts).
import type { ChildProcess } from 'node:child_process'

export interface ConsulAnswer {
  status: number
  /** The JSON body, when the answer is JSON. */
  body: any
  text: string
}

export interface ConsulLaunchOptions {
  /** The consul binary (default: consulBinary()). */
  bin?: string
  /** Node name (default `meshplate`; the pair: `meshplate-server`, `meshplate-client`). */
  node?: string
  /** Address to bind and serve HTTP on: loopback (the default) or one of this machine's own. */
  bind?: string
  /** Fixed HTTP port (default: a free one). */
  httpPort?: number
  /** gRPC port, e.g. for Nomad's Envoy bootstrap hook (default: off). */
  grpcPort?: number
  /** Extra config fragments, each an `-hcl` flag. */
  hcl?: string[]
  /** Extra config as one object (passed as JSON). */
  config?: Record<string, unknown>
  /** ACLs on: `token` is the management token (on a server) and the agent's token. */
  acl?: { token: string; defaultPolicy?: 'allow' | 'deny' }
  /** Token sent with every call (default: acl.token). */
  token?: string
  /** Server mode: a single server keeping its state here (without `join`); client mode: its data dir (default: a temporary one). */
  dataDir?: string
  /** Client mode: the serf LAN address of a server to join (loopback). */
  join?: string
  /** When start() resolves: once it issues a Connect leaf (default), or once a leader lists this node. */
  ready?: 'connect' | 'leader'
  /** Consul's log level (default warn). */
  logLevel?: string
  /** Output to this file instead of memory; logs() reads it. */
  logFile?: string
  /** Spawns the agent instead of Node's spawn (a caller that tracks its processes). */
  spawn?: (cmd: string, args: string[]) => ChildProcess
  /** How long start() waits for ready (default 30 s). */
  timeoutMs?: number
  /** A timeout for each API call (default none: blocking queries may wait). */
  requestTimeoutMs?: number
}

export interface ConsulProcess {
  /** host:port of the HTTP API. */
  readonly addr: string
  readonly httpPort: number
  /** host:port a client agent joins. */
  readonly serfLanAddr: string
  readonly node: string
  readonly ports: { http: number; serfLan: number; serfWan: number; server: number }
  /** The running process (a new one after start()). */
  readonly proc: ChildProcess | undefined
  /** One call; never throws on a status. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<ConsulAnswer>
  /** One call; throws unless 2xx, returns the JSON body (or the text, or undefined when empty). */
  json(method: string, path: string, body?: unknown, token?: string): Promise<any>
  logs(): string
  /** Starts it again on the same ports (after kill()). */
  start(): Promise<void>
  /** SIGKILL; the data dir stays. */
  kill(): Promise<void>
  /** SIGKILL, and removes a data dir the launcher made. */
  stop(): Promise<void>
}

/** A service with a Connect sidecar, as sidecarRegistration() registers it. */
export interface SidecarSpec {
  /** Default: name. */
  id?: string
  name: string
  port: number
  sidecarPort?: number
  /** The service's address (default 127.0.0.1). */
  address?: string
  upstreams?: Array<{ DestinationName: string; LocalBindPort: number; DestinationType?: string; Datacenter?: string; Config?: object; LocalBindAddress?: string }>
  proxyConfig?: Record<string, unknown>
  /** The sidecar's `Proxy.Expose` (`{ Checks, Paths }`). */
  expose?: Record<string, unknown>
  /** The service's own checks (e.g. an HTTP check that `Expose.Checks` exposes). */
  checks?: Array<Record<string, unknown>>
  /** Service.Meta of the service and its sidecar (what a resolver subset filters on). */
  meta?: Record<string, string>
  /** The sidecar's passing TTL check: its name (default `ttl`) and TTL (default 1h). */
  checkName?: string
  ttl?: string
}

export function consulBinary(): string
export function sidecarRegistration(s: SidecarSpec): Record<string, unknown>
export function startConsul(options?: ConsulLaunchOptions): Promise<ConsulProcess>
export function startConsulServerAndClient(
  options?: Omit<ConsulLaunchOptions, 'join'> & { server?: ConsulLaunchOptions; client?: Omit<ConsulLaunchOptions, 'join'> },
): Promise<{ server: ConsulProcess; client: ConsulProcess; stop(): Promise<void> }>
