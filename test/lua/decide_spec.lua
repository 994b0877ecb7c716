-- decide_spec.lua: the behaviour of lua/decide.lua under plain lua5.3 and lua5.4, printed as TAP.
--
-- Why this file exists: decide.lua says who may connect from the intentions map alone, and
-- remembers what the agent said for the rest, so an exact row must beat the wildcard, the
-- wildcard beat `@default`, an unreadable row must never be overridden into an allow, and an
-- old agent answer must never outlive the map version it was given under. Run:
-- `lua5.3 test/lua/decide_spec.lua`; exit status 0 only when every case passes.
-- test/lua/authorize.test.ts wraps it for tap.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local LUA_FILE = dir .. "/../../lua/decide.lua"
local D = dofile(LUA_FILE)

-- Harness -----------------------------------------------------------------------------------

local T = dofile(dir .. "/tap.lua")
local case, eq = T.case, T.eq
local F = dofile(dir .. "/fixtures.lua")

-- Table decision ------------------------------------------------------------------------------

case("decide: an exact entry beats the wildcard in both directions", function()
  eq(D.decide({ table = { api = "deny", ["*"] = "allow" } }, "api"), "deny")
  eq(D.decide({ table = { api = "allow", ["*"] = "deny" } }, "api"), "allow")
  local d, kind = D.decide({ table = { api = "allow" } }, "api")
  eq(d, "allow"); eq(kind, "exact")
end)

case("decide: the wildcard applies to sources without an entry", function()
  local d, kind = D.decide({ table = { api = "allow", ["*"] = "deny" } }, "web")
  eq(d, "deny"); eq(kind, "wildcard")
end)

case("decide: no entry and no wildcard is undecided (nil)", function()
  eq(D.decide({ table = { api = "allow" } }, "web"), nil)
  eq(D.decide({ table = {} }, "web"), nil)
end)

case("decide: a source no row names gets @default, as Envoy's RBAC default (not the agent's answer)", function()
  local d, kind, key = D.decide({ table = { api = "allow", ["@default"] = "deny" } }, "web")
  eq(d, "deny"); eq(kind, "default"); eq(key, "@default")
  eq(D.decide({ table = { ["@default"] = "allow" } }, "web"), "allow")
  eq(D.decide({ table = { ["*"] = "allow", ["@default"] = "deny" } }, "web"), "allow", "the wildcard comes first")
  eq(D.decide({ table = { ["@default"] = "" } }, "web"), nil, "no default yet: ask the agent")
  eq(D.decide({ table = { ["*"] = "bogus", ["@default"] = "allow" } }, "web"), nil, "an unreadable wildcard is not overridden")
end)

case("decide: values are trimmed and case-insensitive; unreadable exact entries stay undecided", function()
  eq(D.decide({ table = { api = " ALLOW " } }, "api"), "allow")
  eq(D.decide({ table = { api = "maybe", ["*"] = "allow" } }, "api"), nil)
  eq(D.decide({ table = { ["*"] = "perhaps" } }, "api"), nil)
end)

case("decide: map meta keys and odd names are never source names", function()
  local t = { ["@target"] = "allow", ["*"] = "deny", [""] = "allow" }
  eq(D.decide({ table = t }, "@target"), nil)
  eq(D.decide({ table = t }, "*"), nil)
  eq(D.decide({ table = t }, ""), nil)
  eq(D.decide({ table = t }, nil), nil)
  eq(D.decide(nil, "api"), nil)
end)

-- Cache -------------------------------------------------------------------------------------

local function clock()
  local t = 1000
  return function() return t end, function(dt) t = t + dt end
end

case("cache: answers live for the TTL (30 s) and then expire", function()
  local now, advance = clock()
  local c = D.new_cache({ now = now })
  eq(c.ttl, 30, "default ttl")
  c:put("api", "v1", "allow", "agent-allow")
  local d, r = c:get("api", "v1")
  eq(d, "allow"); eq(r, "agent-allow")
  advance(29); eq(c:get("api", "v1"), "allow", "at 29 s")
  advance(1); eq(c:get("api", "v1"), nil, "at 30 s")
end)

case("cache: a new @version flushes every entry", function()
  local now = clock()
  local c = D.new_cache({ now = now })
  c:put("api", "v1", "allow", "agent-allow")
  c:put("db", "v1", "deny", "agent-deny")
  eq(c:get("api", "v2"), nil, "api after version change")
  eq(c:get("db", "v2"), nil, "db after version change")
  eq(c.size, 0, "size")
end)

case("cache: an answer computed under an older @version is dropped", function()
  local now = clock()
  local c = D.new_cache({ now = now })
  eq(c:get("api", "v1"), nil)
  eq(c:get("api", "v2"), nil) -- the map changed while the v1 request waited on the agent
  eq(c:put("api", "v1", "allow", "agent-allow"), false, "stale put")
  eq(c:get("api", "v2"), nil)
end)

case("cache: only allow/deny are stored, and the size is bounded", function()
  local now = clock()
  local c = D.new_cache({ now = now, max = 3 })
  eq(c:put("x", "v", "maybe", "r"), false)
  for i = 1, 3 do c:put("s" .. i, "v", "allow", "agent-allow") end
  eq(c.size, 3)
  c:put("s4", "v", "deny", "agent-deny")
  eq(c.size, 1, "flushed when full"); eq(c:get("s4", "v"), "deny")
end)
case("decide: an l7 row names its permission count, bounded by l7.lua's maximum", function()
  local d, kind, key, n = D.decide({ table = { web = "l7 3" } }, "web")
  eq(d, "l7"); eq(kind, "exact"); eq(key, "web"); eq(n, 3)
  d, kind, key, n = D.decide({ table = { ["*"] = "L7 256" } }, "api")
  eq(d, "l7"); eq(kind, "wildcard"); eq(key, "*"); eq(n, 256)
  eq(D.decide({ table = { web = "l7 0", ["*"] = "allow" } }, "web"), nil, "zero permissions is unreadable")
  eq(D.decide({ table = { web = "l7 257" } }, "web"), nil, "above the maximum")
  eq(D.decide({ table = { ["@default"] = "l7 1" } }, "web"), nil, "the default is never l7")
end)

case("loading the module under plain Lua writes no globals", function()
  eq(type(F.load_clean(LUA_FILE).decide), "function")
end)

-- Run ---------------------------------------------------------------------------------------

T.run()
