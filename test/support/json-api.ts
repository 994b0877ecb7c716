/**
 * The HTTP calls tests make to the real peers' APIs (Consul, Nomad): one
 * request, the status, the text and the JSON body when there is one.
 */

export interface ApiAnswer {
  status: number
  body: any
  text: string
}

/** Sends `body` (a string as is, anything else as JSON) and parses the answer if it is JSON. */
export async function jsonRequest(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const res = await fetch(url, { method, headers, body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.status, body: parsed, text }
}
