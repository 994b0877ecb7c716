/**
 * Intentions are security policy, and Consul keeps adding conditions to them (`JWT` in 1.16,
 * `Contains`/`IgnoreCase` header matchers in 1.20.1, whatever comes next). A condition the
 * sidecar does not check must never be silently dropped: an allow that needs it would then
 * allow without it. So every key of the structures that decide access is compared with the
 * keys meshplate enforces or knows to be informational; anything else is an unenforced
 * requirement, and the rule that reads it grants less (connect/intentions-map.ts): an allow carrying one
 * never matches, a deny carrying one applies whatever the requirement says. The key lists
 * follow Consul's structs at 1.22.0-dev (agent/structs/intention.go `Intention`,
 * agent/structs/config_entry_intentions.go `IntentionPermission`, `IntentionHTTPPermission`,
 * `IntentionHTTPHeaderPermission`), so nothing a current release sends is misread as new.
 */
import type { Json, JsonObject } from '../consul/schema.ts'

/** Keys of an intention (intentions/match) that carry no condition on the request. */
export const INTENTION_KEYS = new Set([
  'ID', 'Description', 'SourceNS', 'SourceName', 'DestinationNS', 'DestinationName', 'SourcePartition', 'DestinationPartition',
  'SourcePeer', 'SourceSamenessGroup', 'SourceType', 'Action', 'Permissions', 'DefaultAddr', 'DefaultPort', 'Meta', 'Precedence',
  'CreatedAt', 'UpdatedAt', 'Hash', 'CreateIndex', 'ModifyIndex', 'LegacyID', 'LegacyMeta',
])
/** Keys of a permission meshplate enforces. */
export const PERMISSION_KEYS = new Set(['Action', 'HTTP'])
/** Keys of a permission's HTTP match meshplate enforces. */
export const HTTP_KEYS = new Set(['PathExact', 'PathPrefix', 'PathRegex', 'Header', 'Methods'])
/** Keys of a header matcher meshplate enforces. */
export const HEADER_KEYS = new Set(['Name', 'Present', 'Exact', 'Prefix', 'Suffix', 'Contains', 'Regex', 'Invert', 'IgnoreCase'])

/** The keys of `o` set to a non-empty value that `known` does not list (e.g. `JWT`). */
export function unenforcedKeys(o: JsonObject, known: ReadonlySet<string>): string[] {
  return Object.keys(o).filter((k) => !known.has(k) && isSet(o[k]))
}

/** Consul omits empty fields (`omitempty`); an empty value is no requirement. */
function isSet(v: Json | undefined): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 0) return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}
