/**
 * The golden scenarios of the shipped sidecar templates (test/golden/<scenario>/): each holds a
 * snapshot recorded from a real Consul 1.14.11 (scripts/record-golden.mjs) and the four files
 * the sidecar preset renders from it. Rendering here is `meshplate sidecar --once --data
 * <snapshot>` without its writes and its `haproxy -c`: the same preset (sidecarConfig), the same
 * raw config and setup, one runner batch, whose outputs are kept instead of written. The folder
 * and the Lua folder are fixed placeholders, so the output names no path of this machine;
 * test/integration/golden-haproxy.test.ts points them at real files to run `haproxy -c`.
 */
import { readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { rawFromArgs, setup } from '../../src/commands/setup.ts'
import { resolveConfig, type TemplateConfig } from '../../src/config/resolve.ts'
import { Runner } from '../../src/runner/runner.ts'
import { shippedTemplateDir, sidecarConfig } from '../../src/sidecar/preset.ts'
import { repoRoot } from './binaries.ts'

export const goldenRoot = join(repoRoot, 'test/golden')
/** Where every golden render "lives": `--dir`, and the Lua folder beside it. */
export const PLACEHOLDER_ROOT = '/meshplate-golden'
export const PLACEHOLDER_DIR = `${PLACEHOLDER_ROOT}/sidecar`
export const PLACEHOLDER_LUA = `${PLACEHOLDER_ROOT}/lua`
/** The files the sidecar preset renders, in its order. */
export const GOLDEN_FILES = ['leaf.pem', 'roots.pem', 'intentions.map', 'haproxy.cfg'] as const
export type GoldenFile = (typeof GOLDEN_FILES)[number]

/** Every scenario folder that holds a snapshot, sorted. */
export function goldenScenarios(): string[] {
  return readdirSync(goldenRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(goldenRoot, d.name, 'snapshot.json')))
    .map((d) => d.name)
    .sort()
}

/** Renders the shipped templates (or `templateDir`) from a scenario's snapshot, as `sidecar --once --data` does. */
export async function renderScenario(scenario: string, templateDir = shippedTemplateDir): Promise<Record<GoldenFile, string>> {
  const preset = sidecarConfig({ dir: PLACEHOLDER_DIR, templateDir, luaDir: PLACEHOLDER_LUA, haproxy: 'haproxy', vars: {} })
  // As commands/sidecar.ts builds it: flags over the preset, no -t or config files.
  const raw = rawFromArgs({ data: join(goldenRoot, scenario, 'snapshot.json'), 'log-level': 'error', template: [], config: [] }, preset)
  // No environment: CONSUL_HTTP_* and the like cannot reach the render.
  const config = resolveConfig({ ...raw, exec: undefined }, {})
  const session = await setup(config, AbortSignal.timeout(30_000))
  const outputs = new Map<string, string>()
  const keep = async (content: string, t: TemplateConfig) => {
    outputs.set(t.destination, content)
    return false // "unchanged": nothing is written, pushed or checked
  }
  const runner = new Runner({ config, templates: session.templates, brain: session.runner.deps.brain, log: session.log, write: keep })
  try {
    const result = await runner.batch()
    if (result.errors.length > 0) throw new Error(`${scenario}: ${result.errors.map((e) => e.message).join('; ')}`)
    if (!result.complete) throw new Error(`${scenario}: the snapshot lacks ${[...result.missing].join(', ')}`)
  } finally {
    await runner.stop()
    await session.runner.stop()
  }
  const out = {} as Record<GoldenFile, string>
  for (const f of GOLDEN_FILES) {
    const content = outputs.get(join(PLACEHOLDER_DIR, f))
    if (content === undefined) throw new Error(`${scenario}: ${f} was not rendered`)
    out[f] = content
  }
  return out
}
