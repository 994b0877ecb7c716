/**
 * HAProxy is started through setpriv's parent-death signal when setpriv is
 * found, and unchanged when it is not.
 */
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { dieWithParent } from '../../../src/sidecar/die-with-parent.ts'

t.test('setpriv on the PATH guards the command', async (t) => {
  const dir = t.testdir({})
  writeFileSync(join(dir, 'setpriv'), '#!/bin/sh\n')
  chmodSync(join(dir, 'setpriv'), 0o755)
  t.same(dieWithParent(['haproxy', '-W'], `/nonexistent:${dir}`), [join(dir, 'setpriv'), '--pdeathsig', 'SIGTERM', 'haproxy', '-W'])
})

t.test('without setpriv the command is unchanged', async (t) => {
  t.same(dieWithParent(['haproxy', '-W'], t.testdir({})), ['haproxy', '-W'])
})
