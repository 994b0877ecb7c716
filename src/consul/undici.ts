/**
 * The parts of undici meshplate uses, loaded without the rest: `Agent` (the
 * connection pool behind the Consul client) and the `dispatcher.request()`
 * API. undici's own index loads every dispatcher, fetch, WebSocket,
 * EventSource, the cache and the mocks, about 7 MB of RSS in a meshplate
 * process for nothing it calls (bench/RESULTS.md, "Footprint"). This does
 * what that index does for these two (`Object.assign(Dispatcher.prototype,
 * api)`), from undici's files; undici has no exports map, so the paths are
 * reachable, and the Consul client's tests fail if an update moves them.
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'))

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent
export type { Dispatcher } from 'undici'
