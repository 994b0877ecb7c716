/**
 * CONSUL_HTTP_ADDR comes in several forms (host:port, http://, https://,
 * unix://). Getting the form wrong means talking plain HTTP to a TLS port or
 * dialing the wrong place, so each form and each refusal is pinned here.
 */
import t from 'tap'
import { parseConsulAddress } from '../../../src/consul/address.ts'

t.test('host:port defaults to http, or https when TLS is forced', async (t) => {
  t.same(parseConsulAddress('127.0.0.1:8500'), { origin: 'http://127.0.0.1:8500', tls: false })
  t.same(parseConsulAddress('consul.service.consul:8501', true), { origin: 'https://consul.service.consul:8501', tls: true })
  t.same(parseConsulAddress('localhost'), { origin: 'http://localhost', tls: false })
  t.same(parseConsulAddress('[::1]:8500'), { origin: 'http://[::1]:8500', tls: false })
  t.same(parseConsulAddress('  10.0.0.1:8500\n'), { origin: 'http://10.0.0.1:8500', tls: false }, 'surrounding whitespace is ignored')
})

t.test('an explicit scheme is kept', async (t) => {
  t.same(parseConsulAddress('http://10.1.2.3:8500'), { origin: 'http://10.1.2.3:8500', tls: false })
  t.same(parseConsulAddress('https://consul.example.com:8501'), { origin: 'https://consul.example.com:8501', tls: true })
  t.same(parseConsulAddress('https://consul.example.com'), { origin: 'https://consul.example.com', tls: true })
  t.same(parseConsulAddress('HTTPS://Consul.Example.com:8501'), { origin: 'https://consul.example.com:8501', tls: true })
  t.same(parseConsulAddress('http://10.1.2.3:8500', true), { origin: 'http://10.1.2.3:8500', tls: false }, 'an explicit http:// is not upgraded')
  t.same(parseConsulAddress('http://10.1.2.3:8500/ui/'), { origin: 'http://10.1.2.3:8500', tls: false }, 'a path is dropped: the API lives at /v1')
})

t.test('unix:// gives a socket path and a nominal origin', async (t) => {
  t.same(parseConsulAddress('unix:///var/run/consul/http.sock'), { origin: 'http://localhost', socketPath: '/var/run/consul/http.sock', tls: false })
  t.same(parseConsulAddress('unix://relative.sock', true), { origin: 'http://localhost', socketPath: 'relative.sock', tls: false })
})

t.test('bad addresses are refused with the value quoted', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['unix://', /^consul address "unix:\/\/": unix:\/\/ needs a socket path$/],
    ['ftp://consul:21', /^consul address "ftp:\/\/consul:21": scheme ftp: is not http, https or unix$/],
    ['', /^consul address "": not host:port, http:\/\/, https:\/\/ or unix:\/\//],
    ['http://', /^consul address "http:\/\/": not host:port/],
    ['127.0.0.1:99999', /^consul address "127\.0\.0\.1:99999": not host:port/],
    ['consul:port', /^consul address "consul:port": not host:port/],
    ['::1:8500', /^consul address "::1:8500": not host:port/],
  ]
  for (const [value, message] of cases) {
    t.throws(() => parseConsulAddress(value), { name: 'ConfigError', code: 'CONFIG_INVALID', message }, JSON.stringify(value))
  }
})
