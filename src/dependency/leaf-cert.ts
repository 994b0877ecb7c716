/**
 * `leafCert()`: the service's Connect leaf certificate and key from the local
 * agent, which renews it before expiry and after a root rotation. The blocking
 * query returns at exactly that moment, so the file follows the rotation.
 */
import type { ConsulClient } from '../consul/client.ts'
import { obj, optNum, optStr, SchemaError, str } from '../consul/schema.ts'
import { seg, validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface LeafCert {
  SerialNumber: string
  CertPEM: string
  PrivateKeyPEM: string
  Service: string
  ServiceURI: string
  ValidAfter: string
  ValidBefore: string
  ModifyIndex: number
}

export function parseLeafCert(body: unknown): LeafCert {
  const b = obj(body, 'leaf')
  const leaf: LeafCert = {
    SerialNumber: str(b.SerialNumber, 'SerialNumber'),
    CertPEM: str(b.CertPEM, 'CertPEM'),
    PrivateKeyPEM: str(b.PrivateKeyPEM, 'PrivateKeyPEM'),
    Service: optStr(b.Service, 'Service'),
    ServiceURI: optStr(b.ServiceURI, 'ServiceURI'),
    ValidAfter: optStr(b.ValidAfter, 'ValidAfter'),
    ValidBefore: optStr(b.ValidBefore, 'ValidBefore'),
    ModifyIndex: optNum(b.ModifyIndex, 'ModifyIndex'),
  }
  if (!leaf.CertPEM.includes('BEGIN CERTIFICATE')) throw new SchemaError('CertPEM holds no certificate')
  return leaf
}

/** Watches `GET /v1/agent/connect/ca/leaf/<service name>`. */
export class LeafCertDependency implements Dependency<LeafCert> {
  readonly id: string
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent' as const
  constructor(readonly service: string) {
    this.id = `connect.leaf(${service})`
  }

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<LeafCert>> {
    const path = `/v1/agent/connect/ca/leaf/${seg(this.service)}`
    const res = await client.get(path, {}, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseLeafCert), index: res.index, meta: res.meta }
  }
}
