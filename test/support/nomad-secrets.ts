/**
 * Writes one Nomad release's sidecar task environment (test/fixtures/nomad/<release>.json:
 * the env vars and the files under NOMAD_SECRETS_DIR) into a folder, with the placeholders
 * filled by the tokens given: fake strings in unit tests, real ACL tokens in end-to-end tests.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './binaries.ts'

export const NOMAD_RELEASES = ['1.6', '1.8', '1.10-wi', '2.0.4-no-wi'] as const
export type NomadRelease = (typeof NOMAD_RELEASES)[number]

export interface NomadTokens {
  SI_TOKEN: string
  TASK_TOKEN: string
  ENVOY_TOKEN: string
}

interface Fixture {
  release: string
  env: Record<string, string>
  secrets: Record<string, string>
  envoyToken: keyof NomadTokens
  expect: { token: keyof NomadTokens; source: string }
}

export interface NomadTaskEnv {
  /** What the fixture reproduces (release and setup). */
  release: string
  /** The task's environment, NOMAD_SECRETS_DIR included. */
  env: Record<string, string>
  /** The token the sidecar must use, and the start of the source it must name. */
  expectToken: string
  expectSource: string
}

const dir = join(repoRoot, 'test/fixtures/nomad')

/** Writes `release`'s secrets into `secretsDir` and returns its environment. */
export function nomadTaskEnv(release: NomadRelease, tokens: NomadTokens, secretsDir: string): NomadTaskEnv {
  const fixture = JSON.parse(readFileSync(join(dir, `${release}.json`), 'utf8')) as Fixture
  const fill = (text: string) => text.replace(/\$\{(SI_TOKEN|TASK_TOKEN|ENVOY_TOKEN)\}/g, (_, name: keyof NomadTokens) => tokens[name])
  for (const [name, content] of Object.entries(fixture.secrets)) {
    const text = content.startsWith('@') ? readFileSync(join(dir, content.slice(1)), 'utf8').replace('${ENVOY_TOKEN}', tokens[fixture.envoyToken]) : `${fill(content)}\n`
    writeFileSync(join(secretsDir, name), text, { mode: 0o440 })
  }
  const env = Object.fromEntries(Object.entries(fixture.env).map(([k, v]) => [k, fill(v)]))
  return { release: fixture.release, env: { ...env, NOMAD_SECRETS_DIR: secretsDir }, expectToken: tokens[fixture.expect.token], expectSource: fixture.expect.source }
}
