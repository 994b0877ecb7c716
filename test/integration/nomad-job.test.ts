/**
 * Every job in nomad/ parses under Nomad's strict HCL2 rules, checked with a
 * real `nomad job validate` (Nomad v1.6.1, built by `scripts/provision`). The
 * same job with a `template` block in sidecar_task must be rejected, so the
 * check can fail. Without an agent, validate does not check a driver's
 * `config` block, and no test here can run the docker-driver job (no Docker
 * engine), so that job's docker settings are checked apart: what Nomad makes
 * of them (`nomad job run -output`, which submits nothing), and every key
 * against the config spec of the docker driver in the Nomad source that
 * scripts/provision built from.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
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

interface JobTask {
  Name: string
  Driver: string
  Config: Record<string, unknown>
  Env?: Record<string, string>
  KillSignal: string
  KillTimeout: number
}

/** The job as Nomad would submit it (parsed and defaulted locally; nothing is sent). */
const jobJson = (file: string) =>
  (JSON.parse(execFileSync(nomad, ['job', 'run', '-output', file], { encoding: 'utf8', env: { ...process.env, NOMAD_ADDR: 'http://127.0.0.1:1' } })) as {
    Job: { TaskGroups: Array<{ Name: string; Tasks: JobTask[]; Services: Array<{ Name: string; Connect: { SidecarTask: JobTask } }> }> }
  }).Job

/** The task config keys Nomad v1.6.1's docker driver accepts, from its source in the Go module cache; undefined when that is gone. */
function dockerConfigKeys(): Set<string> | undefined {
  try {
    const modcache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim()
    const spec = join(modcache, 'github.com/hashicorp/nomad@v1.6.1/drivers/docker/config.go')
    if (!existsSync(spec)) return undefined
    const source = readFileSync(spec, 'utf8')
    const body = source.slice(source.indexOf('taskConfigSpec = hclspec.NewObject('))
    return new Set([...body.slice(0, body.indexOf('\n\t})')).matchAll(/^\t\t"([a-z0-9_]+)":/gm)].map((m) => m[1]!))
  } catch {
    return undefined
  }
}

t.test('nomad/meshplate-mesh-docker.nomad.hcl: the image meshplate builds, in the group\'s network namespace', async (t) => {
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version
  const job = jobJson(join(repoRoot, 'nomad/meshplate-mesh-docker.nomad.hcl'))
  const keys = dockerConfigKeys()
  if (!keys) t.skip('the docker config keys are not checked: Nomad v1.6.1\'s source is not in the Go module cache (`bash scripts/provision` puts it there)')
  else t.ok(keys.has('image') && keys.has('entrypoint') && keys.size > 40, `read ${keys.size} docker config keys from Nomad's source`)
  for (const group of job.TaskGroups) {
    const service = group.Services[0]!
    const sidecar = service.Connect.SidecarTask
    t.equal(sidecar.Driver, 'docker', `${group.Name}: the sidecar task runs on the docker driver`)
    t.equal(sidecar.Config.image, `meshplate:${version}`, `${group.Name}: the image is meshplate:${version}, as README's docker build tags it`)
    t.same((sidecar.Config.args as string[]).slice(0, 3), ['sidecar', '--sidecar-for', service.Name], `${group.Name}: runs \`meshplate sidecar --sidecar-for ${service.Name}\``)
    t.notOk('network_mode' in sidecar.Config, `${group.Name}: no network_mode, so Nomad joins the sidecar to the group's namespace`)
    t.match(sidecar.Env?.CONSUL_HTTP_ADDR ?? '', /^http:\/\/\$\{attr\.unique\.network\.ip-address\}:/, `${group.Name}: Consul at the client's own address`)
    t.equal(sidecar.KillSignal, 'SIGTERM', `${group.Name}: stopped with SIGTERM`)
    t.equal(sidecar.KillTimeout, 15e9, `${group.Name}: within 15 s (test/e2e/image.test.ts stops the image within the same)`)
    for (const task of [sidecar, ...group.Tasks]) {
      t.equal(task.Driver, 'docker', `${group.Name}/${task.Name}: docker`)
      if (keys) t.same(Object.keys(task.Config).filter((k) => !keys.has(k)), [], `${group.Name}/${task.Name}: every config key is one the docker driver accepts`)
    }
  }
})
