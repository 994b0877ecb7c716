/**
 * The network a Nomad test runs in, and the guard that keeps every packet of
 * its allocations on this machine. In bridge mode Nomad NATs an allocation's
 * traffic out of the host's interface, so one wrong address (it happened once,
 * with a default Consul address) sends packets off the machine. Before the
 * first job runs this installs, and removes last:
 * - the client's own address: a private /32 on a bridge the test makes
 *   (`network_interface`), which is where Consul listens;
 * - a firewall guard: a MESHPLATE-GUARD chain that REJECTs anything from the
 *   allocation subnet that is not for another allocation (local destinations
 *   never reach FORWARD), jumped to first in FORWARD and from NOMAD-ADMIN,
 *   which Nomad's CNI firewall chain consults before its own accept rules;
 * - behind it, policy routing that sends the subnet's non-local traffic into a
 *   portless bridge, then `prohibit`, so even a missing firewall rule sends
 *   nothing out.
 * `verify()` proves the guard from inside an allocation's namespace: a
 * connection to an off-machine address must be refused at once and counted.
 * Cleanup removes what Nomad and CNI left too (netns, chains, IPAM state) and
 * restores ip_forward.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const CLIENT_BRIDGE = 'mpnomad0'
export const CLIENT_IP = '10.213.77.1'
export const ALLOC_BRIDGE = 'mpalloc0'
export const ALLOC_SUBNET = '172.31.213.0/24'
const BLACKHOLE_BRIDGE = 'mpguard0'
const GUARD_CHAIN = 'MESHPLATE-GUARD'
const NOMAD_ADMIN_CHAIN = 'NOMAD-ADMIN'
const ROUTE_TABLE = '213'
const RULE_PREFS = ['21300', '21301', '21302']
/** An address that is not on this machine (TEST-NET-3); the guard must refuse it. */
export const OFF_MACHINE_PROBE = '203.0.113.7'

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const quiet = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0

export interface NomadNet {
  /** Packets the guard has refused so far. */
  rejected(): number
  /** Proves the guard from inside `netns` (an allocation's); throws if any part fails. */
  verify(netns: string): Promise<{ refusedInMs: number }>
  cleanup(): void
}

/** Installs the client bridge, the guard and the black hole; throws (never runs unguarded) if any step fails. */
export function setUpNomadNet(): NomadNet {
  if (process.getuid?.() !== 0) throw new Error('the Nomad tier needs root (bridges, iptables, network namespaces)')
  for (const bin of ['/usr/lib/cni/bridge', '/usr/sbin/iptables', '/usr/bin/nsenter']) {
    if (!existsSync(bin)) throw new Error(`${bin} missing: run \`bash scripts/provision\` (containernetworking-plugins, iptables)`)
  }
  const forwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()
  const chainsBefore = { filter: chains('filter'), nat: chains('nat') }
  const adminExisted = chainsBefore.filter.has(NOMAD_ADMIN_CHAIN)
  const netnsBefore = new Set(netnsNames())
  const net: NomadNet = {
    rejected: () => rejectCount(),
    verify: (netns) => verifyGuard(netns),
    cleanup: () => cleanup(forwardBefore, chainsBefore, adminExisted, netnsBefore),
  }
  try {
    removeLeftovers()
    sh('ip', ['link', 'add', CLIENT_BRIDGE, 'type', 'bridge'])
    sh('ip', ['addr', 'add', `${CLIENT_IP}/32`, 'dev', CLIENT_BRIDGE])
    sh('ip', ['link', 'set', CLIENT_BRIDGE, 'up'])
    installFirewallGuard(adminExisted)
    installBlackHole()
    if (!/REJECT/.test(sh('iptables', ['-S', GUARD_CHAIN]))) throw new Error('guard chain has no REJECT rule')
  } catch (err) {
    net.cleanup()
    throw new Error(`could not install the network guard, so no Nomad job runs: ${(err as Error).message}`)
  }
  return net
}

function installFirewallGuard(adminExisted: boolean): void {
  sh('iptables', ['-N', GUARD_CHAIN])
  sh('iptables', ['-A', GUARD_CHAIN, '-d', ALLOC_SUBNET, '-j', 'RETURN'])
  sh('iptables', ['-A', GUARD_CHAIN, '-m', 'comment', '--comment', 'meshplate-guard: nothing leaves the machine', '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable'])
  sh('iptables', ['-I', 'FORWARD', '1', '-s', ALLOC_SUBNET, '-j', GUARD_CHAIN])
  if (!adminExisted) sh('iptables', ['-N', NOMAD_ADMIN_CHAIN])
  sh('iptables', ['-I', NOMAD_ADMIN_CHAIN, '1', '-s', ALLOC_SUBNET, '-j', GUARD_CHAIN])
}

function installBlackHole(): void {
  sh('ip', ['link', 'add', BLACKHOLE_BRIDGE, 'type', 'bridge'])
  sh('ip', ['link', 'set', BLACKHOLE_BRIDGE, 'up'])
  sh('ip', ['route', 'add', 'default', 'dev', BLACKHOLE_BRIDGE, 'table', ROUTE_TABLE])
  sh('ip', ['rule', 'add', 'from', ALLOC_SUBNET, 'to', ALLOC_SUBNET, 'lookup', 'main', 'pref', RULE_PREFS[0]!])
  sh('ip', ['rule', 'add', 'from', ALLOC_SUBNET, 'lookup', ROUTE_TABLE, 'pref', RULE_PREFS[1]!])
  sh('ip', ['rule', 'add', 'from', ALLOC_SUBNET, 'prohibit', 'pref', RULE_PREFS[2]!])
}

function rejectCount(): number {
  const out = sh('iptables', ['-L', GUARD_CHAIN, '-v', '-x', '-n'])
  const line = out.split('\n').find((l) => /REJECT/.test(l))
  if (!line) throw new Error('guard REJECT rule is gone')
  return Number(line.trim().split(/\s+/)[0])
}

async function verifyGuard(netns: string): Promise<{ refusedInMs: number }> {
  const route = sh('ip', ['route', 'get', OFF_MACHINE_PROBE, 'from', '172.31.213.250', 'iif', ALLOC_BRIDGE])
  if (!route.includes(`dev ${BLACKHOLE_BRIDGE}`)) throw new Error(`off-machine traffic is not routed into the black hole: ${route.trim()}`)
  const before = rejectCount()
  const started = Date.now()
  const r = spawnSync('ip', ['netns', 'exec', netns, 'curl', '-sS', '-m', '3', `http://${OFF_MACHINE_PROBE}:9/`], { encoding: 'utf8' })
  const refusedInMs = Date.now() - started
  if (!/Connection refused|Failed to connect/i.test(r.stderr)) throw new Error(`the probe was not refused: ${r.stderr.trim() || r.stdout.trim()}`)
  if (refusedInMs > 1_000) throw new Error(`the probe took ${refusedInMs} ms: not refused at once`)
  const after = rejectCount()
  if (after <= before) throw new Error('the probe was refused, but not by the guard rule')
  return { refusedInMs }
}

function chains(table: 'filter' | 'nat'): Set<string> {
  const out = sh('iptables', ['-t', table, '-S'])
  return new Set(out.split('\n').filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()))
}

/** Deletes chains created since `before` (Nomad's and CNI's), with the rules that jump to them. */
function removeNewChains(table: 'filter' | 'nat', before: Set<string>, keep: Set<string>): void {
  const created = [...chains(table)].filter((c) => !before.has(c) && !keep.has(c))
  if (created.length === 0) return
  for (const line of sh('iptables', ['-t', table, '-S']).split('\n')) {
    const jump = /-j (\S+)/.exec(line)?.[1]
    if (line.startsWith('-A ') && jump && created.includes(jump)) quiet('iptables', ['-t', table, '-D', ...splitRule(line.slice(3))])
  }
  for (const c of created) quiet('iptables', ['-t', table, '-F', c])
  for (const c of created) quiet('iptables', ['-t', table, '-X', c])
}

/** Splits an `iptables -S` rule into argv, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  return (rule.match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"|"$/g, ''))
}

function removeLeftovers(): void {
  // A previous run killed before its cleanup: take down what it would have removed.
  for (const dev of [CLIENT_BRIDGE, ALLOC_BRIDGE]) quiet('ip', ['link', 'del', dev])
  removeGuard()
}

/** Removes the firewall guard and the black hole (quietly: parts may already be gone). */
function removeGuard(): void {
  quiet('iptables', ['-D', NOMAD_ADMIN_CHAIN, '-s', ALLOC_SUBNET, '-j', GUARD_CHAIN])
  quiet('iptables', ['-D', 'FORWARD', '-s', ALLOC_SUBNET, '-j', GUARD_CHAIN])
  quiet('iptables', ['-F', GUARD_CHAIN])
  quiet('iptables', ['-X', GUARD_CHAIN])
  for (const pref of RULE_PREFS) quiet('ip', ['rule', 'del', 'pref', pref])
  quiet('ip', ['route', 'flush', 'table', ROUTE_TABLE])
  quiet('ip', ['link', 'del', BLACKHOLE_BRIDGE])
}

const netnsNames = () => (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [])
const ALLOC_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function removeAllocationState(netnsBefore: Set<string>): void {
  // Network namespaces Nomad made (named by allocation id) during the test, and their IPAM leases.
  for (const ns of netnsNames()) if (!netnsBefore.has(ns) && ALLOC_ID.test(ns)) quiet('ip', ['netns', 'del', ns])
  const prefix = ALLOC_SUBNET.split('.').slice(0, 3).join('.') + '.'
  const ipam = '/var/lib/cni/networks/nomad'
  if (existsSync(ipam)) {
    for (const f of readdirSync(ipam)) if (f.startsWith(prefix)) rmSync(join(ipam, f), { force: true })
    if (readdirSync(ipam).every((f) => f.startsWith('last_reserved_ip') || f === 'lock')) rmSync(ipam, { recursive: true, force: true })
  }
}

function cleanup(forwardBefore: string, before: { filter: Set<string>; nat: Set<string> }, adminExisted: boolean, netnsBefore: Set<string>): void {
  removeAllocationState(netnsBefore)
  quiet('ip', ['link', 'del', ALLOC_BRIDGE])
  const ours = new Set([GUARD_CHAIN, NOMAD_ADMIN_CHAIN])
  removeNewChains('nat', before.nat, new Set())
  removeNewChains('filter', before.filter, ours)
  quiet('ip', ['link', 'del', CLIENT_BRIDGE])
  writeFileSync('/proc/sys/net/ipv4/ip_forward', forwardBefore)
  // The guard goes last: nothing of the test's is left that could send a packet.
  removeGuard()
  if (!adminExisted) {
    quiet('iptables', ['-F', NOMAD_ADMIN_CHAIN])
    quiet('iptables', ['-X', NOMAD_ADMIN_CHAIN])
  }
}
