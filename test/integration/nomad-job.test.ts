/**
 * Every job in nomad/ parses under Nomad's strict HCL2 rules, checked with a
 * real `nomad job validate` (Nomad v1.6.1, built by `scripts/provision`). The
 * same job with a `template` block in sidecar_task must be rejected, so the
 * check can fail.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { binary, repoRoot } from '../support/binaries.ts'

const nomad = binary('nomad')
const jobs = readdirSync(join(repoRoot, 'nomad')).filter((f) => f.endsWith('.nomad.hcl'))

const validate = (file: string) => {
  try {
    return { code: 0, output: execFileSync(nomad, ['job', 'validate', file], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, NOMAD_ADDR: 'http://127.0.0.1:1' } }) }
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string }
    return { code: e.status, output: `${e.stdout}${e.stderr}` }
  }
}

t.ok(jobs.length >= 1, `jobs to validate: ${jobs.join(', ')}`)
for (const name of jobs) {
  t.test(`nomad job validate accepts nomad/${name}`, async (t) => {
    const job = join(repoRoot, 'nomad', name)
    const ok = validate(job)
    t.equal(ok.code, 0, ok.output)
    t.match(ok.output, /Job validation successful/)
    // The same job with a `template` block in sidecar_task, which Nomad does not allow there (nomad#17987).
    const broken = join(t.testdir(), 'broken.nomad.hcl')
    writeFileSync(broken, readFileSync(job, 'utf8').replace(/shutdown_delay = "5s"/, 'shutdown_delay = "5s"\n          template {\n            data        = "x"\n            destination = "local/x"\n          }'))
    const bad = validate(broken)
    t.not(bad.code, 0, 'a template block in sidecar_task is rejected, so the check above can fail')
    t.match(bad.output, /template/i)
  })
}
