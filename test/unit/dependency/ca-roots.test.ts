/**
 * `caRoots()` feeds the trust bundle of every sidecar. During a CA rotation
 * Consul returns two roots and both must be kept, or half the mesh stops
 * trusting the other half. Bodies here follow `GET /v1/agent/connect/ca/roots`.
 */
import t from 'tap'
import { CaRootsDependency, parseCaRoots } from '../../../src/dependency/ca-roots.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const PEM_A = '-----BEGIN CERTIFICATE-----\nMIICDTCCAbOgAwIBAgIBBzAKBggqhkjOPQQDAjAwMS4wLAYDVQQDEyVwcmktMTJh\n-----END CERTIFICATE-----\n'
const PEM_B = '-----BEGIN CERTIFICATE-----\nMIICDzCCAbWgAwIBAgIBCDAKBggqhkjOPQQDAjAwMS4wLAYDVQQDEyVwcmktOWJm\n-----END CERTIFICATE-----\n'
const PEM_I = '-----BEGIN CERTIFICATE-----\nMIICJzCCAc2gAwIBAgIBCTAKBggqhkjOPQQDAjAwMS4wLAYDVQQDEyVpbnQtMWM0\n-----END CERTIFICATE-----\n'

const rotating = {
  ActiveRootID: '9b:fe:31:0a',
  TrustDomain: '11111111-2222-3333-4444-555555555555.consul',
  Roots: [
    { ID: '12:a0:77:c3', Name: 'Consul CA Primary Cert', SerialNumber: 7, SigningKeyID: '5e:12', ExternalTrustDomain: '11111111-2222-3333-4444-555555555555', NotBefore: '2024-01-01T00:00:00Z', NotAfter: '2034-01-01T00:00:00Z', RootCert: PEM_A, IntermediateCerts: null, Active: false, PrivateKeyType: 'ec', PrivateKeyBits: 256, CreateIndex: 8, ModifyIndex: 40 },
    { ID: '9b:fe:31:0a', Name: 'Consul CA Primary Cert', SerialNumber: 8, SigningKeyID: '7a:01', ExternalTrustDomain: '11111111-2222-3333-4444-555555555555', NotBefore: '2024-06-01T00:00:00Z', NotAfter: '2034-06-01T00:00:00Z', RootCert: PEM_B, IntermediateCerts: [PEM_I], Active: true, PrivateKeyType: 'ec', PrivateKeyBits: 256, CreateIndex: 39, ModifyIndex: 39 },
  ],
}

t.test('keeps every root during a rotation', async (t) => {
  const roots = parseCaRoots(rotating)
  t.equal(roots.TrustDomain, '11111111-2222-3333-4444-555555555555.consul')
  t.equal(roots.ActiveRootID, '9b:fe:31:0a')
  t.same(roots.Roots, [
    { ID: '12:a0:77:c3', Name: 'Consul CA Primary Cert', RootCert: PEM_A, IntermediateCerts: [], Active: false },
    { ID: '9b:fe:31:0a', Name: 'Consul CA Primary Cert', RootCert: PEM_B, IntermediateCerts: [PEM_I], Active: true },
  ])
})

t.test('absent optional fields get neutral values', async (t) => {
  const roots = parseCaRoots({ TrustDomain: 'td.consul', Roots: [{ ID: 'r1', RootCert: PEM_A }] })
  t.same(roots, { ActiveRootID: '', TrustDomain: 'td.consul', Roots: [{ ID: 'r1', Name: '', RootCert: PEM_A, IntermediateCerts: [], Active: false }] })
  t.same(parseCaRoots({ TrustDomain: 'td.consul', Roots: null }).Roots, [])
})

t.test('bad shapes name the field', async (t) => {
  const cases: Array<[unknown, string]> = [
    [null, 'roots is not an object'],
    [{ ...rotating, TrustDomain: undefined }, 'TrustDomain is not a string'],
    [{ ...rotating, Roots: {} }, 'Roots is not an array'],
    [{ ...rotating, Roots: [rotating.Roots[0], { ...rotating.Roots[1], RootCert: null }] }, 'Roots[1].RootCert is not a string'],
    [{ ...rotating, Roots: [{ ...rotating.Roots[1], IntermediateCerts: [PEM_I, 5] }] }, 'Roots[0].IntermediateCerts[1] is not a string'],
    [{ ...rotating, Roots: [{ ...rotating.Roots[1], Active: 'true' }] }, 'Roots[0].Active is not a boolean'],
  ]
  for (const [body, message] of cases) t.throws(() => parseCaRoots(body), { message }, message)
})

t.test('fetch blocks on index and refuses a bad body naming the endpoint', async (t) => {
  const calls: unknown[][] = []
  const client = (body: unknown) => recordingClient({ body, index: 41 }, calls).client
  const dep = new CaRootsDependency()
  t.equal(dep.blocking, 'index')
  const res = await dep.fetch(client(rotating), { index: 40, waitMs: 60_000 })
  t.equal(res.index, 41)
  t.equal(res.data.Roots.length, 2)
  t.same(calls[0], ['/v1/agent/connect/ca/roots', {}, { index: 40, waitMs: 60_000, signal: undefined }])
  const err = await dep.fetch(client({ Roots: [] }), { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/connect/ca/roots: invalid response: TrustDomain is not a string')
})
