#!/usr/bin/env node
// `npm run bench`: runs each benchmark that is present, one after the other
// (they would disturb each other's timings side by side), passing on any
// arguments. Exits non-zero if any of them failed.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
let failed = false
for (const name of ['renderer/run.mjs', 'dataplane/run.mjs', 'footprint/run.mjs', 'l7/run.mjs', 'changes/run.mjs', 'cert-commits/run.mjs', 'scale/run.mjs']) {
  const script = join(here, name)
  if (!existsSync(script)) continue
  const r = spawnSync(process.execPath, [script, ...process.argv.slice(2)], { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`bench: ${name} failed (exit ${r.status ?? r.signal})`)
    failed = true
  }
}
process.exitCode = failed ? 1 : 0
