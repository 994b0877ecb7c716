-- authorize_spec.lua: the behaviour of lua/authorize.lua under plain lua5.3, printed as TAP.
--
-- Why this file exists: authorize.lua decides who may open a connection to a mesh service, so
-- its parsers must never crash and never say "allow" by accident. These cases run the pure
-- functions on real Consul certificates (test/fixtures/certs, see its README), on forged and
-- SAN-less certificates, and on many thousands of malformed inputs (every truncation, every
-- byte and bit flip of the real leaf, hostile lengths, seeded random bytes). They also drive
-- the action and fetch glue with fake `core`, `Map`, `txn` and httpclient objects, so the
-- HAProxy path is exercised without HAProxy. Run: `lua5.3 test/lua/authorize_spec.lua`;
-- exit status 0 only when every case passes. test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = dir .. "/../.."
local LUA_FILE = ROOT .. "/lua/authorize.lua"
local FIX = ROOT .. "/test/fixtures/certs/"
local M = dofile(LUA_FILE)

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, fail, show, eq, ok = T.case, T.fail, T.show, T.eq, T.ok

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  s = s:gsub("[^%w%+/]", "")
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    bits, n = bits * 64 + (B64:find(s:sub(i, i), 1, true) - 1), n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 0xff)
      bits = bits & ((1 << n) - 1)
    end
  end
  return table.concat(out)
end

-- Returns the DER of every certificate in a PEM bundle.
local function pem_certs(pem)
  local ders = {}
  for body in pem:gmatch("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-(.-)%-%-%-%-%-END CERTIFICATE") do
    ders[#ders + 1] = unbase64(body)
  end
  return ders
end

-- Seeded 64-bit LCG, so the random cases are the same on every machine.
local function prng(seed)
  local x = seed
  return function(n)
    x = x * 6364136223846793005 + 1442695040888963407
    return ((x >> 33) % n)
  end
end

local function random_bytes(rand, len)
  local t = {}
  for i = 1, len do t[i] = string.char(rand(256)) end
  return table.concat(t)
end

-- Calls uri_san and checks its contract: never raises, returns a string or nil + reason.
local function uri_san_safe(der)
  local okc, uri, err = pcall(M.uri_san, der)
  if not okc then return false, "raised: " .. tostring(uri) end
  if uri == nil then
    if type(err) ~= "string" or err == "" then return false, "nil without a reason" end
  elseif type(uri) ~= "string" then
    return false, "returned a " .. type(uri)
  end
  local okp, id, perr = pcall(M.parse_spiffe, uri)
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

-- Fixtures ----------------------------------------------------------------------------------

local LEAF_DER = read(FIX .. "consul-leaf-web.der")
local LEAF_URI = read(FIX .. "consul-leaf-web.uri"):match("^%s*(.-)%s*$")
local TD = LEAF_URI:match("^spiffe://([^/]+)/")
local ROOTS = pem_certs(read(FIX .. "consul-roots.pem"))

-- Certificates --------------------------------------------------------------------------------

case("the real Consul leaf yields its exact SPIFFE URI", function()
  eq(M.uri_san(LEAF_DER), LEAF_URI, "uri")
  local id = M.parse_spiffe(LEAF_URI)
  eq(id.svc, "web", "svc"); eq(id.ns, "default", "ns"); eq(id.dc, "dc1", "dc")
  eq(id.trust_domain, TD, "trust domain"); eq(id.partition, nil, "partition")
end)

case("the leaf PEM fixture holds the same certificate as the DER fixture", function()
  eq(pem_certs(read(FIX .. "consul-leaf-web.pem"))[1], LEAF_DER, "der")
end)

case("a Consul root yields its trust-domain URI, which is not a service identity", function()
  ok(#ROOTS >= 1, "no root in consul-roots.pem")
  local uri = M.uri_san(ROOTS[1])
  eq(uri, "spiffe://" .. TD, "root uri")
  local id, err = M.parse_spiffe(uri)
  eq(id, nil, "id"); ok(err, "reason")
end)

case("a forged leaf from another CA still parses: only TLS chain checks reject it", function()
  local uri = M.uri_san(read(FIX .. "forged-web.der"))
  eq(uri, LEAF_URI, "forged uri")
end)

case("a certificate without SAN gives nil and a reason", function()
  local uri, err = M.uri_san(read(FIX .. "no-san.der"))
  eq(uri, nil, "uri"); eq(err, "no subjectAltName", "reason")
end)

case("a certificate with only a DNS SAN gives nil and a reason", function()
  local uri, err = M.uri_san(read(FIX .. "dns-san.der"))
  eq(uri, nil, "uri"); eq(err, "no uri san", "reason")
end)

-- SPIFFE IDs ----------------------------------------------------------------------------------

case("parse_spiffe accepts the ns/dc/svc and ap/ns/dc/svc forms", function()
  local id = M.parse_spiffe("spiffe://abc.consul/ns/default/dc/dc1/svc/web")
  eq(id.trust_domain, "abc.consul"); eq(id.svc, "web"); eq(id.partition, nil)
  id = M.parse_spiffe("spiffe://abc.consul/ap/team-a/ns/ns1/dc/dc-2/svc/billing_v2.api")
  eq(id.partition, "team-a"); eq(id.ns, "ns1"); eq(id.dc, "dc-2"); eq(id.svc, "billing_v2.api")
  id = M.parse_spiffe("SPIFFE://ABC.consul/ns/default/dc/dc1/svc/web")
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
    local id, err = M.parse_spiffe(uri)
    if id ~= nil or type(err) ~= "string" then fail("accepted " .. show(uri)) end
  end
  for _, v in ipairs({ 42, true, {} }) do eq(M.parse_spiffe(v), nil, "non-string") end
  eq(M.parse_spiffe(nil), nil, "nil")
end)

-- Table decision ------------------------------------------------------------------------------

case("decide: an exact entry beats the wildcard in both directions", function()
  eq(M.decide({ table = { api = "deny", ["*"] = "allow" } }, "api"), "deny")
  eq(M.decide({ table = { api = "allow", ["*"] = "deny" } }, "api"), "allow")
  local d, kind = M.decide({ table = { api = "allow" } }, "api")
  eq(d, "allow"); eq(kind, "exact")
end)

case("decide: the wildcard applies to sources without an entry", function()
  local d, kind = M.decide({ table = { api = "allow", ["*"] = "deny" } }, "web")
  eq(d, "deny"); eq(kind, "wildcard")
end)

case("decide: no entry and no wildcard is undecided (nil)", function()
  eq(M.decide({ table = { api = "allow" } }, "web"), nil)
  eq(M.decide({ table = {} }, "web"), nil)
end)

case("decide: a source no row names gets @default, as Envoy's RBAC default (not the agent's answer)", function()
  local d, kind, key = M.decide({ table = { api = "allow", ["@default"] = "deny" } }, "web")
  eq(d, "deny"); eq(kind, "default"); eq(key, "@default")
  eq(M.decide({ table = { ["@default"] = "allow" } }, "web"), "allow")
  eq(M.decide({ table = { ["*"] = "allow", ["@default"] = "deny" } }, "web"), "allow", "the wildcard comes first")
  eq(M.decide({ table = { ["@default"] = "" } }, "web"), nil, "no default yet: ask the agent")
  eq(M.decide({ table = { ["*"] = "bogus", ["@default"] = "allow" } }, "web"), nil, "an unreadable wildcard is not overridden")
end)

case("decide: values are trimmed and case-insensitive; unreadable exact entries stay undecided", function()
  eq(M.decide({ table = { api = " ALLOW " } }, "api"), "allow")
  eq(M.decide({ table = { api = "maybe", ["*"] = "allow" } }, "api"), nil)
  eq(M.decide({ table = { ["*"] = "perhaps" } }, "api"), nil)
end)

case("decide: map meta keys and odd names are never source names", function()
  local t = { ["@target"] = "allow", ["*"] = "deny", [""] = "allow" }
  eq(M.decide({ table = t }, "@target"), nil)
  eq(M.decide({ table = t }, "*"), nil)
  eq(M.decide({ table = t }, ""), nil)
  eq(M.decide({ table = t }, nil), nil)
  eq(M.decide(nil, "api"), nil)
end)

-- Cache -------------------------------------------------------------------------------------

local function clock()
  local t = 1000
  return function() return t end, function(dt) t = t + dt end
end

case("cache: answers live for the TTL (30 s) and then expire", function()
  local now, advance = clock()
  local c = M.new_cache({ now = now })
  eq(c.ttl, 30, "default ttl")
  c:put("api", "v1", "allow", "agent-allow")
  local d, r = c:get("api", "v1")
  eq(d, "allow"); eq(r, "agent-allow")
  advance(29); eq(c:get("api", "v1"), "allow", "at 29 s")
  advance(1); eq(c:get("api", "v1"), nil, "at 30 s")
end)

case("cache: a new @version flushes every entry", function()
  local now = clock()
  local c = M.new_cache({ now = now })
  c:put("api", "v1", "allow", "agent-allow")
  c:put("db", "v1", "deny", "agent-deny")
  eq(c:get("api", "v2"), nil, "api after version change")
  eq(c:get("db", "v2"), nil, "db after version change")
  eq(c.size, 0, "size")
end)

case("cache: an answer computed under an older @version is dropped", function()
  local now = clock()
  local c = M.new_cache({ now = now })
  eq(c:get("api", "v1"), nil)
  eq(c:get("api", "v2"), nil) -- the map changed while the v1 request waited on the agent
  eq(c:put("api", "v1", "allow", "agent-allow"), false, "stale put")
  eq(c:get("api", "v2"), nil)
end)

case("cache: only allow/deny are stored, and the size is bounded", function()
  local now = clock()
  local c = M.new_cache({ now = now, max = 3 })
  eq(c:put("x", "v", "maybe", "r"), false)
  for i = 1, 3 do c:put("s" .. i, "v", "allow", "agent-allow") end
  eq(c.size, 3)
  c:put("s4", "v", "deny", "agent-deny")
  eq(c.size, 1, "flushed when full"); eq(c:get("s4", "v"), "deny")
end)

-- Agent plumbing ------------------------------------------------------------------------------

case("parse_authorize reads Consul's answer", function()
  local a, r = M.parse_authorize('{"Authorized":true,"Reason":"ACLs disabled, access is allowed by default"}')
  eq(a, true); eq(r, "ACLs disabled, access is allowed by default")
  a, r = M.parse_authorize(' {\n "Reason" : "Matched L4 intention: \\"x\\"\\u0041", "Authorized" : false } ')
  eq(a, false); eq(r, 'Matched L4 intention: "x"?')
  eq(M.parse_authorize('{"Authorized":true,"Extra":{"a":[1,2,{"b":null}]},"Reason":"r"}'), true)
end)

case("parse_authorize is not fooled by look-alike text", function()
  eq(M.parse_authorize('{"Authorized":false,"Reason":"\\"Authorized\\":true"}'), false, "in reason")
  eq(M.parse_authorize('{"Reason":"x","Nested":{"Authorized":true}}'), nil, "nested only")
  eq(M.parse_authorize('{"Authorized":"true"}'), nil, "string true")
  eq(M.parse_authorize('{"Authorized":1}'), nil, "number")
  eq(M.parse_authorize('{"Authorized":true,"Authorized":false}'), nil, "duplicate")
  eq(M.parse_authorize('{"Authorized":true} trailing'), nil, "trailing garbage")
  eq(M.parse_authorize('{"Authorized":true'), nil, "truncated")
  eq(M.parse_authorize('[{"Authorized":true}]'), nil, "array")
  eq(M.parse_authorize(""), nil, "empty")
  eq(M.parse_authorize(nil), nil, "nil")
  eq(M.parse_authorize('{"Authorized":true,"R":"' .. string.rep("a", 70000) .. '"}'), nil, "huge")
  eq(M.parse_authorize(string.rep("[", 5000) .. string.rep("]", 5000)), nil, "deep nesting")
  eq(M.parse_authorize('{"a":"\1","Authorized":true}'), nil, "control character")
end)

case("parse_authorize never raises on random bodies", function()
  local rand = prng(7)
  local alphabet = '{}[]:,"\\ truefalsnAthorizedR0123'
  for _ = 1, 2000 do
    local t = {}
    for i = 1, rand(60) do
      local k = rand(#alphabet) + 1
      t[i] = alphabet:sub(k, k)
    end
    local body = table.concat(t)
    local okc, a = pcall(M.parse_authorize, body)
    if not okc then fail("raised on " .. show(body) .. ": " .. tostring(a)) end
    if a ~= nil and type(a) ~= "boolean" then fail("odd result on " .. show(body)) end
  end
end)

case("agent_request builds the authorize POST with and without a token", function()
  local req = M.agent_request("http://127.0.0.1:8500", "s3cret", "web", LEAF_URI, "0a:ff")
  eq(req.url, "http://127.0.0.1:8500/v1/agent/connect/authorize")
  eq(req.headers["X-Consul-Token"][1], "s3cret")
  eq(req.headers["Content-Type"][1], "application/json")
  eq(req.timeout, 250, "timeout ms")
  eq(req.body, '{"Target":"web","ClientCertURI":"' .. LEAF_URI .. '","ClientCertSerial":"0a:ff"}')
  req = M.agent_request("http://127.0.0.1:8500", nil, 'we"b', "u", nil)
  eq(req.headers["X-Consul-Token"], nil, "no token header")
  eq(req.body, '{"Target":"we\\u0022b","ClientCertURI":"u","ClientCertSerial":""}')
end)

case("agent_verdict denies on anything but a parsable 200", function()
  local function v(res, ms) return table.concat({ tostring(select(1, M.agent_verdict(res, ms))),
    tostring(select(2, M.agent_verdict(res, ms))), tostring(select(3, M.agent_verdict(res, ms))) }, " ") end
  eq(v({ status = 200, body = '{"Authorized":true,"Reason":""}' }), "allow agent-allow true")
  eq(v({ status = 200, body = '{"Authorized":false,"Reason":""}' }), "deny agent-deny true")
  eq(v({ status = 403, body = "Permission denied" }), "deny agent-error false")
  eq(v({ status = 500, body = '{"Authorized":true}' }), "deny agent-error false")
  eq(v({ status = 200, body = "<html>" }), "deny agent-error false")
  eq(v({ status = 200 }), "deny agent-error false")
  eq(v({}, 5), "deny agent-error false")
  eq(v({ status = 0 }, 250), "deny agent-timeout false")
  eq(v({ status = 504, body = "<html>" }, 1000), "deny agent-timeout false")
  eq(v({ status = 504, body = "<html>" }, 10), "deny agent-error false")
  eq(v({ status = 503, body = "<html>" }, 3000), "deny agent-error false")
  eq(v({ status = 403, body = "Permission denied" }, 1000), "deny agent-error false")
  eq(v(nil, 10), "deny agent-error false")
  eq(v("oops", 10), "deny agent-error false")
end)

case("serial_hex formats like Consul; parse_agent_url takes http://host:port only", function()
  eq(M.serial_hex("\0\10\255"), "00:0a:ff"); eq(M.serial_hex(""), ""); eq(M.serial_hex(nil), "")
  eq(M.parse_agent_url("http://127.0.0.1:8500"), "http://127.0.0.1:8500")
  eq(M.parse_agent_url("HTTP://127.0.0.1:8500/"), "http://127.0.0.1:8500")
  for _, u in ipairs({ "https://127.0.0.1:8501", "unix:///run/consul.sock", "127.0.0.1:8500",
      "http://127.0.0.1:8500/v1", "http://user:pw@127.0.0.1:8500", "", false }) do
    local base, why = M.parse_agent_url(u or nil)
    if base or type(why) ~= "string" then fail("accepted " .. show(u)) end
  end
end)

case("load_token: the token file wins, is trimmed, and a missing file falls back", function()
  local env = { CONSUL_HTTP_TOKEN_FILE = "/t", CONSUL_HTTP_TOKEN = "from-env" }
  local files = { ["/t"] = "  from-file\n" }
  local function getenv(k) return env[k] end
  local function readfile(p) return files[p] end
  eq(M.load_token(getenv, readfile), "from-file")
  files["/t"] = nil; eq(M.load_token(getenv, readfile), "from-env")
  env.CONSUL_HTTP_TOKEN = nil; eq(M.load_token(getenv, readfile), nil)
end)

-- Action glue ---------------------------------------------------------------------------------

local function fake_txn(der, serial)
  local txn = { vars = {} }
  txn.f = {
    ssl_c_der = function() if der == "raise" then error("boom") end return der end,
    ssl_c_serial = function() return serial or "\1\2" end,
  }
  function txn:set_var(k, v) self.vars[k] = v end
  return txn
end

local function fixture_deps(map, answers)
  local now, advance = clock()
  local deps = { state = { table = map }, cache = M.new_cache({ now = now }),
    agent = "http://127.0.0.1:8500", token = "tok", now = now, posts = {}, logs = {} }
  deps.post = function(req)
    deps.posts[#deps.posts + 1] = req
    local a = table.remove(answers, 1)
    if type(a) == "function" then return a(advance) end
    return a
  end
  deps.log = function(msg) deps.logs[#deps.logs + 1] = msg end
  return deps, advance
end

local function base_map(extra)
  local t = { ["@target"] = "web", ["@trust_domain"] = TD:upper(), ["@version"] = "1" }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function run(deps, der)
  local txn = fake_txn(der)
  M.new_authorizer(deps)(txn)
  return txn.vars["sess.mesh_decision"], txn.vars["sess.mesh_reason"], txn.vars["sess.mesh_source"]
end

case("action: map-decided allow and deny, exact and wildcard, set all three vars", function()
  local deps = fixture_deps(base_map({ web = "allow" }), {})
  local d, r, s = run(deps, LEAF_DER)
  eq(d, "allow"); eq(r, "intention-allow"); eq(s, LEAF_URI)
  deps = fixture_deps(base_map({ web = "deny", ["*"] = "allow" }), {})
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "intention-deny")
  deps = fixture_deps(base_map({ ["*"] = "allow" }), {})
  d, r = run(deps, LEAF_DER); eq(d, "allow"); eq(r, "wildcard-allow")
  deps = fixture_deps(base_map({ ["*"] = "deny" }), {})
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "wildcard-deny")
  eq(#deps.posts, 0, "no agent calls")
end)

case("action: certificate and trust-domain failures deny with their reason", function()
  local deps = fixture_deps(base_map({ ["*"] = "allow" }), {})
  local d, r, s = run(deps, nil); eq(d, "deny"); eq(r, "no-cert"); eq(s, "-")
  d, r = run(deps, ""); eq(r, "no-cert")
  d, r = run(deps, "\48\3\1\2\3"); eq(d, "deny"); eq(r, "bad-cert")
  d, r, s = run(deps, ROOTS[1]); eq(r, "bad-cert"); eq(s, "spiffe://" .. TD)
  d, r = run(deps, read(FIX .. "no-san.der")); eq(r, "bad-cert")
  deps.state.table["@trust_domain"] = "other.consul"
  d, r, s = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "trust-domain-mismatch"); eq(s, LEAF_URI)
  deps.state.table["@trust_domain"] = nil
  d, r = run(deps, LEAF_DER); eq(r, "trust-domain-mismatch")
  deps = fixture_deps({ ["@trust_domain"] = TD, ["*"] = "allow" }, {})
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "no-target")
end)

case("action: undecided sources ask the agent once, then use the cache", function()
  local deps = fixture_deps(base_map(), {
    { status = 200, body = '{"Authorized":true,"Reason":"ok"}' } })
  local d, r = run(deps, LEAF_DER)
  eq(d, "allow"); eq(r, "agent-allow"); eq(#deps.posts, 1)
  local req = deps.posts[1]
  eq(req.url, "http://127.0.0.1:8500/v1/agent/connect/authorize")
  eq(req.headers["X-Consul-Token"][1], "tok")
  eq(req.body, '{"Target":"web","ClientCertURI":"' .. LEAF_URI .. '","ClientCertSerial":"01:02"}')
  d, r = run(deps, LEAF_DER); eq(d, "allow"); eq(r, "agent-allow"); eq(#deps.posts, 1, "cached")
end)

case("action: a new @version sends the next connection to the agent again", function()
  local deps = fixture_deps(base_map(), {
    { status = 200, body = '{"Authorized":true,"Reason":""}' },
    { status = 200, body = '{"Authorized":false,"Reason":""}' } })
  eq(run(deps, LEAF_DER), "allow")
  deps.state.table["@version"] = "2"
  local d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "agent-deny"); eq(#deps.posts, 2)
  eq(run(deps, LEAF_DER), "deny", "cached deny"); eq(#deps.posts, 2)
end)

case("action: agent failures deny and are not cached", function()
  local deps = fixture_deps(base_map(), {
    { status = 403, body = "Permission denied" },
    function() error("httpclient exploded") end,
    { status = 200, body = "{}" },
    function(advance) advance(0.3); return {} end,
    { status = 200, body = '{"Authorized":true}' } })
  local d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "agent-error")
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "agent-error")
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "agent-error")
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "agent-timeout")
  d, r = run(deps, LEAF_DER); eq(d, "allow"); eq(#deps.posts, 5, "every failure retried")
end)

case("action: without a usable agent, undecided sources are denied", function()
  local deps = fixture_deps(base_map(), {})
  deps.agent = nil
  local d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "no-agent"); eq(#deps.posts, 0)
end)

case("action: identities outside the default namespace skip the map", function()
  local deps = fixture_deps(base_map({ web = "allow" }), {})
  local d, r, uri, id = M.evaluate(deps.state, LEAF_DER)
  eq(d, "allow"); eq(r, "intention-allow")
  id = M.parse_spiffe("spiffe://" .. TD .. "/ns/other/dc/dc1/svc/web")
  eq(M.default_tenancy(id), false)
  id = M.parse_spiffe("spiffe://" .. TD .. "/ap/default/ns/default/dc/dc1/svc/web")
  eq(M.default_tenancy(id), true)
  eq(uri, LEAF_URI)
end)

case("action: a Lua error anywhere ends in deny/internal-error and is logged", function()
  local deps = fixture_deps(base_map({ web = "allow" }), {})
  local d, r = run(deps, "raise"); eq(d, "deny"); eq(r, "internal-error")
  ok(deps.logs[1]:find("boom", 1, true), "logged")
  deps.state.table = setmetatable({}, { __index = function() error("map gone") end })
  d, r = run(deps, LEAF_DER); eq(d, "deny"); eq(r, "internal-error")
end)

case("peer_svc names the server's service only inside our trust domain", function()
  local state = { table = { ["@trust_domain"] = TD } }
  eq(M.peer_svc(state, LEAF_DER), "web")
  eq(M.peer_svc({ table = { ["@trust_domain"] = "x.consul" } }, LEAF_DER), "")
  eq(M.peer_svc({ table = {} }, LEAF_DER), "")
  eq(M.peer_svc(state, nil), ""); eq(M.peer_svc(state, "junk"), "")
  eq(M.peer_svc(state, ROOTS[1]), "")
end)

-- HAProxy registration with fakes -------------------------------------------------------------

-- Loads authorize.lua as HAProxy would, with fake core/Map/os; returns what it registered.
local function load_in_fake_haproxy(env, map_entries, answer)
  local reg = { actions = {}, fetches = {}, logs = {}, posts = {}, set_maps = {} }
  local fake_core = {
    warning = 4,
    log = function(_, msg) reg.logs[#reg.logs + 1] = msg end,
    now = function() return { sec = 100, usec = 0 } end,
    register_action = function(name, kinds, fn, nargs)
      reg.actions[name] = { kinds = kinds, fn = fn, nargs = nargs }
    end,
    register_fetches = function(name, fn) reg.fetches[name] = fn end,
    set_map = function(file, key, value) reg.set_maps[#reg.set_maps + 1] = { file, key, value } end,
    httpclient = function()
      return { post = function(_, req) reg.posts[#reg.posts + 1] = req; return answer end }
    end,
  }
  local fake_map = { _str = 2, new = function(path, kind)
    reg.map_path, reg.map_kind = path, kind
    return { lookup = function(_, key) reg.lookups = (reg.lookups or 0) + 1; return map_entries[key] end }
  end }
  local fake_os = setmetatable({ getenv = function(k) return env[k] end }, { __index = os })
  local sandbox = setmetatable({ core = fake_core, Map = fake_map, os = fake_os }, { __index = _G,
    __newindex = function(_, k) error("global written: " .. tostring(k)) end })
  local chunk = assert(loadfile(LUA_FILE, "t", sandbox))
  reg.module = chunk()
  return reg
end

case("under HAProxy it registers lua.authorize (tcp-req, http-req) and lua.mesh_peer_svc", function()
  local entries = base_map({ ["*"] = "deny" })
  local reg = load_in_fake_haproxy({ MESHPLATE_INTENTIONS_MAP = "/m.map",
    MESHPLATE_AGENT_URL = "http://127.0.0.1:8500" }, entries, nil)
  eq(reg.map_path, "/m.map"); eq(reg.map_kind, 2, "Map._str")
  local a = reg.actions.authorize
  ok(a, "action registered"); eq(a.kinds[1], "tcp-req"); eq(a.kinds[2], "http-req"); eq(a.nargs, 0)
  ok(reg.fetches.mesh_peer_svc, "fetch registered")
  eq(type(reg.module.uri_san), "function", "module still returned")
  eq(#reg.logs, 0, "no warnings")
end)

case("under HAProxy the map is read at request time, so runtime map changes apply", function()
  local entries = base_map({ web = "deny" })
  local reg = load_in_fake_haproxy({ MESHPLATE_INTENTIONS_MAP = "/m.map",
    MESHPLATE_AGENT_URL = "http://127.0.0.1:8500", CONSUL_HTTP_TOKEN = "tok" }, entries,
    { status = 200, body = '{"Authorized":true,"Reason":""}' })
  local txn = fake_txn(LEAF_DER)
  reg.actions.authorize.fn(txn)
  eq(txn.vars["sess.mesh_decision"], "deny"); eq(txn.vars["sess.mesh_reason"], "intention-deny")
  entries.web = "allow"
  txn = fake_txn(LEAF_DER); reg.actions.authorize.fn(txn)
  eq(txn.vars["sess.mesh_reason"], "intention-allow")
  entries.web = nil
  txn = fake_txn(LEAF_DER); reg.actions.authorize.fn(txn)
  eq(txn.vars["sess.mesh_reason"], "agent-allow"); eq(#reg.posts, 1)
  eq(reg.posts[1].headers["X-Consul-Token"][1], "tok")
end)

case("under HAProxy the fetch returns the server's svc or an empty string", function()
  local reg = load_in_fake_haproxy({ MESHPLATE_INTENTIONS_MAP = "/m.map" }, base_map(), nil)
  local fetch = reg.fetches.mesh_peer_svc
  eq(fetch({ f = { ssl_s_der = function() return LEAF_DER end, ssl_s_serial = function() return "" end, ssl_s_i_dn = function() return "" end } }), "web")
  eq(fetch({ f = { ssl_s_der = function() return nil end, ssl_s_serial = function() return nil end, ssl_s_i_dn = function() return nil end } }), "")
  eq(fetch({ f = { ssl_s_der = function() error("no ssl") end } }), "")
  ok(reg.logs[1] and reg.logs[1]:find("agent lookups disabled", 1, true), "warned about agent")
end)

case("the peer key is the fingerprint in HAProxy's uppercase hex, with a suffix no service name has", function()
  eq(M.peer_key("\0\171\255\1"), "00ABFF01@peer")
  eq(M.learn_peer({ table = { ["@trust_domain"] = TD } }, LEAF_DER), "web")
  eq(M.learn_peer({ table = { ["@trust_domain"] = "x.consul" } }, LEAF_DER), "!", "another trust domain never equals a service")
  eq(M.learn_peer({ table = { ["@trust_domain"] = TD } }, "junk"), "!")
end)

case("under HAProxy mesh_learn_peer (http-res) adds the certificate to the map and sets txn.mesh_peer", function()
  local reg = load_in_fake_haproxy({ MESHPLATE_INTENTIONS_MAP = "/m.map" }, base_map(), nil)
  local a = reg.actions.mesh_learn_peer
  ok(a, "action registered"); eq(a.kinds[1], "http-res"); eq(a.nargs, 0)
  local txn = fake_txn(LEAF_DER)
  txn.f.ssl_s_der = function() return LEAF_DER end
  txn.f.ssl_s_sha1 = function() return "\18\52" end
  a.fn(txn)
  eq(txn.vars["txn.mesh_peer"], "web")
  eq(reg.set_maps[1][1], "/m.map"); eq(reg.set_maps[1][2], "1234@peer"); eq(reg.set_maps[1][3], "web")
  local broken = fake_txn(LEAF_DER)
  broken.f.ssl_s_sha1 = function() error("no ssl") end
  a.fn(broken)
  eq(broken.vars["txn.mesh_peer"], "!", "an error fails closed")
end)

case("a table decision stamps sess.mesh_version; an agent decision does not", function()
  local deps = fixture_deps(base_map({ web = "allow" }), {})
  local txn = fake_txn(LEAF_DER); M.new_authorizer(deps)(txn)
  eq(txn.vars["sess.mesh_version"], "1")
  deps = fixture_deps(base_map(), { { status = 200, body = '{"Authorized":true,"Reason":"ok"}' } })
  txn = fake_txn(LEAF_DER); M.new_authorizer(deps)(txn)
  eq(txn.vars["sess.mesh_decision"], "allow"); eq(txn.vars["sess.mesh_version"], "")
end)

case("the peer cache parses a server certificate once per serial and issuer", function()
  local map = base_map()
  local peer, parses = M.new_peer_cache({ table = map }, 2), 0
  local function fetch(serial, issuer, der)
    return { serial = function() return serial end, issuer = function() return issuer end,
      der = function() parses = parses + 1; return der end }
  end
  eq(peer(fetch("\1", "CN=a", LEAF_DER)), "web"); eq(peer(fetch("\1", "CN=a", LEAF_DER)), "web")
  eq(parses, 1)
  eq(peer(fetch("\1", "CN=b", "garbage")), ""); eq(parses, 2)
  map["@trust_domain"] = "other.consul"
  eq(peer(fetch("\1", "CN=a", LEAF_DER)), "", "a trust domain change is not served from the cache")
  eq(peer(fetch("", "", LEAF_DER)), "", "no serial: parsed every time")
end)

case("under HAProxy a missing MESHPLATE_INTENTIONS_MAP stops the load", function()
  local okc, err = pcall(load_in_fake_haproxy, {}, {}, nil)
  eq(okc, false); ok(tostring(err):find("MESHPLATE_INTENTIONS_MAP", 1, true), "message")
end)

case("the token never reaches a log line", function()
  local reg = load_in_fake_haproxy({ MESHPLATE_INTENTIONS_MAP = "/m.map",
    MESHPLATE_AGENT_URL = "https://x", CONSUL_HTTP_TOKEN = "s3cret-token" }, base_map(), nil)
  for _, line in ipairs(reg.logs) do ok(not line:find("s3cret", 1, true), "token logged") end
end)

-- Malformed DER -------------------------------------------------------------------------------

case("every truncation of the real leaf returns nil and a reason", function()
  local inputs = {}
  for n = 0, #LEAF_DER - 1 do inputs[#inputs + 1] = LEAF_DER:sub(1, n) end
  local count = fuzz(inputs, function(_, uri) return uri == nil, "truncation gave " .. show(uri) end)
  ok(count == #LEAF_DER, "count")
end)

case("trailing bytes after the certificate are refused", function()
  eq(M.uri_san(LEAF_DER .. "\0"), nil)
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
    local uri, err = M.uri_san(der)
    if uri ~= nil or type(err) ~= "string" then fail("accepted outer tag " .. tag) end
  end
  local uri = M.uri_san(LEAF_DER:sub(1, 4) .. "\49" .. LEAF_DER:sub(6))
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
    eq(M.uri_san(h .. LEAF_DER:sub(5)), nil, show(h))
    eq(M.uri_san(h), nil, show(h) .. " alone")
  end
  local inner = LEAF_DER:sub(1, 4) .. "\48\132\255\255\255\255" .. LEAF_DER:sub(9)
  eq(M.uri_san(inner), nil, "huge inner length")
  inner = LEAF_DER:sub(1, 4) .. "\48\128" .. LEAF_DER:sub(9)
  eq(M.uri_san(inner), nil, "indefinite inner length")
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
  eq(M.uri_san(cert(tlvb(0x04, tlvb(0x30, names)))), "spiffe://t/x", "third name")
  eq(M.uri_san(cert(tlvb(0x01, "\255") .. tlvb(0x04, tlvb(0x30, names)))), "spiffe://t/x", "critical")
  eq(M.uri_san(cert(tlvb(0x04, tlvb(0x30, tlvb(0x86, ""))))), nil, "empty uri")
  eq(M.uri_san(cert(tlvb(0x04, tlvb(0x30, tlvb(0x86, "a b"))))), nil, "space in uri")
  eq(M.uri_san(cert(tlvb(0x04, tlvb(0x31, names)))), nil, "SET of names")
  eq(M.uri_san(cert(tlvb(0x03, tlvb(0x30, names)))), nil, "BIT STRING value")
  eq(M.uri_san(cert("")), nil, "no value")
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
    local uri, err = M.uri_san(v)
    eq(uri, nil); ok(type(err) == "string")
  end
  local uri, err = M.uri_san(nil); eq(uri, nil); ok(err)
  uri, err = M.uri_san(""); eq(uri, nil); eq(err, "empty")
end)

case("loading the module under plain Lua writes no globals", function()
  local sandbox = setmetatable({}, { __index = _G,
    __newindex = function(_, k) error("global written: " .. tostring(k)) end })
  local mod = assert(loadfile(LUA_FILE, "t", sandbox))()
  eq(type(mod.decide), "function")
end)

-- Run ---------------------------------------------------------------------------------------

T.run()
