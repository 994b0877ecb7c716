-- authorize_spec.lua: the behaviour of lua/authorize.lua under plain lua5.3 and lua5.4, printed
-- as TAP.
--
-- Why this file exists: authorize.lua decides who may open a connection to a mesh service, so
-- its actions must end every path in a decision and never say "allow" by accident. These cases
-- drive the actions and the fetch with fake `core`, `Map`, `txn` and httpclient objects on real
-- Consul certificates (test/fixtures/certs), so the HAProxy path, and how it uses
-- lua/cert.lua, lua/decide.lua and lua/agent.lua (each with its own spec), is exercised
-- without HAProxy. Run: `lua5.3 test/lua/authorize_spec.lua`; exit status 0 only when every
-- case passes. test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local LUA_FILE = dir .. "/../../lua/authorize.lua"
local M = dofile(LUA_FILE)
local Cert, Decide = M.Cert, M.Decide

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, eq, ok = T.case, T.eq, T.ok
local F = dofile(dir .. "/fixtures.lua")
local read = F.read
local FIX, LEAF_DER, LEAF_URI, TD, ROOTS = F.FIX, F.LEAF_DER, F.LEAF_URI, F.TD, F.ROOTS

local function clock()
  local t = 1000
  return function() return t end, function(dt) t = t + dt end
end

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
  local deps = { state = { table = map }, cache = Decide.new_cache({ now = now }),
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
  id = Cert.parse_spiffe("spiffe://" .. TD .. "/ns/other/dc/dc1/svc/web")
  eq(Cert.default_tenancy(id), false)
  id = Cert.parse_spiffe("spiffe://" .. TD .. "/ap/default/ns/default/dc/dc1/svc/web")
  eq(Cert.default_tenancy(id), true)
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
  eq(type(reg.module.evaluate), "function", "module still returned")
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
case("loading the module under plain Lua writes no globals, nor do the modules it loads", function()
  local mod = F.load_clean(LUA_FILE)
  eq(type(mod.evaluate), "function")
  for _, name in ipairs({ "Cert", "Decide", "Agent", "L7" }) do eq(type(mod[name]), "table", name) end
end)

-- Run ---------------------------------------------------------------------------------------

T.run()
