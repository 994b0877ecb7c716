/**
 * The mesh's part of the template language, as one extension of the engine
 * (template/environment.ts): the functions that join Consul Connect data
 * (functions.ts) and the filters that turn it into what the HAProxy templates
 * print, each from its own file in this folder. Their names are public:
 * the shipped templates and users' per-service overrides call them, and
 * docs/renderer.md lists them. The sidecar and the `run`/`once` commands add
 * this extension (src/commands/setup.ts); the engine never imports it.
 */
import type { SlotTable } from '../haproxy/slots.ts'
import type { TemplateExtension } from '../template/environment.ts'
import type { Filter } from '../template/filters.ts'
import { accessLogs } from './access-logs.ts'
import { upstreamPlan } from './chain/plan.ts'
import { exposeListeners, exposeSources } from './expose.ts'
import { connectFunctions } from './functions.ts'
import { intentionRules, intentionTable } from './intentions-map.ts'
import { requestNormalization } from './normalization.ts'
import { proxyConfig, upstreamConfig } from './proxy-config.ts'
import { localSettings, upstreamSettings } from './proxy-settings.ts'

/** The mesh's filters, by the names templates call. */
export const connectFilters: Record<string, Filter> = {
  intentionTable,
  intentionRules,
  requestNormalization,
  proxyConfig,
  upstreamConfig,
  localSettings,
  upstreamSettings,
  upstreamPlan,
  exposeListeners,
  exposeSources,
  accessLogs,
}

/** `upstreams()`, `discoveryChain()`, `serverSlots()` and the filters above; `slots` outlives a reload (SIGHUP). */
export function connectExtension(options: { slots: SlotTable }): TemplateExtension {
  return { functions: (ctx) => connectFunctions(ctx, options.slots), filters: connectFilters }
}
