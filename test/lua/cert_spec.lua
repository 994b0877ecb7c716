-- cert_spec.lua: the behaviour of lua/cert.lua under plain lua5.3 and lua5.4, printed as TAP.
--
-- Why this file exists: cert.lua turns a peer's certificate into the service name every
-- authorization decision rests on, so it must never crash and never name a service the
-- certificate does not. These cases run it on real Consul certificates (test/fixtures/certs,
-- see its README), on forged and SAN-less certificates, and on many thousands of malformed
-- inputs (every truncation, every byte and bit flip of the real leaf, hostile lengths, seeded
-- random bytes). Run: `lua5.3 test/lua/cert_spec.lua`; exit status 0 only when every case
-- passes. test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local LUA_FILE = dir .. "/../../lua/cert.lua"
local C = dofile(LUA_FILE)

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, fail, show, eq, ok = T.case, T.fail, T.show, T.eq, T.ok
local F = dofile(dir .. "/fixtures.lua")
local read, pem_certs, prng, random_bytes = F.read, F.pem_certs, F.prng, F.random_bytes
local FIX, LEAF_DER, LEAF_URI, TD, ROOTS = F.FIX, F.LEAF_DER, F.LEAF_URI, F.TD, F.ROOTS

-- Calls uri_san and checks its contract: never raises, returns a string or nil + reason.
local function uri_san_safe(der)
  local okc, uri, err = pcall(C.uri_san, der)
  if not okc then return false, "raised: " .. tostring(uri) end
  if uri == nil then
    if type(err) ~= "string" or err == "" then return false, "nil without a reason" end
  elseif type(uri) ~= "string" then
    return false, "returned a " .. type(uri)
  end
  local okp, id, perr = pcall(C.parse_spiffe, uri)
  if not okp then return false, "parse_spiffe raised: " .. tostring(id) end
  if id == nil and type(perr) ~= "string" then return false, "parse_spiffe nil without reason" end
  return true, uri
end

-- Runs fn over inputs and reports the first few contract violations.
local function fuzz(inputs, check)
  local bad = {}
  for i, input in ipairs(inputs) do
    local good, why = uri_san_safe(input)
    if good and check then good, why = check(i, why) end
    if not good then bad[#bad + 1] = "#" .. i .. ": " .. tostring(why) end
    if #bad >= 5 then break end
  end
  if #bad > 0 then fail(table.concat(bad, "; "), 2) end
  return #inputs
end

-- Certificates --------------------------------------------------------------------------------

case("the real Consul leaf yields its exact SPIFFE URI", function()
  eq(C.uri_san(LEAF_DER), LEAF_URI, "uri")
  local id = C.parse_spiffe(LEAF_URI)
  eq(id.svc, "web", "svc"); eq(id.ns, "default", "ns"); eq(id.dc, "dc1", "dc")
  eq(id.trust_domain, TD, "trust domain"); eq(id.partition, nil, "partition")
end)

case("the leaf PEM fixture holds the same certificate as the DER fixture", function()
  eq(pem_certs(read(FIX .. "consul-leaf-web.pem"))[1], LEAF_DER, "der")
end)

case("a Consul root yields its trust-domain URI, which is not a service identity", function()
  ok(#ROOTS >= 1, "no root in consul-roots.pem")
  local uri = C.uri_san(ROOTS[1])
  eq(uri, "spiffe://" .. TD, "root uri")
  local id, err = C.parse_spiffe(uri)
  eq(id, nil, "id"); ok(err, "reason")
end)

case("a forged leaf from another CA still parses: only TLS chain checks reject it", function()
  local uri = C.uri_san(read(FIX .. "forged-web.der"))
  eq(uri, LEAF_URI, "forged uri")
end)

case("a certificate without SAN gives nil and a reason", function()
  local uri, err = C.uri_san(read(FIX .. "no-san.der"))
  eq(uri, nil, "uri"); eq(err, "no subjectAltName", "reason")
end)

case("a certificate with only a DNS SAN gives nil and a reason", function()
  local uri, err = C.uri_san(read(FIX .. "dns-san.der"))
  eq(uri, nil, "uri"); eq(err, "no uri san", "reason")
end)

-- SPIFFE IDs ----------------------------------------------------------------------------------

case("parse_spiffe accepts the ns/dc/svc and ap/ns/dc/svc forms", function()
  local id = C.parse_spiffe("spiffe://abc.consul/ns/default/dc/dc1/svc/web")
  eq(id.trust_domain, "abc.consul"); eq(id.svc, "web"); eq(id.partition, nil)
  id = C.parse_spiffe("spiffe://abc.consul/ap/team-a/ns/ns1/dc/dc-2/svc/billing_v2.api")
  eq(id.partition, "team-a"); eq(id.ns, "ns1"); eq(id.dc, "dc-2"); eq(id.svc, "billing_v2.api")
  id = C.parse_spiffe("SPIFFE://ABC.consul/ns/default/dc/dc1/svc/web")
  eq(id.trust_domain, "ABC.consul", "scheme is case-insensitive, trust domain kept")
end)

case("parse_spiffe rejects everything else", function()
  local bad = {
    "", "spiffe://", "spiffe://abc.consul", "spiffe://abc.consul/",
    "http://abc.consul/ns/default/dc/dc1/svc/web",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/web/",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/web/extra",
    "spiffe://abc.consul/ns//dc/dc1/svc/web",
    "spiffe://abc.consul/dc/dc1/ns/default/svc/web",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/we%62",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/web?x=1",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/web#frag",
    "spiffe://abc.consul:8443/ns/default/dc/dc1/svc/web",
    "spiffe://user@abc.consul/ns/default/dc/dc1/svc/web",
    "spiffe:///ns/default/dc/dc1/svc/web",
    "spiffe://abc.consul/agent/client/dc/dc1/id/node-1",
    "spiffe://abc.consul/ap/p/ns/default/dc/dc1/svc",
    "spiffe://abc.consul/xx/p/ns/default/dc/dc1/svc/web",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/*",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/@target",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/w eb",
    "spiffe://abc.consul/ns/default/dc/dc1/svc/" .. string.rep("a", 2100),
  }
  for _, uri in ipairs(bad) do
    local id, err = C.parse_spiffe(uri)
    if id ~= nil or type(err) ~= "string" then fail("accepted " .. show(uri)) end
  end
  for _, v in ipairs({ 42, true, {} }) do eq(C.parse_spiffe(v), nil, "non-string") end
  eq(C.parse_spiffe(nil), nil, "nil")
end)
-- Trust domain and tenancy ------------------------------------------------------------------

case("trust_domain_ok compares case-insensitively and refuses a missing trust domain", function()
  local id = C.parse_spiffe(LEAF_URI)
  eq(C.trust_domain_ok(id, TD), true); eq(C.trust_domain_ok(id, TD:upper()), true, "upper case")
  eq(C.trust_domain_ok(id, "other.consul"), false, "another trust domain")
  eq(C.trust_domain_ok(id, ""), false, "empty"); eq(C.trust_domain_ok(id, nil), false, "absent")
end)

case("default_tenancy: only the default namespace, in no or the default partition", function()
  eq(C.default_tenancy(C.parse_spiffe("spiffe://t.consul/ns/default/dc/dc1/svc/web")), true)
  eq(C.default_tenancy(C.parse_spiffe("spiffe://t.consul/ap/default/ns/default/dc/dc1/svc/web")), true)
  eq(C.default_tenancy(C.parse_spiffe("spiffe://t.consul/ns/other/dc/dc1/svc/web")), false, "namespace")
  eq(C.default_tenancy(C.parse_spiffe("spiffe://t.consul/ap/team/ns/default/dc/dc1/svc/web")), false, "partition")
end)

-- Malformed DER -------------------------------------------------------------------------------

case("every truncation of the real leaf returns nil and a reason", function()
  local inputs = {}
  for n = 0, #LEAF_DER - 1 do inputs[#inputs + 1] = LEAF_DER:sub(1, n) end
  local count = fuzz(inputs, function(_, uri) return uri == nil, "truncation gave " .. show(uri) end)
  ok(count == #LEAF_DER, "count")
end)

case("trailing bytes after the certificate are refused", function()
  eq(C.uri_san(LEAF_DER .. "\0"), nil)
end)

case("every single-byte replacement of the real leaf is handled", function()
  local inputs = {}
  for pos = 1, #LEAF_DER do
    local b = LEAF_DER:byte(pos)
    for _, v in ipairs({ 0x00, 0xff, 0x80, 0x7f, (b + 1) % 256, (b + 255) % 256 }) do
      inputs[#inputs + 1] = LEAF_DER:sub(1, pos - 1) .. string.char(v) .. LEAF_DER:sub(pos + 1)
    end
  end
  fuzz(inputs)
end)

case("every single-bit flip of the real leaf is handled", function()
  local inputs = {}
  for pos = 1, #LEAF_DER do
    local b = LEAF_DER:byte(pos)
    for bit = 0, 7 do
      inputs[#inputs + 1] = LEAF_DER:sub(1, pos - 1) .. string.char(b ~ (1 << bit)) .. LEAF_DER:sub(pos + 1)
    end
  end
  fuzz(inputs)
end)

case("wrong outer tags are refused", function()
  for _, tag in ipairs({ 0x31, 0x04, 0xA0, 0x02, 0x00, 0xff, 0x1f }) do
    local der = string.char(tag) .. LEAF_DER:sub(2)
    local uri, err = C.uri_san(der)
    if uri ~= nil or type(err) ~= "string" then fail("accepted outer tag " .. tag) end
  end
  local uri = C.uri_san(LEAF_DER:sub(1, 4) .. "\49" .. LEAF_DER:sub(6))
  eq(uri, nil, "tbsCertificate as SET")
end)

case("huge, oversize and indefinite lengths are refused", function()
  local headers = {
    "\48\132\255\255\255\255", "\48\136\255\255\255\255\255\255\255\255",
    "\48\133\0\0\0\1\0", "\48\128", "\48\255", "\48\129", "\48\132\0\0",
    "\48\132\0\0\1\0", "\48\130\255\255", "\48\127",
  }
  for _, h in ipairs(headers) do
    local good, why = uri_san_safe(h .. LEAF_DER:sub(5))
    if not good then fail(show(h) .. ": " .. why) end
    eq(C.uri_san(h .. LEAF_DER:sub(5)), nil, show(h))
    eq(C.uri_san(h), nil, show(h) .. " alone")
  end
  local inner = LEAF_DER:sub(1, 4) .. "\48\132\255\255\255\255" .. LEAF_DER:sub(9)
  eq(C.uri_san(inner), nil, "huge inner length")
  inner = LEAF_DER:sub(1, 4) .. "\48\128" .. LEAF_DER:sub(9)
  eq(C.uri_san(inner), nil, "indefinite inner length")
end)

case("hand-built SAN shapes: URI found after other names; odd SAN bodies refused", function()
  local function len(n) return n < 128 and string.char(n) or string.char(0x81, n) end
  local function tlvb(tag, body) return string.char(tag) .. len(#body) .. body end
  local function cert(ext_body)
    local ext = tlvb(0x30, tlvb(0x06, "\85\29\17") .. ext_body)
    local tbs = tlvb(0x30, tlvb(0x02, "\1") .. tlvb(0xA3, tlvb(0x30, ext)))
    return tlvb(0x30, tbs .. tlvb(0x30, "") .. tlvb(0x03, "\0"))
  end
  local names = tlvb(0x82, "a.example") .. tlvb(0xA0, tlvb(0x06, "\1")) .. tlvb(0x86, "spiffe://t/x")
  eq(C.uri_san(cert(tlvb(0x04, tlvb(0x30, names)))), "spiffe://t/x", "third name")
  eq(C.uri_san(cert(tlvb(0x01, "\255") .. tlvb(0x04, tlvb(0x30, names)))), "spiffe://t/x", "critical")
  eq(C.uri_san(cert(tlvb(0x04, tlvb(0x30, tlvb(0x86, ""))))), nil, "empty uri")
  eq(C.uri_san(cert(tlvb(0x04, tlvb(0x30, tlvb(0x86, "a b"))))), nil, "space in uri")
  eq(C.uri_san(cert(tlvb(0x04, tlvb(0x31, names)))), nil, "SET of names")
  eq(C.uri_san(cert(tlvb(0x03, tlvb(0x30, names)))), nil, "BIT STRING value")
  eq(C.uri_san(cert("")), nil, "no value")
end)

case(">= 5000 seeded random byte strings never raise", function()
  local rand = prng(20240601)
  local inputs = {}
  for i = 1, 5000 do inputs[i] = random_bytes(rand, rand(400)) end
  for i = 1, 3000 do -- plausible headers, so the walk gets past the first TLV
    local body = random_bytes(rand, rand(300))
    inputs[#inputs + 1] = "\48" .. string.char(0x81 + rand(3)) .. random_bytes(rand, 3) .. "\48"
      .. string.char(rand(256)) .. body
  end
  local count = fuzz(inputs)
  ok(count >= 8000, "count " .. count)
end)

case("2000 seeded multi-byte mutations of the real leaf never raise", function()
  local rand = prng(99)
  local inputs = {}
  for i = 1, 2000 do
    local t = { LEAF_DER:byte(1, -1) }
    for _ = 1, 1 + rand(6) do t[1 + rand(#t)] = rand(256) end
    local s = string.char(table.unpack(t))
    if rand(4) == 0 then s = s:sub(1, rand(#s)) end
    inputs[i] = s
  end
  fuzz(inputs)
end)

case("non-string inputs give nil and a reason", function()
  for _, v in ipairs({ 1, true, {}, print }) do
    local uri, err = C.uri_san(v)
    eq(uri, nil); ok(type(err) == "string")
  end
  local uri, err = C.uri_san(nil); eq(uri, nil); ok(err)
  uri, err = C.uri_san(""); eq(uri, nil); eq(err, "empty")
end)
case("loading the module under plain Lua writes no globals", function()
  eq(type(F.load_clean(LUA_FILE).uri_san), "function")
end)

-- Run ---------------------------------------------------------------------------------------

T.run()
