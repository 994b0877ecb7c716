// The soak's load, in a worker thread of its own: keep-alive request loops through one port,
// each failure counted by kind and written with its time to a failure log. It runs apart
// from the main thread, which reads /proc and the sidecars' logs every minute, so that work
// never delays a request (a 500 MB log read once timed out every loop for 5 s).
// Started by run.mjs with workerData { port, loops, failureLog }; answers 'take' with the
// counts since the last 'take' and 'stop' with the last counts, then exits.
import { appendFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { parentPort, workerData } from 'node:worker_threads'

const { port, loops, failureLog } = workerData
const agent = new Agent({ keepAlive: true, maxSockets: loops })
let counts = { ok: 0, failed: 0, kinds: {} }
let running = true

function once() {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/load', agent, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status ${res.statusCode}`))
      res.on('error', (e) => resolve(e.code ?? e.message))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
    req.on('error', (e) => resolve(e.code ?? e.message))
    req.end()
  })
}

async function loop() {
  while (running) {
    const r = await once()
    if (r === 'ok') counts.ok++
    else {
      counts.failed++
      counts.kinds[r] = (counts.kinds[r] ?? 0) + 1
      appendFileSync(failureLog, `${new Date().toISOString()} ${r}\n`)
    }
  }
}

const all = Array.from({ length: loops }, loop)
parentPort.on('message', async (msg) => {
  if (msg === 'stop') {
    running = false
    await Promise.all(all)
    agent.destroy()
  }
  parentPort.postMessage(counts)
  counts = { ok: 0, failed: 0, kinds: {} }
  if (msg === 'stop') parentPort.close()
})
