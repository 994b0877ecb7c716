/**
 * The one stand-in for ConsulClient in unit tests of dependencies: its get()
 * records the arguments it was called with and answers a fixed reply (or
 * throws a fixed error). No network: the real agent is for integration tests.
 */
import type { ConsulClient, ConsulResponse } from '../../src/consul/client.ts'

export interface FakeReply {
  body?: unknown
  index?: number
  contentHash?: string
  error?: Error
}

/** A client answering `reply`; pass `calls` to share one record between several clients. */
export function recordingClient(reply: FakeReply, calls: unknown[][] = []): { client: ConsulClient; calls: unknown[][] } {
  const client = {
    get: async (...args: unknown[]): Promise<ConsulResponse> => {
      calls.push(args)
      if (reply.error) throw reply.error
      return { body: reply.body, index: reply.index, contentHash: reply.contentHash, digest: JSON.stringify(reply.body) ?? '' }
    },
  } as unknown as ConsulClient
  return { client, calls }
}
