#!/usr/bin/env node
// `node bench/footprint/run.mjs [--churn 10m] [--quick] [--no-write]`: what a
// meshplate sidecar holds. Prints, and writes as the "## Footprint" section of
// bench/RESULTS.md, three tables with the targets of the footprint issue and a
// verdict per row:
//   - import costs: RSS a bare node process gains per package and per command
//     entry point, with V8's defaults and with meshplate's flags (imports.mjs);
//   - the whole sidecar (meshplate + HAProxy master + worker), RSS and PSS:
//     idle, through `--churn` of instance joins/leaves and intention flips
//     (bounded; default 10 min, 1 min with --quick), with 1,000 instances;
//     beside it the same sidecar with V8's defaults and Consul's built-in proxy;
//   - the meshplate process alone in each of those states.
// Everything runs on loopback against a real `consul agent -dev` and HAProxy.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseDuration } from '../../dist/config/duration.js'
import { killAllNow } from '../dataplane/lib/procs.mjs'
import { machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { buildDist, sleep, until, writeSection } from '../lib/shared.mjs'
import { measureImports } from './imports.mjs'
import { churn, moveOne, peakMb, pssMb, registerMany, SETTLE_MS, sidecarMemory, startConsulProxy, startMesh, startSidecar, stop } from './sidecar.mjs'
import { rssMb } from '../dataplane/lib/procs.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const churnArg = argv.includes('--churn') ? argv[argv.indexOf('--churn') + 1] : quick ? '1m' : '10m'
const log = (m) => process.stderr.write(`[bench/footprint] ${m}\n`)
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—')

/** Target rows: [label, value, target, unit]; the verdict says by how much a target is missed. */
function verdict(value, target) {
  if (!Number.isFinite(value)) return 'not measured'
  return value <= target ? 'met' : `**missed** by ${f1(value - target)} MB (${(value / target).toFixed(2)}× the target)`
}

async function main() {
  buildDist(root, 'bench/footprint')
  const bins = requirePeers(root)
  const M = machine(root, bins)
  const started = Date.now()
  log('import costs')
  const imports = measureImports(root, quick ? 1 : 3)
  const work = mkdtempSync('/tmp/mpfp-')
  process.on('exit', killAllNow)
  const consul = await startMesh(bins, work)
  try {
    log('web sidecar without the shebang flag, idle 30 s')
    const plain = await startSidecar(root, bins, work, consul, 'plain', [])
    await sleep(30_000)
    const plainIdle = sidecarMemory(plain)
    await stop(plain)

    log('Consul built-in proxy for the same service, idle 30 s')
    const cproxy = await startConsulProxy(bins, work, consul)
    await sleep(27_000)
    const consulIdle = { rss: rssMb(cproxy.pid), pss: pssMb(cproxy.pid) }
    await stop(cproxy)

    log('web sidecar as shipped (NODE_FLAGS), idle 30 s')
    const sc = await startSidecar(root, bins, work, consul, 'shipped')
    await sleep(30_000)
    const idle = sidecarMemory(sc)
    const churnMs = parseDuration(churnArg, '--churn')
    log(`churn for ${churnArg}`)
    const ch = await churn(consul, churnMs, () => sidecarMemory(sc))
    const afterChurn = ch.samples.at(-1)
    const maxChurn = Math.max(...ch.samples.map((s) => s.whole.rss))

    log('1,000 api instances')
    const t0 = Date.now()
    await registerMany(consul, 1000)
    const cfg = join(work, 'shipped', 'haproxy.cfg')
    await until(() => (readFileSync(cfg, 'utf8').match(/ 127\.0\.0\.1:3\d{4} /g) ?? []).length >= 1000, 120_000, '1,000 instances in web\'s haproxy.cfg', 500)
    const renderedIn = Date.now() - t0
    await sleep(SETTLE_MS)
    const many = sidecarMemory(sc)
    for (let i = 0; i < 20; i++) {
      await moveOne(consul, i, 40_000 + i)
      await sleep(300)
    }
    await until(() => readFileSync(cfg, 'utf8').includes(':40019 '), 30_000, 'the 20th change rendered', 200)
    await sleep(SETTLE_MS)
    const manyAfter = sidecarMemory(sc)
    const manyPeak = peakMb(sc.pid)
    await stop(sc)

    const R = { M, imports, plainIdle, consulIdle, idle, afterChurn, maxChurn, churn: { label: churnArg, changes: ch.changes, samples: ch.samples.length }, many, manyAfter, manyPeak, renderedIn, seconds: (Date.now() - started) / 1000, loadEnd: loadavg().map((l) => l.toFixed(2)).join(' ') }
    const section = report(R)
    process.stdout.write(`${section}\n`)
    if (!argv.includes('--no-write')) {
      writeSection(join(root, 'bench/RESULTS.md'), 'Footprint', section)
      log('wrote the Footprint section of bench/RESULTS.md')
    }
  } finally {
    await stop(consul.proc)
    rmSync(work, { recursive: true, force: true })
  }
}

function report(R) {
  const row = (cells) => `| ${cells.join(' | ')} |`
  const whole = (m) => [f1(m.meshplate.rss), f1(m.master.rss), f1(m.worker.rss), `**${f1(m.whole.rss)}**`, f1(m.meshplate.pss), f1(m.master.pss), f1(m.worker.pss), `**${f1(m.whole.pss)}**`]
  const out = [
    '## Footprint',
    '',
    `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`node bench/footprint/run.mjs${quick ? ' --quick' : ''}\` (${Math.round(R.seconds)} s). Machine: ${R.M.nproc} CPUs (${R.M.cpu}), ${R.M.memory}, Linux ${R.M.kernel}; Node.js ${R.M.node}; ${R.M.haproxy}; ${R.M.consul}; meshplate at ${R.M.commit}. meshplate runs with \`${'--max-semi-space-size=1'}\` (its shebang's flags) unless a row says "without the shebang flag"; \`sidecar\` and \`run\` also set V8's \`--optimize-for-size\` at start (src/runner/idle-gc.ts), in every row. In the import-cost table "V8 defaults" means no flag at all.`,
    '',
    '### Whole sidecar (MB; web with one upstream, loopback)',
    '',
    row(['State', 'meshplate RSS', 'HAProxy master RSS', 'worker RSS', 'whole RSS', 'meshplate PSS', 'master PSS', 'worker PSS', 'whole PSS']),
    row(Array(9).fill('---')),
    row(['idle, without the shebang flag', ...whole(R.plainIdle)]),
    row(['idle, as shipped', ...whole(R.idle)]),
    row([`after ${R.churn.label} of churn (${R.churn.changes} changes)`, ...whole(R.afterChurn)]),
    row(['1,000 api instances, rendered', ...whole(R.many)]),
    row(['1,000 instances, after 20 changes', ...whole(R.manyAfter)]),
    row(['Consul built-in proxy (`consul connect proxy`), idle', '—', '—', '—', `**${f1(R.consulIdle.rss)}**`, '—', '—', '—', `**${f1(R.consulIdle.pss)}**`]),
    '',
    '### Targets',
    '',
    row(['Measure', 'Value', 'Target', 'Verdict']),
    row(Array(4).fill('---')),
    row(['whole sidecar RSS, idle', f1(R.idle.whole.rss), '≤ 60', verdict(R.idle.whole.rss, 60)]),
    row(['whole sidecar PSS, idle', f1(R.idle.whole.pss), '≤ 40', verdict(R.idle.whole.pss, 40)]),
    row([`whole sidecar RSS, after ${R.churn.label} of churn (highest sampled)`, `${f1(R.afterChurn.whole.rss)} (${f1(R.maxChurn)})`, '≤ 60', verdict(R.maxChurn, 60)]),
    row([`whole sidecar PSS, after ${R.churn.label} of churn`, f1(R.afterChurn.whole.pss), '≤ 40', verdict(R.afterChurn.whole.pss, 40)]),
    row(['meshplate process, sidecar mode, idle', f1(R.idle.meshplate.rss), '≤ 45', verdict(R.idle.meshplate.rss, 45)]),
    row(['meshplate process, 1,000 instances, peak RSS (VmHWM)', f1(R.manyPeak), '≤ 70', verdict(R.manyPeak, 70)]),
    '',
    '### Import costs (VmRSS of a fresh `node` that imports it and idles 300 ms; MB)',
    '',
    row(['Imported', 'V8 defaults', 'added', `with ${'--max-semi-space-size=1'}`, 'added']),
    row(Array(5).fill('---')),
    ...R.imports.map((r) => row([r.label, f1(r.plain), f1(r.addPlain), f1(r.flagged), f1(r.addFlagged)])),
    '',
    '### Notes',
    '',
    `- Method: one \`consul agent -dev\`; \`web\` (HTTP) with an upstream to \`api\`; web's sidecar started by \`node ${'--max-semi-space-size=1'} dist/cli.js sidecar\` (or without the flag), measured after 30 s idle. RSS = VmRSS, PSS = Pss from /proc/<pid>/smaps_rollup (pages shared between processes, such as HAProxy master and worker, split between them). Churn: every 2 s a second api instance joins or leaves, every 30 s the web → api intention flips, sampled once a minute (${R.churn.samples} samples; the last ${SETTLE_MS / 1000} s after the last change, as are the 1,000-instance rows: meshplate collects garbage 2 s after its last batch, at most once per 5 s). 1,000 instances: connect-proxy registrations on 1,000 catalog nodes, rendered into web's config in ${(R.renderedIn / 1000).toFixed(1)} s (slots grow to 1,024: one reload), then 20 of them moved to a new port 300 ms apart; "peak RSS" is meshplate's VmHWM since its start.`,
    `- Consul's built-in proxy serves the same shape (a registration \`web2\` with the same upstream), idle: one Go process.`,
    `- Load average at start / end: ${R.M.loadStart} / ${R.loadEnd}.`,
  ]
  return out.join('\n')
}

main().catch((err) => {
  console.error(`bench/footprint: ${err.message}`)
  process.exitCode = 1
})
