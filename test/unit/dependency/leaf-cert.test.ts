/**
 * The leaf certificate and its key become the sidecar's TLS identity. A body
 * without a usable certificate must be refused at the boundary, never written
 * out as an empty or garbage PEM. Bodies follow
 * `GET /v1/agent/connect/ca/leaf/<service>`.
 */
import t from 'tap'
import { LeafCertDependency, parseLeafCert } from '../../../src/dependency/leaf-cert.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const leaf = {
  SerialNumber: '4a:1c:9e:02',
  CertPEM: '-----BEGIN CERTIFICATE-----\nMIICGTCCAb+gAwIBAgIBCjAKBggqhkjOPQQDAjAwMS4wLAYDVQQDEyVwcmktMTJh\n-----END CERTIFICATE-----\n',
  PrivateKeyPEM: '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB8mZ6Qn4Vd1yQ==\n-----END EC PRIVATE KEY-----\n',
  Service: 'web',
  ServiceURI: 'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web',
  ValidAfter: '2024-06-01T10:00:00Z',
  ValidBefore: '2024-06-04T10:00:00Z',
  CreateIndex: 61,
  ModifyIndex: 61,
}

t.test('parses the leaf with Consul’s field names', async (t) => {
  t.same(parseLeafCert(leaf), {
    SerialNumber: '4a:1c:9e:02',
    CertPEM: leaf.CertPEM,
    PrivateKeyPEM: leaf.PrivateKeyPEM,
    Service: 'web',
    ServiceURI: 'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web',
    ValidAfter: '2024-06-01T10:00:00Z',
    ValidBefore: '2024-06-04T10:00:00Z',
    ModifyIndex: 61,
  })
})

t.test('a body without a certificate or key is refused at the boundary', async (t) => {
  const client = (body: unknown) => recordingClient({ body, index: 62 }).client
  const dep = new LeafCertDependency('web')
  const cases: Array<[unknown, string]> = [
    [{ ...leaf, CertPEM: '' }, 'CertPEM holds no certificate'],
    [{ ...leaf, CertPEM: 'not a pem' }, 'CertPEM holds no certificate'],
    [{ ...leaf, PrivateKeyPEM: undefined }, 'PrivateKeyPEM is not a string'],
    [{ ...leaf, SerialNumber: 1234 }, 'SerialNumber is not a string'],
    ['<html>', 'leaf is not an object'],
  ]
  for (const [body, detail] of cases) {
    const err = await dep.fetch(client(body), { waitMs: 1 }).catch((e: unknown) => e)
    t.ok(err instanceof ConsulResponseError, detail)
    t.equal((err as Error).message, `consul GET /v1/agent/connect/ca/leaf/web: invalid response: ${detail}`)
  }
})

t.test('fetch asks for the service name and blocks on index', async (t) => {
  const { client, calls } = recordingClient({ body: leaf, index: 62 })
  const dep = new LeafCertDependency('web')
  t.equal(dep.id, 'connect.leaf(web)')
  t.equal(dep.blocking, 'index')
  const res = await dep.fetch(client, { index: 61, waitMs: 60_000 })
  t.equal(res.index, 62)
  t.equal(res.data.Service, 'web')
  t.same(calls[0], ['/v1/agent/connect/ca/leaf/web', {}, { index: 61, waitMs: 60_000, signal: undefined }])
})
