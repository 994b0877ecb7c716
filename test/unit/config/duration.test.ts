/**
 * Durations are typed by hand in flags and config files (`--wait 2s:10s`,
 * `"commandTimeout": "1m30s"`). A wrong value must be refused with the flag
 * named, never read as zero or as a surprise unit.
 */
import t from 'tap'
import { parseDuration, parseWait } from '../../../src/config/duration.ts'

t.test('parseDuration reads units, compounds and bare seconds', async (t) => {
  const cases: Array<[string | number, number]> = [
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['0s', 0],
    ['10', 10_000],
    ['0.5', 500],
    [' 5s ', 5_000],
    [30, 30_000],
    [0.25, 250],
  ]
  for (const [input, ms] of cases) t.equal(parseDuration(input, '--timeout'), ms, JSON.stringify(input))
})

t.test('parseDuration refuses what is not a duration, naming the field', async (t) => {
  for (const bad of ['', 'abc', '5 s', '5sec', '-5s', '5s junk', 's', '1d', '5S']) {
    t.throws(() => parseDuration(bad, 'templates[0].commandTimeout'), { name: 'ConfigError', code: 'CONFIG_INVALID', message: /^templates\[0\]\.commandTimeout: / }, JSON.stringify(bad))
  }
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => parseDuration(bad, '--timeout'), { code: 'CONFIG_INVALID', message: /^--timeout: / }, String(bad))
  }
})

t.test('parseWait takes min:max, and max defaults to 4 x min', async (t) => {
  t.same(parseWait('2s:10s'), { minMs: 2_000, maxMs: 10_000 })
  t.same(parseWait('500ms'), { minMs: 500, maxMs: 2_000 })
  t.same(parseWait('3'), { minMs: 3_000, maxMs: 12_000 })
  t.same(parseWait('1s:1s'), { minMs: 1_000, maxMs: 1_000 })
  t.same(parseWait('0s'), { minMs: 0, maxMs: 0 })
})

t.test('parseWait errors name the flag', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /^--wait: "" is not min\[:max\]/],
    [':5s', /^--wait: ":5s" is not min\[:max\]/],
    ['1s:2s:3s', /^--wait: "1s:2s:3s" is not min\[:max\]/],
    ['10s:5s', /^--wait: max 5s is below min 10s/],
    ['soon', /^--wait: "soon" is not a duration/],
    ['1s:later', /^--wait: "later" is not a duration/],
  ]
  for (const [input, message] of cases) {
    t.throws(() => parseWait(input), { name: 'ConfigError', code: 'CONFIG_INVALID', message }, JSON.stringify(input))
  }
  t.throws(() => parseWait('x', 'templates[1].wait'), { message: /^templates\[1\]\.wait: / }, 'a custom field name is used')
})
