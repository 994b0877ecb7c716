/**
 * The parser shared by the two health endpoints. An entry keeps Consul's
 * `Node`/`Service`/`Checks` and adds the flattened fields a config author
 * wants: `Address` (Service.Address, else Node.Address), `Port`, `Node` name.
 */
import { arr, obj, optNum, optObj, optStr, str, strList, strMap, type JsonObject } from '../consul/schema.ts'

export interface HealthEntry {
  /** Service.Address, falling back to Node.Address: the address to dial. */
  Address: string
  Port: number
  /** The node name. */
  Node: string
  NodeAddress: string
  Datacenter: string
  ID: string
  Name: string
  Tags: string[]
  Meta: Record<string, string>
  Weights: { Passing: number; Warning: number }
  /** Status aggregated over the checks: passing, warning or critical. */
  Status: 'passing' | 'warning' | 'critical'
  Service: JsonObject
}

export function parseHealthEntries(body: unknown): HealthEntry[] {
  return arr(body, 'entries').map((e, i) => parseEntry(e, `[${i}]`))
}

function parseEntry(value: unknown, path: string): HealthEntry {
  const e = obj(value, path)
  const node = obj(e.Node, `${path}.Node`)
  const svc = obj(e.Service, `${path}.Service`)
  const weights = optObj(svc.Weights, `${path}.Service.Weights`)
  const nodeAddress = str(node.Address, `${path}.Node.Address`)
  return {
    Address: optStr(svc.Address, `${path}.Service.Address`) || nodeAddress,
    Port: optNum(svc.Port, `${path}.Service.Port`),
    Node: str(node.Node, `${path}.Node.Node`),
    NodeAddress: nodeAddress,
    Datacenter: optStr(node.Datacenter, `${path}.Node.Datacenter`),
    ID: str(svc.ID, `${path}.Service.ID`),
    Name: str(svc.Service, `${path}.Service.Service`),
    Tags: strList(svc.Tags, `${path}.Service.Tags`),
    Meta: strMap(svc.Meta, `${path}.Service.Meta`),
    Weights: { Passing: optNum(weights.Passing, 'Weights.Passing', 1), Warning: optNum(weights.Warning, 'Weights.Warning', 1) },
    Status: aggregateStatus(arr(e.Checks, `${path}.Checks`), path),
    Service: svc,
  }
}

function aggregateStatus(checks: unknown[], path: string): HealthEntry['Status'] {
  let status: HealthEntry['Status'] = 'passing'
  checks.forEach((c, i) => {
    const s = str(obj(c, `${path}.Checks[${i}]`).Status, `${path}.Checks[${i}].Status`)
    if (s === 'critical' || s === 'maintenance') status = 'critical'
    else if (s === 'warning' && status === 'passing') status = 'warning'
  })
  return status
}
