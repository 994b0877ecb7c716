/**
 * meshplate's container image in end-to-end tests: finds podman, builds the image from
 * this checkout with scripts/image/build (layers are cached, so an unchanged checkout
 * rebuilds in seconds and a stale image is never tested), and runs it with podman in the
 * host's network namespace (`--network host`), never on podman's default bridge, which
 * NATs out of the machine. Every podman call goes through scripts/image/containers.conf
 * (CONTAINERS_CONF) so the machine's own /etc/containers stays as it is. Containers are
 * named, so a test removes exactly its own.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './binaries.ts'

export const containersConf = join(repoRoot, 'scripts/image/containers.conf')
const env = () => ({ ...process.env, CONTAINERS_CONF: containersConf })

/** podman's path, or undefined when it is not installed. */
export function podmanPath(): string | undefined {
  return (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'podman')).find((p) => existsSync(p))
}

/** Runs `podman <args>` to completion. */
export function podman(args: string[], timeoutMs = 60_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, { env: env(), encoding: 'utf8', timeout: timeoutMs })
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}` }
}

/** Builds the image with scripts/image/build; resolves to its name, the build's output and how long it took. */
export function buildImage(timeoutMs = 20 * 60_000): Promise<{ code: number | null; image: string; output: string; ms: number }> {
  const started = Date.now()
  return new Promise((resolve) => {
    const proc = spawn('bash', [join(repoRoot, 'scripts/image/build')], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let output = ''
    proc.stdout.on('data', (d) => ((stdout += d), (output += d)))
    proc.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => proc.kill('SIGTERM'), timeoutMs)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, image: stdout.trim().split('\n').pop() ?? '', output, ms: Date.now() - started })
    })
  })
}

export interface Container {
  name: string
  output(): string
  /** Resolves with `podman run`'s exit code: the container's own. */
  exited: Promise<number | null>
  /** `podman stop --time <s>` (SIGTERM, SIGKILL after s seconds); resolves to the exit code and ms until the container was gone. */
  stop(seconds: number): Promise<{ code: number | null; ms: number }>
  /** `podman healthcheck run`: 0 healthy; with the check's own last line. */
  healthcheck(): { code: number | null; line: string }
  /** `podman top <name> user args`: one line per process. */
  processes(): string[]
  /** Removes the container whatever its state (teardown). */
  remove(): void
}

/** Starts `image` with `args` (the image's entrypoint is meshplate) in the host's network namespace. */
export function runContainer(image: string, name: string, args: string[]): Container {
  // --health-interval disable: no systemd here to run the timer; `podman healthcheck run` still runs the image's check.
  const proc = spawn('podman', ['run', '--rm', '--name', name, '--network', 'host', '--pull', 'never', '--health-interval', 'disable', image, ...args], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return {
    name,
    output: () => out,
    exited,
    async stop(seconds) {
      const started = Date.now()
      podman(['stop', '--time', String(seconds), name], (seconds + 30) * 1000)
      const code = await exited
      return { code, ms: Date.now() - started }
    },
    healthcheck() {
      const r = podman(['healthcheck', 'run', name])
      const health = podman(['inspect', '--format', '{{json .State.Health}}', name])
      let line = `${r.stdout}${r.stderr}`.trim()
      try {
        const log = (JSON.parse(health.stdout) as { Log?: Array<{ Output: string }> }).Log ?? []
        line = log.at(-1)?.Output.trim() ?? line
      } catch {
        // keep podman's own words
      }
      return { code: r.code, line }
    },
    processes() {
      return podman(['top', name, 'user', 'args']).stdout.split('\n').slice(1).filter((l) => l.trim())
    },
    remove() {
      podman(['rm', '--force', '--time', '0', name])
    },
  }
}
