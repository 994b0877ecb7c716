// Turns the measurements into the Markdown table printed to stdout and into
// the "Renderer" section of bench/RESULTS.md, leaving every other section of
// that file (the dataplane benchmark's, for one) exactly as it was.
import { fmt, median, medP90, ratio } from './stats.mjs'
import { writeSection } from '../../lib/shared.mjs'

const MP = 'meshplate'
const CT = 'consul-template'

function verdictAtMost(value, limit, unit) {
  if (!Number.isFinite(value)) return 'n/a'
  return value <= limit ? 'met' : `**missed** by ${fmt(value - limit, unit)} (${ratio(value, limit)} of target)`
}

function verdictVsCt(mp, ct) {
  if (!Number.isFinite(mp) || !Number.isFinite(ct)) return 'n/a'
  return mp <= ct ? 'met' : `**missed**: +${fmt(mp - ct, ' ms')} (${ratio(mp, ct)})`
}

/** Table rows: [measure, meshplate, consul-template, ratio mp/ct, target, verdict]. */
export function rows(R) {
  const pick = (obj, key, field) => obj.byTool[key][field]
  const firstMp = median(pick(R.firstRun, MP, 'file'))
  const row = (measure, mpList, ctList, target = '', verdict = '', unit = ' ms') => [
    measure, medP90(mpList, unit), medP90(ctList, unit), ratio(median(mpList), median(ctList)), target, verdict,
  ]
  const churn = Object.fromEntries(R.churn.map((c) => [c.key, c]))
  const bigMem = Object.fromEntries(R.big.watch.map((c) => [c.key, c]))
  const n = (x) => x.length
  const all = (key) => [...R.latency.kv.lat[key], ...R.latency.reg.lat[key]]
  return [
    row(`First render, run mode (median of ${n(pick(R.firstRun, MP, 'file'))})`, pick(R.firstRun, MP, 'file'), pick(R.firstRun, CT, 'file'), '≤ 1 s', verdictAtMost(firstMp, 1000, ' ms')),
    row('First render, once mode: file on disk', pick(R.firstOnce, MP, 'file'), pick(R.firstOnce, CT, 'file'), '≤ 100 ms', verdictAtMost(median(pick(R.firstOnce, MP, 'file')), 100, ' ms')),
    row('Once mode: process exit', pick(R.firstOnce, MP, 'exit'), pick(R.firstOnce, CT, 'exit')),
    row('Once mode: peak RSS (VmHWM)', pick(R.firstOnce, MP, 'hwm'), pick(R.firstOnce, CT, 'hwm'), '≤ 50 MB', verdictAtMost(median(pick(R.firstOnce, MP, 'hwm')), 50, ' MB'), ' MB'),
    row(`Change → file, KV PUT (median of ${n(R.latency.kv.lat[MP])})`, R.latency.kv.lat[MP], R.latency.kv.lat[CT], '≤ consul-template', verdictVsCt(median(R.latency.kv.lat[MP]), median(R.latency.kv.lat[CT]))),
    row(`Change → file, new instance (median of ${n(R.latency.reg.lat[MP])})`, R.latency.reg.lat[MP], R.latency.reg.lat[CT], '≤ consul-template', verdictVsCt(median(R.latency.reg.lat[MP]), median(R.latency.reg.lat[CT]))),
    row('Change → file, all changes', all(MP), all(CT), '≤ consul-template', verdictVsCt(median(all(MP)), median(all(CT)))),
    [`CPU time over ${fmt(churn[MP].windowS, ' s')} of churn (${churn[MP].changes} changes, 1 per 100 ms)`,
      `${fmt(churn[MP].cpu, ' s')} (${fmt((100 * churn[MP].cpu) / churn[MP].windowS, '%')} of a core)`,
      `${fmt(churn[CT].cpu, ' s')} (${fmt((100 * churn[CT].cpu) / churn[CT].windowS, '%')} of a core)`,
      ratio(churn[MP].cpu, churn[CT].cpu), '', ''],
    ['Peak RSS (VmHWM) over that churn', fmt(churn[MP].hwm, ' MB'), fmt(churn[CT].hwm, ' MB'), ratio(churn[MP].hwm, churn[CT].hwm), '≤ 80 MB', verdictAtMost(churn[MP].hwm, 80, ' MB')],
    ['Files written during churn (inotify renames)', `${churn[MP].renders}${churn[MP].caughtUp ? '' : ' (fell behind)'}`, `${churn[CT].renders}${churn[CT].caughtUp ? '' : ' (fell behind)'}`, ratio(churn[MP].renders, churn[CT].renders), '', ''],
    row(`1,000 instances: once mode, wall time to exit (median of ${n(pick(R.big.once, MP, 'exit'))})`, pick(R.big.once, MP, 'exit'), pick(R.big.once, CT, 'exit')),
    [`1,000 instances: pure render in-process (median of ${R.big.inproc.runs})`, `${fmt(R.big.inproc.renderMedianMs, ' ms')} (p90 ${fmt(R.big.inproc.renderP90Ms)})`, 'not measurable', '', '≤ 50 ms', verdictAtMost(R.big.inproc.renderMedianMs, 50, ' ms')],
    row(`1,000 instances: change → file, run mode (median of ${n(R.big.latency.lat[MP])})`, R.big.latency.lat[MP], R.big.latency.lat[CT], '≤ consul-template', verdictVsCt(median(R.big.latency.lat[MP]), median(R.big.latency.lat[CT]))),
    ['1,000 instances: peak RSS (VmHWM), run mode', fmt(bigMem[MP].hwm, ' MB'), fmt(bigMem[CT].hwm, ' MB'), ratio(bigMem[MP].hwm, bigMem[CT].hwm), '≤ 70 MB', verdictAtMost(bigMem[MP].hwm, 70, ' MB')],
  ]
}

/** A Markdown table from rows. */
export function table(R) {
  const head = ['Measure', 'meshplate', 'consul-template', 'ratio (mp/ct)', 'Target (meshplate)', 'Verdict']
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows(R).map(line)].join('\n')
}

const bigMem = (R, key) => R.big.watch.find((c) => c.key === key)

/** What `node --liftoff-only` (no optimising tier for WebAssembly, i.e. undici's llhttp) changes in meshplate's once-mode peak. */
function liftoffNote(R) {
  const base = median(R.firstOnce.byTool[MP].hwm)
  const liftoff = median(R.liftoff)
  const start = `- Peak RSS at start: bare \`node -e 0\` ${fmt(median(R.baselineNode.hwm), ' MB')}; Node.js importing yargs and dist/commands/run.js, doing nothing, ${fmt(median(R.baselineImports.hwm), ' MB')}; meshplate at its first render in run mode ${fmt(median(R.firstRun.byTool[MP].hwm), ' MB')}.`
  const diff = base - liftoff
  const wasm = Math.abs(diff) >= 5
    ? ` \`meshplate once\` peaks at ${fmt(base, ' MB')}, and at ${fmt(liftoff, ' MB')} under \`node --liftoff-only\`: about ${fmt(diff, ' MB')} of the peak is V8 optimising undici's llhttp WebAssembly parser.`
    : ` \`node --liftoff-only\` (no optimising tier for undici's llhttp WebAssembly) changes \`meshplate once\`'s peak by ${fmt(diff, ' MB')} (${fmt(base, ' MB')} → ${fmt(liftoff, ' MB')}): WebAssembly tier-up is not part of it.`
  return start + wasm
}

/** The computed notes under the table: method, breakdowns, caveats. */
export function notes(R) {
  const ip = R.big.inproc
  const mpFirst = median(R.firstRun.byTool[MP].file)
  const timeouts = R.latency.kv.timeouts + R.latency.reg.timeouts + R.big.latency.timeouts
  return [
    `- Method: one \`consul agent -dev\` (${R.machine.consul}) on loopback; both tools against it with no quiescence (consul-template \`-wait=0s\`, meshplate's default), \`log-level warn\`, equivalent templates in \`bench/renderer/templates/\` whose outputs are checked byte-identical before timing. Values are medians with p90 in brackets; ratio > 1 means meshplate is slower or bigger. Starts alternate which tool goes first, after one discarded warm-up each; change and churn phases run both tools at the same time on the same data.`,
    `- Start-up (timed between the run-mode pairs, so under the same load): bare \`node -e 0\` takes ${fmt(median(R.baselineNode.times), ' ms')}; Node.js importing what \`meshplate run\` loads before any work (yargs and dist/commands/run.js) ${fmt(median(R.baselineImports.times), ' ms')}, against meshplate's ${fmt(mpFirst, ' ms')} to a first render in run mode. The rest is the first Consul round trips, rendering and the atomic write.`,
    `- Changes: ${R.latency.kv.lat[MP].length} KV PUTs of \`bench/version\` and ${R.latency.reg.lat[MP].length} catalog registrations of new \`api\` instances, 200–300 ms apart, timed from just before the PUT to the new content seen on disk (inotify, with a 2 ms stat poll as backup). Timeouts (5 s): ${timeouts}.`,
    `- Churn: alternately a KV PUT and a re-registration of one \`api\` instance with a new port, one every 100 ms; CPU = utime+stime from /proc/<pid>/stat over the window, RSS = VmHWM from /proc/<pid>/status (peak since start, so start-up is included; highest sampled VmRSS: meshplate ${fmt(R.churn.find((c) => c.key === MP).maxRss, ' MB')}, consul-template ${fmt(R.churn.find((c) => c.key === CT).maxRss, ' MB')}).`,
    liftoffNote(R),
    `- Memory with 1,000 instances in run mode: VmHWM at the first render ${fmt(bigMem(R, MP).hwmStart, ' MB')} → ${fmt(bigMem(R, MP).hwm, ' MB')} after the ${R.big.latency.lat[MP].length} changes for meshplate; ${fmt(bigMem(R, CT).hwmStart, ' MB')} → ${fmt(bigMem(R, CT).hwm, ' MB')} for consul-template. Each change brings a new ${fmt(ip.responseBytes / 1024, ' KiB')} answer that meshplate reads as text, digests, parses and validates.`,
    `- Write cost (same machine, in-process, the two interleaved): meshplate's \`atomicWrite\` of a ~1 KB file takes ${fmt(ip.atomicWriteMs.median, ' ms')} (p90 ${fmt(ip.atomicWriteMs.p90)}); a bare synchronous write+fsync+rename, the sequence of consul-template's renderer.go, ${fmt(ip.bareWriteMs.median, ' ms')} (p90 ${fmt(ip.bareWriteMs.p90)}).`,
    `- 1,000 instances: ${R.big.instances} instances of \`big\`, each on its own catalog node, registered in ${fmt(R.big.registerS, ' s')}. The health answer is ${fmt(ip.responseBytes / 1024, ' KiB')}; the rendered file ${fmt(ip.outputBytes / 1024, ' KiB')}. In-process (meshplate's dist/, fresh process, brain filled with that real answer): template compile ${fmt(ip.compileMs, ' ms')}, first render ${fmt(ip.coldRenderMs, ' ms')}, then median ${fmt(ip.renderMedianMs, ' ms')} (min ${fmt(ip.renderMinMs)}) over ${ip.runs} renders. Per change a View also pays JSON.parse ${fmt(ip.jsonParseMs, ' ms')}, validation (parseHealthEntries) ${fmt(ip.validateMs, ' ms')} and the dedupe: the SHA-1 digest of the answer's text ${fmt(ip.digestMs, ' ms')}, where the deep-equal walk it replaced (kept for answers that are not one body) takes ${fmt(ip.deepEqualMs, ' ms')}. consul-template's own render time cannot be isolated from outside the process.`,
    `- The 1,000-instance change test re-registers one instance with a new port ${R.big.latency.lat[MP].length} times, 200–300 ms apart, both tools watching; CPU over it: meshplate ${fmt(R.big.watch.find((c) => c.key === MP).cpu, ' s')}, consul-template ${fmt(R.big.watch.find((c) => c.key === CT).cpu, ' s')}.`,
    `- Load average at start / end: ${R.machine.loadStart} / ${R.machine.loadEnd} (a shared, noisy machine: compare ratios, not absolute values, between runs).`,
  ].join('\n')
}

/** The whole "## Renderer" section. */
export function section(R) {
  const m = R.machine
  return [
    '## Renderer',
    '',
    `Run ${R.date} by \`node bench/renderer/run.mjs\` (${R.totalS.toFixed(0)} s). Machine: ${m.nproc} CPUs (\`nproc\`; ${m.cpu}), ${m.memory}, Linux ${m.kernel}; Node.js ${m.node}; ${m.consul}; ${m.consulTemplate}; meshplate at ${m.commit}.`,
    '',
    table(R),
    '',
    notes(R),
    '',
  ].join('\n')
}

/** Replaces (or adds) the "## Renderer" section of RESULTS.md, keeping the rest. */
export function writeResults(file, sectionText) {
  writeSection(file, 'Renderer', sectionText)
}
