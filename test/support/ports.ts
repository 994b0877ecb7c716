/**
 * Free loopback ports for the real peers the tests start. The OS picks each
 * port; a small window remains between closing the probe and the peer binding,
 * so callers take all their ports at once.
 */
import { createServer } from 'node:net'

/** Returns `n` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!
}
