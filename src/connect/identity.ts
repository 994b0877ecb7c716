/**
 * Who an upstream instance must prove to be. Consul Connect names a service by
 * its SPIFFE id, `spiffe://<trust domain>/ns/default/dc/<dc>/svc/<service>`,
 * and a sidecar presents the id of the service it proxies, not its own name:
 * so an instance found as `api-sidecar-proxy` must present `.../svc/api`. The
 * upstream backends check the certificate of every server against this id
 * (templates/haproxy/macros/upstream.njk), as Envoy's SAN matcher does.
 */
import type { HealthEntry } from '../dependency/health-entry.ts'

/** The identity a Connect instance presents: the service behind the proxy, or itself if native. */
export function proxiedName(e: HealthEntry): string {
  const proxy = e.Service.Proxy
  if (proxy && typeof proxy === 'object' && !Array.isArray(proxy) && typeof proxy.DestinationServiceName === 'string' && proxy.DestinationServiceName) {
    return proxy.DestinationServiceName
  }
  return e.Name
}

/** The SPIFFE id of `service` in `datacenter`; '' while the trust domain is not known. */
export function serviceUri(trustDomain: string, datacenter: string, service: string): string {
  return trustDomain ? `spiffe://${trustDomain}/ns/default/dc/${datacenter}/svc/${service}` : ''
}
