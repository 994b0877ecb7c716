-- agent_spec.lua: the behaviour of lua/agent.lua under plain lua5.3 and lua5.4, printed as TAP.
--
-- Why this file exists: agent.lua speaks to the Consul agent for the sources the intentions
-- map cannot decide, so its JSON reader must never be fooled into an allow (look-alike text,
-- nesting, duplicates, trailing garbage) nor crash on any body, every odd response must be an
-- uncached deny, and the request must carry the token and nothing a log could leak. Run:
-- `lua5.3 test/lua/agent_spec.lua`; exit status 0 only when every case passes.
-- test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local LUA_FILE = dir .. "/../../lua/agent.lua"
local A = dofile(LUA_FILE)

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, fail, show, eq = T.case, T.fail, T.show, T.eq
local F = dofile(dir .. "/fixtures.lua")
local prng, LEAF_URI = F.prng, F.LEAF_URI

-- Agent plumbing ------------------------------------------------------------------------------

case("parse_authorize reads Consul's answer", function()
  local a, r = A.parse_authorize('{"Authorized":true,"Reason":"ACLs disabled, access is allowed by default"}')
  eq(a, true); eq(r, "ACLs disabled, access is allowed by default")
  a, r = A.parse_authorize(' {\n "Reason" : "Matched L4 intention: \\"x\\"\\u0041", "Authorized" : false } ')
  eq(a, false); eq(r, 'Matched L4 intention: "x"?')
  eq(A.parse_authorize('{"Authorized":true,"Extra":{"a":[1,2,{"b":null}]},"Reason":"r"}'), true)
end)

case("parse_authorize is not fooled by look-alike text", function()
  eq(A.parse_authorize('{"Authorized":false,"Reason":"\\"Authorized\\":true"}'), false, "in reason")
  eq(A.parse_authorize('{"Reason":"x","Nested":{"Authorized":true}}'), nil, "nested only")
  eq(A.parse_authorize('{"Authorized":"true"}'), nil, "string true")
  eq(A.parse_authorize('{"Authorized":1}'), nil, "number")
  eq(A.parse_authorize('{"Authorized":true,"Authorized":false}'), nil, "duplicate")
  eq(A.parse_authorize('{"Authorized":true} trailing'), nil, "trailing garbage")
  eq(A.parse_authorize('{"Authorized":true'), nil, "truncated")
  eq(A.parse_authorize('[{"Authorized":true}]'), nil, "array")
  eq(A.parse_authorize(""), nil, "empty")
  eq(A.parse_authorize(nil), nil, "nil")
  eq(A.parse_authorize('{"Authorized":true,"R":"' .. string.rep("a", 70000) .. '"}'), nil, "huge")
  eq(A.parse_authorize(string.rep("[", 5000) .. string.rep("]", 5000)), nil, "deep nesting")
  eq(A.parse_authorize('{"a":"\1","Authorized":true}'), nil, "control character")
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
    local okc, a = pcall(A.parse_authorize, body)
    if not okc then fail("raised on " .. show(body) .. ": " .. tostring(a)) end
    if a ~= nil and type(a) ~= "boolean" then fail("odd result on " .. show(body)) end
  end
end)

case("agent_request builds the authorize POST with and without a token", function()
  local req = A.agent_request("http://127.0.0.1:8500", "s3cret", "web", LEAF_URI, "0a:ff")
  eq(req.url, "http://127.0.0.1:8500/v1/agent/connect/authorize")
  eq(req.headers["X-Consul-Token"][1], "s3cret")
  eq(req.headers["Content-Type"][1], "application/json")
  eq(req.timeout, 250, "timeout ms")
  eq(req.body, '{"Target":"web","ClientCertURI":"' .. LEAF_URI .. '","ClientCertSerial":"0a:ff"}')
  req = A.agent_request("http://127.0.0.1:8500", nil, 'we"b', "u", nil)
  eq(req.headers["X-Consul-Token"], nil, "no token header")
  eq(req.body, '{"Target":"we\\u0022b","ClientCertURI":"u","ClientCertSerial":""}')
end)

case("agent_verdict denies on anything but a parsable 200", function()
  local function v(res, ms) return table.concat({ tostring(select(1, A.agent_verdict(res, ms))),
    tostring(select(2, A.agent_verdict(res, ms))), tostring(select(3, A.agent_verdict(res, ms))) }, " ") end
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
  eq(A.serial_hex("\0\10\255"), "00:0a:ff"); eq(A.serial_hex(""), ""); eq(A.serial_hex(nil), "")
  eq(A.parse_agent_url("http://127.0.0.1:8500"), "http://127.0.0.1:8500")
  eq(A.parse_agent_url("HTTP://127.0.0.1:8500/"), "http://127.0.0.1:8500")
  for _, u in ipairs({ "https://127.0.0.1:8501", "unix:///run/consul.sock", "127.0.0.1:8500",
      "http://127.0.0.1:8500/v1", "http://user:pw@127.0.0.1:8500", "", false }) do
    local base, why = A.parse_agent_url(u or nil)
    if base or type(why) ~= "string" then fail("accepted " .. show(u)) end
  end
end)

case("load_token: the token file wins, is trimmed, and a missing file falls back", function()
  local env = { CONSUL_HTTP_TOKEN_FILE = "/t", CONSUL_HTTP_TOKEN = "from-env" }
  local files = { ["/t"] = "  from-file\n" }
  local function getenv(k) return env[k] end
  local function readfile(p) return files[p] end
  eq(A.load_token(getenv, readfile), "from-file")
  files["/t"] = nil; eq(A.load_token(getenv, readfile), "from-env")
  env.CONSUL_HTTP_TOKEN = nil; eq(A.load_token(getenv, readfile), nil)
end)
case("loading the module under plain Lua writes no globals", function()
  eq(type(F.load_clean(LUA_FILE).parse_authorize), "function")
end)

-- Run ---------------------------------------------------------------------------------------

T.run()
