/**
 * `timestamp(format)` reads Go layouts as Go does, so a consul-template
 * template prints the same text. The expected strings are what Go's
 * time.Format prints for 2009-11-10 23:04:05.120 UTC (Go's playground time).
 */
import t from 'tap'
import { formatGoTime, timestamp } from '../../../src/template/go-time.ts'

const d = new Date(Date.UTC(2009, 10, 10, 23, 4, 5, 120))

t.test('defaults: RFC3339 in UTC, and unix seconds', async (t) => {
  t.equal(timestamp(undefined, d), '2009-11-10T23:04:05Z')
  t.equal(timestamp('', d), '2009-11-10T23:04:05Z')
  t.equal(timestamp('unix', d), '1257894245')
  t.match(timestamp(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'now')
})

t.test("Go's own layouts", async (t) => {
  const cases: Array<[string, string]> = [
    ['2006-01-02', '2009-11-10'],
    ['Mon Jan _2 15:04:05 MST 2006', 'Tue Nov 10 23:04:05 UTC 2009'], // time.UnixDate
    ['02 Jan 06 15:04 -0700', '10 Nov 09 23:04 +0000'], // time.RFC822Z
    ['Monday, 02-Jan-06 15:04:05 MST', 'Tuesday, 10-Nov-09 23:04:05 UTC'], // time.RFC850
    ['Mon, 02 Jan 2006 15:04:05 -0700', 'Tue, 10 Nov 2009 23:04:05 +0000'], // time.RFC1123Z
    ['2006-01-02T15:04:05.999999999Z07:00', '2009-11-10T23:04:05.12Z'], // time.RFC3339Nano
    ['3:04PM', '11:04PM'], // time.Kitchen
    ['Jan _2 15:04:05.000', 'Nov 10 23:04:05.120'], // time.StampMilli
    ['2006-01-02 15:04:05.000000 -07:00', '2009-11-10 23:04:05.120000 +00:00'],
    ['January 2, 2006 3pm', 'November 10, 2009 11pm'],
    ['day 002, 1/2/06', 'day 314, 11/10/09'],
    ['20060102150405', '20091110230405'],
  ]
  for (const [layout, want] of cases) t.equal(formatGoTime(d, layout), want, layout)
})

t.test('literal text stays literal, as Go leaves it', async (t) => {
  t.equal(formatGoTime(d, 'Month: Jan'), 'Month: Nov', '`Mon` followed by a lower-case letter is text')
  t.equal(formatGoTime(d, 'at 15h'), 'at 23h')
  t.equal(formatGoTime(d, '.999'), '.12', 'a fraction trims trailing zeros')
  t.equal(formatGoTime(new Date(Date.UTC(2009, 0, 1)), '05.999|05.000'), '00|00.000', '...and its dot when nothing is left')
})
