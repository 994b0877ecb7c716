import t from 'tap'
import { parseWait } from '../../../src/config/duration.ts'
t.same(parseWait('5s'), { minMs: 5000, maxMs: 20000 })
