/**
 * The intentions for one destination become the sidecar's authorization
 * table, in Consul's precedence order. Order and Action must survive parsing
 * untouched; an L7 intention (Permissions, no Action) must stay recognisable.
 * Bodies follow `GET /v1/connect/intentions/match?by=destination&name=web`.
 */
import t from 'tap'
import { IntentionsMatchDependency, parseIntentions } from '../../../src/dependency/intentions-match.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const match = {
  web: [
    { ID: '', Description: '', SourceNS: 'default', SourceName: 'api', DestinationNS: 'default', DestinationName: 'web', SourcePartition: 'default', DestinationPartition: 'default', SourceType: 'consul', Action: 'allow', Precedence: 9, CreateIndex: 30, ModifyIndex: 30 },
    {
      ID: '',
      SourceNS: 'default',
      SourceName: 'admin',
      DestinationNS: 'default',
      DestinationName: 'web',
      SourceType: 'consul',
      Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/admin' } }],
      Precedence: 9,
    },
    { ID: 'ed16f6a6-d863-1bec-af45-96bbdcbe02be', SourceNS: 'default', SourceName: '*', DestinationNS: 'default', DestinationName: 'web', SourceType: 'consul', Action: 'deny', Precedence: 8 },
  ],
}

t.test('keeps precedence order and Consul’s fields', async (t) => {
  const list = parseIntentions(match, 'web')
  t.same(
    list.map((i) => [i.SourceName, i.Action, i.Precedence]),
    [
      ['api', 'allow', 9],
      ['admin', '', 9],
      ['*', 'deny', 8],
    ],
  )
  t.match(list[0], { SourceNS: 'default', SourcePartition: 'default', SourcePeer: '', SourceType: 'consul', DestinationName: 'web', Permissions: [] })
  t.same(list[1]?.Permissions, [{ Action: 'allow', HTTP: { PathPrefix: '/admin' } }], 'an L7 intention keeps its permissions and has no Action')
  t.equal(list[2]?.ID, 'ed16f6a6-d863-1bec-af45-96bbdcbe02be')
})

t.test('no intentions for the destination is an empty table', async (t) => {
  t.same(parseIntentions({}, 'web'), [])
  t.same(parseIntentions({ web: null }, 'web'), [])
  t.same(parseIntentions(match, 'db'), [], 'only the asked destination is read')
})

t.test('bad shapes name the field', async (t) => {
  const cases: Array<[unknown, string]> = [
    [[], 'match is not an object'],
    [{ web: {} }, 'web is not an array'],
    [{ web: [{ DestinationName: 'web', Action: 'allow' }] }, '[0].SourceName is not a string'],
    [{ web: [{ SourceName: 'api', DestinationName: 'web', Action: 'allow', Precedence: '9' }] }, '[0].Precedence is not a number'],
    [{ web: [{ SourceName: 'api', DestinationName: 'web', Permissions: ['allow'] }] }, '[0].Permissions[0] is not an object'],
  ]
  for (const [body, message] of cases) t.throws(() => parseIntentions(body, 'web'), { message }, message)
})

t.test('fetch matches by destination through the agent\'s cache and validates', async (t) => {
  const calls: unknown[][] = []
  const client = (body: unknown) => recordingClient({ body, index: 31 }, calls).client
  const dep = new IntentionsMatchDependency('web')
  t.equal(dep.id, 'connect.intentions(web)')
  const res = await dep.fetch(client(match), { index: 30, waitMs: 60_000 })
  t.equal(res.index, 31)
  t.equal(res.data.length, 3)
  t.same(calls[0], ['/v1/connect/intentions/match', { by: 'destination', name: 'web', cached: '', stale: '' }, { index: 30, waitMs: 60_000, signal: undefined }])
  const err = await dep.fetch(client({ web: [{}] }), { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/connect/intentions/match: invalid response: [0].SourceName is not a string')
})
