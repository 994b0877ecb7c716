/**
 * `caRoots()`: every trusted Connect CA root. During a rotation there are two
 * and both must be trusted, so templates get the whole list, never one root.
 */
import type { ConsulClient } from '../consul/client.ts'
import { arr, bool, obj, optStr, str, strList } from '../consul/schema.ts'
import { validate, type Dependency, type FetchOptions, type FetchResult } from './dependency.ts'

export interface CaRoot {
  ID: string
  Name: string
  RootCert: string
  IntermediateCerts: string[]
  Active: boolean
}

export interface CaRoots {
  ActiveRootID: string
  TrustDomain: string
  Roots: CaRoot[]
}

export function parseCaRoots(body: unknown): CaRoots {
  const b = obj(body, 'roots')
  return {
    ActiveRootID: optStr(b.ActiveRootID, 'ActiveRootID'),
    TrustDomain: str(b.TrustDomain, 'TrustDomain'),
    Roots: arr(b.Roots, 'Roots').map((r, i) => {
      const root = obj(r, `Roots[${i}]`)
      return {
        ID: str(root.ID, `Roots[${i}].ID`),
        Name: optStr(root.Name, `Roots[${i}].Name`),
        RootCert: str(root.RootCert, `Roots[${i}].RootCert`),
        IntermediateCerts: strList(root.IntermediateCerts, `Roots[${i}].IntermediateCerts`),
        Active: root.Active === undefined ? false : bool(root.Active, `Roots[${i}].Active`),
      }
    }),
  }
}

/** Watches `GET /v1/agent/connect/ca/roots`. */
export class CaRootsDependency implements Dependency<CaRoots> {
  readonly id = 'connect.roots'
  readonly blocking = 'index' as const
  readonly answeredBy = 'agent' as const

  async fetch(client: ConsulClient, o: FetchOptions): Promise<FetchResult<CaRoots>> {
    const path = '/v1/agent/connect/ca/roots'
    const res = await client.get(path, {}, { index: o.index, waitMs: o.waitMs, signal: o.signal })
    return { data: validate(`GET ${path}`, res.body, parseCaRoots), index: res.index, meta: res.meta }
  }
}
