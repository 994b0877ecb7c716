-- l7_spec.lua: the behaviour of lua/l7.lua, and of authorize.lua's action for L7 sources,
-- under plain lua5.3 and lua5.4, printed as TAP.
--
-- Why this file exists: an L7 permission decides per request whether a peer may reach a path,
-- so its parser must refuse anything it cannot read (deny, never a crash and never an accidental
-- allow), the first matching permission must win, and a request matching none must get the
-- agent's default action rather than a lower-precedence intention. The lines parsed here have
-- the exact shape src/connect/intentions-map.ts renders (test/unit/connect/intentions-map.test.ts checks
-- that side). Regexes are compiled by a small fake (Lua patterns) standing in for HAProxy's
-- Regex class; the real one is exercised end to end in test/e2e/l7.test.ts.
-- Run: `lua5.3 test/lua/l7_spec.lua`; test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local ROOT = dir .. "/../.."
local L7 = dofile(ROOT .. "/lua/l7.lua")
local M = dofile(ROOT .. "/lua/authorize.lua")

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, fail, show, eq, ok = T.case, T.fail, T.show, T.eq, T.ok

-- A stand-in for HAProxy's Regex: the anchored PCRE forms these cases use, as Lua patterns.
local PATTERNS = {
  ["^(?:/api/v[0-9]+/.*)\\z"] = "^/api/v%d+/.*$",
  ["^(?:Bearer .+)\\z"] = "^Bearer .+$",
}
local compiled = 0
local function compile(re)
  local p = PATTERNS[re]
  if not p then return nil, "unknown to the fake" end
  compiled = compiled + 1
  return function(s) return s:find(p) ~= nil end
end

local function req(path, method, headers)
  return { path = path, method = method or "GET", header = function(n) return (headers or {})[n] end }
end

local function perms_of(lines)
  local t = {}
  for i, l in ipairs(lines) do t["@p/web/" .. i] = l end
  local perms, err = L7.load(function(k) return t[k] end, "web", #lines, compile)
  return perms, err
end

case("parse: action, path kinds, methods and headers, percent-decoded", function()
  local p = assert(L7.parse_permission("allow path.prefix=/api%20v1 methods=GET,POST hdr=exact:0:x-role:ad%3Amin"))
  eq(p.action, "allow"); eq(p.path_kind, "prefix"); eq(p.path, "/api v1")
  ok(p.methods.GET and p.methods.POST and not p.methods.PUT, "methods set")
  eq(#p.headers, 1); eq(p.headers[1].kind, "exact"); eq(p.headers[1].name, "x-role"); eq(p.headers[1].value, "ad:min")
  eq(p.headers[1].invert, false)
  p = assert(L7.parse_permission("deny")); eq(p.action, "deny"); eq(p.path_kind, nil)
  p = assert(L7.parse_permission("deny hdr=present:1:x-debug:")); eq(p.headers[1].invert, true)
end)

case("Consul 1.20.1 matchers: Contains, and IgnoreCase on Exact/Prefix/Suffix/Contains (ASCII)", function()
  local perms = assert(perms_of({
    "deny hdr=exact:0i:x-role:admin", "deny hdr=contains:0:x-team:adm", "deny hdr=prefix:1i:x-env:PRO",
    "allow hdr=suffix:0i:x-host:.example", "allow hdr=contains:0i:x-tag:BeTa" }))
  eq(perms[1].headers[1].value, "admin"); eq(perms[1].headers[1].ignore_case, true)
  local function first(headers)
    for i, p in ipairs(perms) do if L7.matches(p, req("/", "GET", headers)) then return i end end
  end
  eq(first({ ["x-role"] = "ADMIN", ["x-env"] = "prod" }), 1, "IgnoreCase exact: ADMIN is admin")
  eq(first({ ["x-role"] = "Admin", ["x-env"] = "prod" }), 1)
  eq(first({ ["x-role"] = "admins", ["x-team"] = "badmin", ["x-env"] = "prod" }), 2, "exact is still exact; contains finds adm")
  eq(first({ ["x-team"] = "ADM", ["x-env"] = "prod" }), nil, "contains without IgnoreCase is case-sensitive")
  eq(first({ ["x-env"] = "staging" }), 3, "inverted, case-insensitive prefix: staging does not start with pro")
  eq(first({ ["x-env"] = "Production", ["x-host"] = "API.EXAMPLE" }), 4)
  eq(first({ ["x-env"] = "prod", ["x-tag"] = "alpha-BETA-1" }), 5)
  eq(first({ ["x-env"] = "prod", ["x-tag"] = "b.ta" }), nil, "contains is plain text, not a pattern")
end)

case("`never`: a permission needing a condition the renderer does not enforce never matches", function()
  local perms = assert(perms_of({ "allow never", "allow path.prefix=/" }))
  eq(perms[1].never, true)
  local d, rule = L7.decide({ perms[1] }, req("/anything"), "deny")
  eq(d, "deny"); eq(rule, "default", "the default decides, as Envoy does without a valid JWT")
  d, rule = L7.decide(perms, req("/x"), "deny")
  eq(d, "allow"); eq(rule, "2", "the next permission decides")
end)

case("parse: anything unreadable is refused, never half-read", function()
  for _, bad in ipairs({ "", "permit", "allow path.exact=/a path.prefix=/b", "allow methods=get",
      "allow hdr=exact:2:x:y", "allow hdr=within:0:x:y", "allow hdr=regex:0i:x:y",
      "allow hdr=present:0i:x:", "allow hdr=exact:0j:x:y", "allow nevermore", "allow hdr=exact:0:x", "allow path.exact=%zz",
      "allow path.exact=%4", "allow colour=red", "allow path.exact", "ALLOW" }) do
    local p, err = L7.parse_permission(bad)
    eq(p, nil, "parse of " .. show(bad)); ok(type(err) == "string", "a reason for " .. show(bad))
  end
  eq(L7.parse_permission(nil), nil)
end)

case("match: exact, prefix and regex paths; methods; all headers must hold", function()
  local perms = assert(perms_of({
    "allow path.exact=/health",
    "allow path.prefix=/public/ methods=GET,HEAD",
    "deny path.regex=%5E%28%3F%3A/api/v%5B0-9%5D%2B/.%2A%29%5Cz",
    "allow hdr=regex:0:authorization:%5E%28%3F%3ABearer%20.%2B%29%5Cz hdr=present:0:x-tenant:" }))
  eq(perms[3].path, "^(?:/api/v[0-9]+/.*)\\z", "regex decoded as rendered")
  local d, rule, reason = L7.decide(perms, req("/health"), "deny"); eq(d, "allow"); eq(rule, "1"); eq(reason, "permission-allow")
  eq(L7.decide(perms, req("/health/"), "deny"), "deny", "exact means exact")
  eq(L7.decide(perms, req("/public/a", "HEAD"), "deny"), "allow")
  eq(L7.decide(perms, req("/public/a", "POST"), "deny"), "deny", "method not listed")
  d, rule = L7.decide(perms, req("/api/v2/x", "GET", { authorization = "Bearer t", ["x-tenant"] = "a" }), "allow")
  eq(d, "deny"); eq(rule, "3", "the first matching permission decides, even before a later allow")
  eq(L7.decide(perms, req("/other", "GET", { authorization = "Bearer t", ["x-tenant"] = "a" }), "deny"), "allow")
  eq(L7.decide(perms, req("/other", "GET", { authorization = "Bearer t" }), "deny"), "deny", "every header matcher must hold")
end)

case("match: prefix, suffix, invert and absent headers", function()
  local perms = assert(perms_of({ "allow hdr=prefix:0:x-v:v1. hdr=suffix:0:x-env:-prod hdr=exact:1:x-user:mallory" }))
  eq(L7.decide(perms, req("/", "GET", { ["x-v"] = "v1.2", ["x-env"] = "eu-prod", ["x-user"] = "bob" }), "deny"), "allow")
  eq(L7.decide(perms, req("/", "GET", { ["x-v"] = "v1.2", ["x-env"] = "eu-prod", ["x-user"] = "mallory" }), "deny"), "deny", "inverted exact")
  eq(L7.decide(perms, req("/", "GET", { ["x-v"] = "v1.2", ["x-env"] = "eu-prod" }), "deny"), "allow", "an absent header is not 'mallory'")
  eq(L7.decide(perms, req("/", "GET", { ["x-v"] = "v2", ["x-env"] = "eu-prod" }), "deny"), "deny")
  perms = assert(perms_of({ "deny hdr=present:1:x-debug:" }))
  eq(L7.decide(perms, req("/", "GET", {}), "allow"), "deny", "inverted present matches an absent header")
  eq(L7.decide(perms, req("/", "GET", { ["x-debug"] = "1" }), "allow"), "allow")
end)

case("no permission matches: the default action, and deny when there is none", function()
  local perms = assert(perms_of({ "allow path.prefix=/a" }))
  local d, rule, reason = L7.decide(perms, req("/b"), "allow"); eq(d, "allow"); eq(rule, "default"); eq(reason, "default-allow")
  d, rule, reason = L7.decide(perms, req("/b"), "deny"); eq(d, "deny"); eq(reason, "default-deny")
  d, rule, reason = L7.decide(perms, req("/b"), nil); eq(d, "deny"); eq(reason, "no-default")
  d = L7.decide(perms, req(nil), "deny"); eq(d, "deny", "no path (e.g. CONNECT) matches no path rule")
end)

case("load: a missing line, a bad count or a regex the engine refuses is an error", function()
  local perms, err = perms_of({ "allow", "deny path.regex=%28" })
  eq(perms, nil); ok(err:find("permission 2: bad regex", 1, true), err)
  perms, err = L7.load(function() return nil end, "web", 1, compile); eq(perms, nil); ok(err:find("permission 1", 1, true))
  eq(L7.load(function() return "allow" end, "web", 0, compile), nil)
  eq(L7.load(function() return "allow" end, "web", 257, compile), nil)
end)

case("rule cache: compiled once per @version and source, error cached too", function()
  local t = { ["@p/web/1"] = "allow path.regex=%5E%28%3F%3A/api/v%5B0-9%5D%2B/.%2A%29%5Cz" }
  local lookups = 0
  local lookup = function(k) lookups = lookups + 1; return t[k] end
  local cache = L7.new_rule_cache(compile)
  compiled = 0
  ok(cache(lookup, "v1", "web", 1)); ok(cache(lookup, "v1", "web", 1))
  eq(compiled, 1); eq(lookups, 1, "read once per version")
  t["@p/web/1"] = "deny"
  local perms = cache(lookup, "v2", "web", 1); eq(perms[1].action, "deny", "a new @version re-reads")
  local none, err = cache(lookup, "v2", "api", 1); eq(none, nil); ok(err)
end)

-- The action with an L7 source, through fake txn objects ------------------------------------

local F = dofile(dir .. "/fixtures.lua")
local LEAF_DER = F.LEAF_DER
local TD = M.Cert.parse_spiffe(M.Cert.uri_san(LEAF_DER)).trust_domain

local function http_txn(path, method, headers)
  local txn = { vars = {} }
  txn.f = { ssl_c_der = function() return LEAF_DER end, ssl_c_serial = function() return "\1" end,
    path = function() return path end, method = function() return method or "GET" end }
  txn.http = { req_get_headers = function()
    local h = {}
    for k, v in pairs(headers or {}) do h[k] = { [0] = v } end
    return h
  end }
  function txn:set_var(k, v) self.vars[k] = v end
  function txn:get_var(k) return self.vars[k] end
  return txn
end

local function l7_deps(map)
  local logs = {}
  return { state = { table = map }, cache = M.Decide.new_cache(), rules = L7.new_rule_cache(compile),
    now = os.time, posts = {}, post = function() error("no agent call expected") end,
    log = function(m) logs[#logs + 1] = m end, logs = logs }
end

-- Both phases, as the config runs them: `authorize` (tcp-request) sets the connection's decision,
-- `authorize_l7` decides the request when that decision is "l7". `sess` carries the session
-- variables of an earlier request on the same connection (then `authorize` is skipped while the
-- map's @version is unchanged, as the config does).
local function both(deps, txn, sess)
  if sess and sess["sess.mesh_version"] == deps.state.table["@version"] then
    for k, v in pairs(sess) do txn.vars[k] = v end
    txn.vars["txn.mesh_decision"] = sess["sess.mesh_decision"]
  else
    M.new_authorizer(deps)(txn)
  end
  if txn.vars["txn.mesh_decision"] == "l7" then M.new_l7_authorizer(deps)(txn) end
  return txn
end

local function sess_of(txn)
  local s = {}
  for k, v in pairs(txn.vars) do if k:find("^sess%.") then s[k] = v end end
  return s
end

case("action: an L7 connection is kept as `l7`, and each of its requests decided on its own", function()
  local map = { ["@target"] = "api", ["@trust_domain"] = TD, ["@version"] = "7", ["@default"] = "deny",
    web = "l7 2", ["@p/web/1"] = "deny path.prefix=/admin", ["@p/web/2"] = "allow methods=GET" }
  local deps = l7_deps(map)
  local txn = http_txn("/items", "GET")
  M.new_authorizer(deps)(txn)
  eq(txn.vars["sess.mesh_decision"], "l7"); eq(txn.vars["sess.mesh_l7"], "web"); eq(txn.vars["sess.mesh_version"], "7")
  eq(txn.vars["txn.mesh_reason"], "l7-pending", "not allowed until authorize_l7 decides")
  M.new_l7_authorizer(deps)(txn)
  eq(txn.vars["txn.mesh_decision"], "allow"); eq(txn.vars["txn.mesh_rule"], "web#2")
  eq(txn.vars["txn.mesh_reason"], "permission-allow")
  eq(txn.vars["sess.mesh_decision"], "l7", "the connection's decision stays l7, never this request's allow")
  local sess = sess_of(txn)
  txn = both(deps, http_txn("/admin/x", "GET"), sess)
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_rule"], "web#1")
  txn = both(deps, http_txn("/items", "DELETE"), sess)
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_rule"], "web#default"); eq(txn.vars["txn.mesh_reason"], "default-deny")
  txn = both(deps, http_txn("/items", "GET"), sess)
  eq(txn.vars["txn.mesh_decision"], "allow", "a later request on the kept connection is decided again")
  map["@default"] = "allow"; map["@version"] = "8"
  txn = both(deps, http_txn("/items", "DELETE"), sess); eq(txn.vars["txn.mesh_decision"], "allow", "the agent's default, not a guess")
end)

case("action: the map changing between the two phases is never half-applied", function()
  local map = { ["@target"] = "api", ["@trust_domain"] = TD, ["@version"] = "1", ["@default"] = "allow",
    web = "l7 1", ["@p/web/1"] = "deny path.exact=/x" }
  local deps = l7_deps(map)
  local txn = http_txn("/x"); M.new_authorizer(deps)(txn)
  map.web = "allow"; map["@version"] = "2"
  M.new_l7_authorizer(deps)(txn)
  eq(txn.vars["txn.mesh_decision"], "allow"); eq(txn.vars["txn.mesh_reason"], "intention-allow")
  txn = http_txn("/x"); map.web = "l7 1"; M.new_authorizer(deps)(txn)
  map.web = nil; map["@version"] = "3"
  M.new_l7_authorizer(deps)(txn)
  eq(txn.vars["txn.mesh_decision"], "allow"); eq(txn.vars["txn.mesh_reason"], "default-allow", "no row: the default")
  txn = http_txn("/x"); map.web = "l7 1"; map["@version"] = "4"; M.new_authorizer(deps)(txn)
  map.web = nil; map["@default"] = nil; map["@version"] = "5"
  M.new_l7_authorizer(deps)(txn)
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_reason"], "table-changed")
end)

case("action: a wildcard L7 intention, an unreadable rule, and L7 on a tcp stream all deny safely", function()
  local map = { ["@target"] = "api", ["@trust_domain"] = TD, ["@version"] = "1", ["@default"] = "allow",
    ["*"] = "l7 1", ["@p/*/1"] = "deny path.exact=/secret" }
  local deps = l7_deps(map)
  local txn = both(deps, http_txn("/secret"))
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_rule"], "*#1")
  map["@p/*/1"] = "deny path.exact=%zz"; map["@version"] = "2"
  txn = both(deps, http_txn("/open"))
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_reason"], "bad-rule")
  ok(deps.logs[1] and deps.logs[1]:find("intention for *", 1, true), "the bad rule is logged")
  txn = http_txn("/open"); txn.http = nil; both(deps, txn)
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_reason"], "l7-not-http")
  txn = http_txn("/open"); M.new_authorizer(deps)(txn)
  eq(txn.vars["sess.mesh_decision"], "l7", "a tcp listener (no authorize_l7 after it) sees l7, which its reject rule refuses (not allow)")
end)

case("action: an L4 intention in an HTTP listener is still kept for the connection", function()
  local map = { ["@target"] = "api", ["@trust_domain"] = TD, ["@version"] = "3", web = "deny" }
  local txn = both(l7_deps(map), http_txn("/x"))
  eq(txn.vars["txn.mesh_decision"], "deny"); eq(txn.vars["txn.mesh_rule"], "web"); eq(txn.vars["sess.mesh_version"], "3")
end)

T.run()
