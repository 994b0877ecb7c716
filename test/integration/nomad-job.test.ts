/**
 * The shipped Nomad job parses under Nomad's strict HCL2 rules, checked with
 * a real `nomad job validate` (Nomad v1.6.1, built by `scripts/provision
 * --nomad`, which is opt-in because the build takes minutes). Without that
 * binary the test says so and skips; it never pretends to have validated.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { binary, repoRoot } from '../support/binaries.ts'

let nomad: string | undefined
try {
  nomad = binary('nomad')
} catch {
  nomad = undefined
}

const validate = (file: string) => {
  try {
    return { code: 0, output: execFileSync(nomad!, ['job', 'validate', file], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, NOMAD_ADDR: 'http://127.0.0.1:1' } }) }
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string }
    return { code: e.status, output: `${e.stdout}${e.stderr}` }
  }
}

t.test('nomad job validate accepts nomad/meshplate-mesh.nomad.hcl', { skip: nomad ? false : 'nomad not provisioned: run `bash scripts/provision --nomad`' }, async (t) => {
  const job = join(repoRoot, 'nomad/meshplate-mesh.nomad.hcl')
  const ok = validate(job)
  t.equal(ok.code, 0, ok.output)
  t.match(ok.output, /Job validation successful/)
  // The same job with a `template` block in sidecar_task, which Nomad does not allow there (nomad#17987).
  const broken = join(t.testdir(), 'broken.nomad.hcl')
  writeFileSync(broken, readFileSync(job, 'utf8').replace('shutdown_delay = "5s"', 'shutdown_delay = "5s"\n          template {\n            data        = "x"\n            destination = "local/x"\n          }'))
  const bad = validate(broken)
  t.not(bad.code, 0, 'a template block in sidecar_task is rejected, so the check above can fail')
  t.match(bad.output, /template/i)
})
