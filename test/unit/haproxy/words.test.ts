/**
 * The two ways a value reaches an HAProxy config line: a time, and a quoted
 * word. A value HAProxy would read as something else (a line break, `$`)
 * must fail here or be escaped, never reach `haproxy -c` as a garbled line.
 */
import t from 'tap'
import { ProxySettingsError } from '../../../src/errors.ts'
import { haproxyQuote, haproxyTime } from '../../../src/haproxy/words.ts'

t.test('HAProxy words', async (t) => {
  t.equal(haproxyTime(15_000), '15000ms')
  t.equal(haproxyTime(0.5), '1ms', 'sub-millisecond rounds up, never to 0 (which HAProxy reads as no timeout)')
  t.equal(haproxyTime(0), '24d', 'no timeout: HAProxy\'s longest timer')
  t.equal(haproxyTime(3e9), '24d')
  t.equal(haproxyQuote('a "b" \\c $HOME #d'), '"a \\"b\\" \\\\c \\$HOME #d"')
  t.throws(() => haproxyQuote('a\nb'), { message: '"a\\nb" holds a line break or NUL, which an HAProxy config line cannot' })
  t.throws(() => haproxyQuote('a\0b'), ProxySettingsError, 'a PROXY_CONFIG_INVALID error, as the setting it came from')
})
